"""Large ECGs (Holter) uploaded in chunks: start, append in any order, finish, abort.

Chunk `seq` carries samples [seq * W, (seq + 1) * W) of every lead, and is stored as it
arrives as window `seq` of the ECG's signal (the same window documents `uploadEcg` writes),
so the server holds one chunk at a time, never the ECG. Each lead is packed as int16 while
its chunks fit; a lead with a chunk that needs int32 has its other windows widened when the
upload finishes, one window at a time. The ECG document that makes the samples visible is
written last, by `finish_upload`; until then every query ignores them. Uploads expire 24 h
after their last chunk and are then removed with their samples (`discard_expired`, run by
the workers and by `gc`).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ecg_graphql.db import ecg_store, upload_store
from ecg_graphql.db.documents import EcgDocument, EcgUploadDocument, LeadMeta, utcnow
from ecg_graphql.db.storage import ensure_room
from ecg_graphql.ecgs import analysis_jobs as jobs
from ecg_graphql.ecgs.errors import EcgAlreadyExists
from ecg_graphql.ecgs.packing import INT16, INT32, MAX_WINDOW_SAMPLES, narrowest_dtype
from ecg_graphql.ecgs.service import StoredEcg
from ecg_graphql.ecgs.validation import (
    INT32_MIN,
    LEAD_NAME,
    MAX_LEADS,
    _check_gain,
    as_utc,
    canonical_lead_name,
    header_issues,
    parse_samples,
)
from ecg_graphql.errors import FieldIssue, ValidationFailed

MAX_SAMPLES = 100_000_000
EXPIRY = timedelta(hours=24)
# JSON of the longest int32 sample and its comma; a chunk of all leads stays within this
# share of the request body limit, leaving room for the query and the envelope.
JSON_BYTES_PER_SAMPLE = len(str(INT32_MIN)) + 1
BODY_SHARE = 4
MAX_LISTED_MISSING = 20


@dataclass(frozen=True, slots=True)
class LargeLead:
    """One lead of a chunked upload as declared at its start."""

    name: str
    number_of_samples: int
    units_per_mv: float | None = None


@dataclass(frozen=True, slots=True)
class LargeUpload:
    """What `startEcgUpload` receives."""

    id: str | None
    date: datetime
    sampling_rate: float | None
    leads: list[LargeLead]
    units_per_mv: float | None = None


@dataclass(frozen=True, slots=True)
class OpenUpload:
    """An open upload as the caller sees it."""

    upload_id: ObjectId
    chunk_samples: int
    chunk_count: int
    received_chunks: list[int]
    expires_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, object]) -> OpenUpload:
        """From a raw upload document."""
        received = row["received"]
        assert isinstance(received, list)  # noqa: S101  (our own documents)
        upload_id, samples, count, expires = (
            row["_id"],
            row["chunk_samples"],
            row["chunk_count"],
            row["expires_at"],
        )
        assert isinstance(upload_id, ObjectId)  # noqa: S101
        assert isinstance(samples, int)  # noqa: S101
        assert isinstance(count, int)  # noqa: S101
        assert isinstance(expires, datetime)  # noqa: S101
        return cls(upload_id, samples, count, sorted(int(s) for s in received), expires)


def chunk_samples_for(leads: int, max_body_bytes: int) -> int:
    """Samples per lead in a chunk, so a chunk of every lead as JSON stays within a quarter
    of the request limit (and a window document within MAX_WINDOW_SAMPLES per lead)."""
    fit = max_body_bytes // (BODY_SHARE * JSON_BYTES_PER_SAMPLE * max(1, leads))
    fit = min(MAX_WINDOW_SAMPLES, fit)
    return max(1, fit // 1000 * 1000 if fit >= 1000 else fit)


def _validate_start(upload: LargeUpload) -> list[FieldIssue]:
    issues = header_issues(upload.id, upload.sampling_rate, upload.units_per_mv, len(upload.leads))
    seen: set[str] = set()
    total = 0
    for i, lead in enumerate(upload.leads[: MAX_LEADS + 1]):
        path = f"leads.{i}"
        if not LEAD_NAME.fullmatch(lead.name):
            issues.append(
                FieldIssue(f"{path}.name", "Lead name must be 1 to 16 letters, digits, '_' or '-'.")
            )
        elif lead.name.lower() in seen:
            issues.append(FieldIssue(f"{path}.name", "Lead names must be unique in an ECG."))
        seen.add(lead.name.lower())
        _check_gain(lead.units_per_mv, f"{path}.unitsPerMillivolt", issues)
        if not 1 <= lead.number_of_samples <= MAX_SAMPLES:
            issues.append(
                FieldIssue(
                    f"{path}.numberOfSamples",
                    f"Number of samples must be 1 to {MAX_SAMPLES:,}.",
                )
            )
        else:
            total += lead.number_of_samples
    if total > MAX_SAMPLES:
        issues.append(FieldIssue("leads", f"An ECG has at most {MAX_SAMPLES:,} samples."))
    return issues


async def start_upload(
    *, owner_id: ObjectId, upload: LargeUpload, max_body_bytes: int
) -> OpenUpload:
    """Open a chunked upload. Raises ValidationFailed, or EcgAlreadyExists when the owner
    has an ECG with this id already."""
    issues = _validate_start(upload)
    if issues:
        raise ValidationFailed(issues)
    ecg_id = upload.id if upload.id is not None else str(uuid.uuid4())
    if upload.id is not None and await ecg_store.ecg_exists(owner_id, ecg_id):
        raise EcgAlreadyExists(ecg_id)
    window = chunk_samples_for(len(upload.leads), max_body_bytes)
    longest = max(lead.number_of_samples for lead in upload.leads)
    # Room for the samples at int16 before anything is written (StorageFull).
    ensure_room(2 * sum(lead.number_of_samples for lead in upload.leads))
    document = EcgUploadDocument(
        owner_id=owner_id,
        ecg_id=ecg_id,
        date=as_utc(upload.date),
        sampling_rate=upload.sampling_rate,
        units_per_mv=upload.units_per_mv,
        signal_id=ObjectId(),
        leads=[
            {
                "name": canonical_lead_name(lead.name),
                "number_of_samples": lead.number_of_samples,
                "units_per_mv": lead.units_per_mv,
            }
            for lead in upload.leads
        ],
        chunk_samples=window,
        chunk_count=math.ceil(longest / window),
        expires_at=utcnow() + EXPIRY,
    )
    return OpenUpload.from_row(await upload_store.insert_upload(document))


async def get_upload(*, owner_id: ObjectId, upload_id: str) -> OpenUpload | None:
    """The owner's open upload with this id; None for anyone else's, finished or expired."""
    oid = _object_id(upload_id)
    row = None if oid is None else await upload_store.find_open(oid, owner_id)
    return None if row is None else OpenUpload.from_row(row)


def _object_id(value: str) -> ObjectId | None:
    return ObjectId(value) if ObjectId.is_valid(value) and len(value) == 24 else None


def _not_open() -> ValidationFailed:
    return ValidationFailed(
        [FieldIssue("uploadId", "No open upload with this id (finished, aborted or expired).")]
    )


def _expected(row: dict[str, object], seq: int) -> list[int]:
    """How many samples each lead sends in chunk `seq`."""
    window = row["chunk_samples"]
    leads = row["leads"]
    assert isinstance(window, int)  # noqa: S101
    assert isinstance(leads, list)  # noqa: S101
    return [max(0, min(window, int(lead["number_of_samples"]) - seq * window)) for lead in leads]


def _pack_chunk(
    raw_leads: list[object], expected: list[int]
) -> tuple[dict[str, bytes], list[int], list[FieldIssue]]:
    """The chunk's bytes by lead index, the leads that needed int32, and what is wrong (CPU
    work on up to a body of samples: call it off the event loop)."""
    issues: list[FieldIssue] = []
    data: dict[str, bytes] = {}
    wide: list[int] = []
    for i, (raw, count) in enumerate(zip(raw_leads, expected, strict=True)):
        path = f"leads.{i}"
        if count == 0 and raw == []:
            continue  # a lead that has ended
        samples, problem = parse_samples(raw)
        if problem is not None or samples is None:
            issues.append(FieldIssue(path, problem or "Samples must be a list of integers."))
        elif len(samples) != count:
            why = (
                "This lead has ended: send [] for it."
                if count == 0
                else f"This chunk must carry {count} samples of this lead."
            )
            issues.append(FieldIssue(path, why))
        else:
            dtype = narrowest_dtype(samples)
            data[str(i)] = samples.astype(dtype).tobytes()
            if dtype == INT32:
                wide.append(i)
    return data, wide, issues


def _digest(data: dict[str, bytes], expected: list[int]) -> str:
    """The same for the same samples, whatever the packing (int16 or widened to int32)."""
    digest = hashlib.sha256()
    for key in sorted(data, key=int):
        digest.update(key.encode() + b":")
        digest.update(_samples_of(data[key], expected[int(key)]).tobytes())
    return digest.hexdigest()


def _samples_of(piece: bytes, count: int) -> np.ndarray[tuple[int], np.dtype[np.int32]]:
    dtype = INT16 if len(piece) == 2 * count else INT32
    return np.frombuffer(piece, dtype=dtype).astype(INT32)


async def append_chunk(
    *, owner_id: ObjectId, upload_id: str, seq: int, leads: list[object]
) -> OpenUpload:
    """Store chunk `seq` of the owner's open upload. A resend of the same samples is a
    no-op; different samples, a bad seq, the wrong number of leads or of samples, or an
    upload that is not open raise ValidationFailed, and nothing changes."""
    oid = _object_id(upload_id)
    row = None if oid is None else await upload_store.find_open(oid, owner_id)
    if oid is None or row is None:
        raise _not_open()
    count = row["chunk_count"]
    if not 0 <= seq < count:
        raise ValidationFailed([FieldIssue("seq", f"seq must be 0 to {count - 1}.")])
    if len(leads) != len(row["leads"]):
        raise ValidationFailed(
            [FieldIssue("leads", f"A chunk carries {len(row['leads'])} leads, in start order.")]
        )
    expected = _expected(row, seq)
    data, wide, issues = await asyncio.to_thread(_pack_chunk, leads, expected)
    if issues:
        raise ValidationFailed(issues)
    digest = _digest(data, expected)
    known = row["digests"].get(str(seq))
    if known is not None:
        if known != digest:
            raise _differs(seq)
        return OpenUpload.from_row(row)
    inserted = await upload_store.insert_window(row["signal_id"], seq, data)
    if not inserted:
        # A concurrent or interrupted send of this seq stored its window first.
        stored = await upload_store.window(row["signal_id"], seq)
        if stored is None or _digest(stored, expected) != digest:
            raise _differs(seq)
    updated = await upload_store.record_chunk(oid, owner_id, seq, digest, wide, utcnow() + EXPIRY)
    if updated is None:
        if inserted:
            await upload_store.delete_window(row["signal_id"], seq)
        raise _not_open()
    return OpenUpload.from_row(updated)


def _differs(seq: int) -> ValidationFailed:
    return ValidationFailed(
        [FieldIssue("leads", f"Chunk {seq} was already received with different samples.")]
    )


async def finish_upload(*, owner_id: ObjectId, upload_id: str) -> StoredEcg:
    """Make the upload's ECG visible, at once, with analysisStatus PENDING (the workers
    measure it). Raises ValidationFailed naming missing chunks in field `chunks` (the
    upload stays open), or for an upload that is not open; EcgAlreadyExists when the id
    was taken meanwhile (the upload is then removed with its samples)."""
    oid = _object_id(upload_id)
    row = None if oid is None else await upload_store.claim_finish(oid, owner_id)
    if oid is None or row is None:
        raise _not_open()
    missing = sorted(set(range(row["chunk_count"])) - set(row["received"]))
    if missing:
        await upload_store.reopen(oid)
        listed = ", ".join(map(str, missing[:MAX_LISTED_MISSING]))
        more = f" and {len(missing) - MAX_LISTED_MISSING} more" if len(missing) > 20 else ""
        raise ValidationFailed([FieldIssue("chunks", f"Missing chunks: {listed}{more}.")])
    window = int(row["chunk_samples"])
    for lead_index in sorted(set(row["wide"])):
        await _widen(row, lead_index)
    wide = set(row["wide"])
    document = EcgDocument(
        owner_id=owner_id,
        ecg_id=row["ecg_id"],
        date=row["date"],
        sampling_rate=row["sampling_rate"],
        signal_id=row["signal_id"],
        leads=[
            LeadMeta(
                lead["name"],
                int(lead["number_of_samples"]),
                INT32 if i in wide else INT16,
                window,
                lead["units_per_mv"] if lead["units_per_mv"] is not None else row["units_per_mv"],
            )
            for i, lead in enumerate(row["leads"])
        ],
        insights={},
        analyses={},
    )
    try:
        stored = await ecg_store.insert_ecg(document)
    except DuplicateKeyError:
        await upload_store.delete_upload(oid)
        await upload_store.delete_windows(row["signal_id"])
        raise EcgAlreadyExists(document.ecg_id) from None
    await jobs.enqueue(stored["_id"])
    await upload_store.delete_upload(oid)
    return StoredEcg.from_row(stored)


async def _widen(row: dict[str, object], lead_index: int) -> None:
    """Rewrite the int16 windows of a lead as int32 (one window in memory at a time)."""
    key = str(lead_index)
    signal_id = row["signal_id"]
    assert isinstance(signal_id, ObjectId)  # noqa: S101
    for seq in range(int(row["chunk_count"])):  # type: ignore[call-overload]
        count = _expected(row, seq)[lead_index]
        if count == 0:
            break
        data = await upload_store.window(signal_id, seq)
        if data is None or len(data[key]) == 4 * count:
            continue
        data[key] = _samples_of(data[key], count).tobytes()
        await upload_store.replace_window(signal_id, seq, data)


async def abort_upload(*, owner_id: ObjectId, upload_id: str) -> bool:
    """Remove the owner's open upload and its samples; False when there is none."""
    oid = _object_id(upload_id)
    row = None if oid is None else await upload_store.take_open(oid, owner_id)
    if row is None:
        return False
    await upload_store.delete_windows(row["signal_id"])
    return True


async def discard_expired() -> int:
    """Remove uploads past their expiry with their samples; returns how many."""
    return await upload_store.discard_expired()

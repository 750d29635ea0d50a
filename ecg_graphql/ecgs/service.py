"""ECG service: upload, read, list, slice and delete, always scoped to the owner."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from bson import ObjectId
from pymongo import DESCENDING, WriteConcern
from pymongo.errors import DuplicateKeyError

from ecg_graphql.db.documents import (
    AnalysisResult,
    EcgDocument,
    LeadMeta,
    SignalChunkDocument,
    utcnow,
)
from ecg_graphql.db.storage import ensure_room
from ecg_graphql.ecgs.errors import EcgAlreadyExists
from ecg_graphql.ecgs.packing import (
    narrowest_dtype,
    pack_windows,
    unpack_slice,
    window_range,
    window_samples,
)
from ecg_graphql.ecgs.validation import EcgUpload, id_issue, validate_ecg
from ecg_graphql.errors import InvalidArgument
from ecg_graphql.insights.registry import ANALYSES, Analysis, run_all

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
MAX_SLICE = 1_000_000
# Window documents (<= 4 MiB each) per insert command: bounds one command's size.
INSERT_BATCH = 4
# Above this many samples an upload checks for a duplicate id before writing its chunks.
PRECHECK_SAMPLES = 1_000_000
NEWEST_FIRST = [("date", DESCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]


@dataclass(frozen=True, slots=True)
class PreparedEcg:
    """A validated ECG with its insights computed and its samples packed, ready to store."""

    ecg_id: str
    date: datetime
    sampling_rate: float | None
    leads: list[LeadMeta]
    windows: list[tuple[int, dict[str, bytes]]]  # (seq, {lead index: bytes})
    insights: dict[str, AnalysisResult]


@dataclass(frozen=True, slots=True)
class StoredLead:
    """Where a stored lead's samples live: packed as `dtype` in windows of `chunk_samples`."""

    name: str
    number_of_samples: int
    dtype: str
    chunk_samples: int


@dataclass(frozen=True, slots=True)
class StoredEcg:
    """A stored ECG as read back: metadata, insights (analysis -> value per lead), no samples."""

    id: ObjectId
    ecg_id: str
    date: datetime
    created_at: datetime
    sampling_rate: float | None
    signal_id: ObjectId
    leads: tuple[StoredLead, ...]
    insights: dict[str, list[int | float]]


@dataclass(frozen=True, slots=True)
class EcgPage:
    """One page of a listing, newest first."""

    items: list[StoredEcg]
    has_next_page: bool


def prepare_ecg(upload: EcgUpload) -> PreparedEcg:
    """Validate, analyse and pack (CPU only: call it off the event loop)."""
    valid = validate_ecg(upload)
    arrays = [lead.samples for lead in valid.leads]
    insights = {
        name: AnalysisResult(version=version, values=values)
        for name, (version, values) in run_all(arrays).items()
    }
    dtypes = [narrowest_dtype(samples) for samples in arrays]
    window = window_samples(dtypes)
    metas = [
        LeadMeta(
            name=lead.name,
            number_of_samples=len(lead.samples),
            dtype=dtype,
            chunk_samples=window,
        )
        for lead, dtype in zip(valid.leads, dtypes, strict=True)
    ]
    return PreparedEcg(
        ecg_id=valid.id if valid.id is not None else str(uuid.uuid4()),
        date=valid.date,
        sampling_rate=valid.sampling_rate,
        leads=metas,
        windows=list(pack_windows(arrays, dtypes, window)),
        insights=insights,
    )


async def upload_ecg(*, owner_id: ObjectId, upload: EcgUpload) -> StoredEcg:
    """Store a new ECG for `owner_id`; it becomes visible only once every chunk is written.

    Raises ValidationFailed (nothing stored) or EcgAlreadyExists (nothing overwritten).
    A failure part-way removes what was written; the ECG document goes last, so a
    half-written ECG is never visible.
    """
    prepared = await asyncio.to_thread(prepare_ecg, upload)
    # The unique index decides; this early look only spares writing a large duplicate.
    if (
        upload.id is not None
        and sum(m.number_of_samples for m in prepared.leads) > PRECHECK_SAMPLES
        and await EcgDocument.find_one({"owner_id": owner_id, "ecg_id": prepared.ecg_id})
    ):
        raise EcgAlreadyExists(prepared.ecg_id)

    # Before any write: on a nearly full disk nothing is stored (StorageFull).
    ensure_room(sum(len(data) for _, window in prepared.windows for data in window.values()))
    signal_id = ObjectId()
    document = EcgDocument(
        owner_id=owner_id,
        ecg_id=prepared.ecg_id,
        date=prepared.date,
        sampling_rate=prepared.sampling_rate,
        signal_id=signal_id,
        leads=prepared.leads,
        insights=prepared.insights,
    )
    try:
        await _insert_windows(signal_id, prepared.windows)
    except BaseException:
        # Includes cancellation: never leave chunks of an ECG that does not exist.
        await _discard_chunks(signal_id)
        raise
    record = document.model_dump(by_alias=True, exclude={"id", "revision_id"})
    try:
        result = await EcgDocument.get_pymongo_collection().insert_one(record)
    except DuplicateKeyError:
        await _discard_chunks(signal_id)
        raise EcgAlreadyExists(prepared.ecg_id) from None
    except BaseException:
        # The reply may be lost after the server committed (a timeout, a dropped
        # connection): only discard the samples once it is certain the ECG is not stored.
        if await _stored(record) is False:
            await _discard_chunks(signal_id)
        raise
    return _from_stored({**record, "_id": result.inserted_id})


async def _insert_windows(signal_id: ObjectId, windows: list[tuple[int, dict[str, bytes]]]) -> None:
    # Not journaled one by one: the ECG document's j:true insert that follows flushes the
    # journal past these writes, and until it succeeds the chunks are invisible anyway.
    base = SignalChunkDocument.get_pymongo_collection()
    without_journal = {**base.write_concern.document, "j": False}
    collection = base.with_options(write_concern=WriteConcern(**without_journal))
    for start in range(0, len(windows), INSERT_BATCH):
        batch = windows[start : start + INSERT_BATCH]
        await collection.insert_many(
            [{"signal_id": signal_id, "seq": seq, "data": data} for seq, data in batch],
            ordered=True,
        )


async def _stored(record: dict[str, Any]) -> bool | None:
    """Whether this very ECG document was stored; None when the database cannot tell."""
    key = {k: record[k] for k in ("owner_id", "ecg_id", "signal_id")}  # on the unique index
    try:
        found = await asyncio.shield(
            EcgDocument.get_pymongo_collection().find_one(key, projection={"_id": 1})
        )
    except Exception:  # unknown: keep the samples; gc removes them if they are orphans
        return None
    return found is not None


async def _discard_chunks(signal_id: ObjectId) -> None:
    try:
        await asyncio.shield(
            SignalChunkDocument.get_pymongo_collection().delete_many({"signal_id": signal_id})
        )
    except Exception:  # best effort: orphans are invisible and removed by `gc`
        logger.warning("could not remove chunks of failed upload signal_id=%s", signal_id)


def _from_stored(raw: dict[str, Any]) -> StoredEcg:
    # Read paths skip pydantic: our own documents, written through the model, rebuilt
    # as plain dataclasses (model parsing cost ~0.2 ms a document on listing pages).
    return StoredEcg(
        id=raw["_id"],
        ecg_id=raw["ecg_id"],
        date=raw["date"],
        created_at=raw["created_at"],
        sampling_rate=raw.get("sampling_rate"),
        signal_id=raw["signal_id"],
        leads=tuple(
            StoredLead(
                name=lead["name"],
                number_of_samples=lead["number_of_samples"],
                dtype=lead["dtype"],
                chunk_samples=lead["chunk_samples"],
            )
            for lead in raw["leads"]
        ),
        insights={name: result["values"] for name, result in raw["insights"].items()},
    )


async def get_ecg(*, owner_id: ObjectId, ecg_id: str) -> StoredEcg | None:
    """The owner's ECG with this id, or None (another owner's ECG is indistinguishable)."""
    if id_issue(ecg_id) is not None:
        return None  # no ECG can have it (and BSON could not even encode some of them)
    raw = await EcgDocument.get_pymongo_collection().find_one(
        {"owner_id": owner_id, "ecg_id": ecg_id}
    )
    return None if raw is None else _from_stored(raw)


def encode_cursor(doc: StoredEcg) -> str:
    """An opaque cursor for the position just after `doc` in the newest-first order."""
    raw = json.dumps(
        [_millis(doc.date), _millis(doc.created_at), str(doc.id)], separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _millis(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _from_millis(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _decode_cursor(cursor: str) -> tuple[datetime, datetime, ObjectId]:
    try:
        if len(cursor) > 256:
            raise ValueError
        date_ms, created_ms, oid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not (isinstance(date_ms, int) and isinstance(created_ms, int)):
            raise ValueError
        if not (isinstance(oid, str) and ObjectId.is_valid(oid)):
            raise ValueError
        return _from_millis(date_ms), _from_millis(created_ms), ObjectId(oid)
    except (ValueError, TypeError, binascii.Error, OverflowError, OSError):
        raise InvalidArgument("Invalid cursor.") from None


def check_page_size(first: int) -> None:
    """Page sizes are 1 to 100."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"first must be between 1 and {MAX_PAGE_SIZE}.")


async def list_ecgs(*, owner_id: ObjectId, first: int, after: str | None) -> EcgPage:
    """The owner's ECGs, newest `date` first, ties newest upload first."""
    check_page_size(first)
    query: dict[str, Any] = {"owner_id": owner_id}
    if after is not None:
        date, created, oid = _decode_cursor(after)
        query["$or"] = [
            {"date": {"$lt": date}},
            {"date": date, "created_at": {"$lt": created}},
            {"date": date, "created_at": created, "_id": {"$lt": oid}},
        ]
    rows = (
        await EcgDocument.get_pymongo_collection()
        .find(query)
        .sort(NEWEST_FIRST)
        .limit(first + 1)
        .to_list()
    )
    return EcgPage(
        items=[_from_stored(row) for row in rows[:first]], has_next_page=len(rows) > first
    )


async def count_ecgs(*, owner_id: ObjectId) -> int:
    """How many ECGs the owner has."""
    return await EcgDocument.find({"owner_id": owner_id}).count()


async def delete_ecg(*, owner_id: ObjectId, ecg_id: str) -> bool:
    """Delete the owner's ECG and its samples; False when there is no such ECG of theirs."""
    if id_issue(ecg_id) is not None:
        return False
    collection = EcgDocument.get_pymongo_collection()
    deleted = await collection.find_one_and_delete(
        {"owner_id": owner_id, "ecg_id": ecg_id}, projection={"signal_id": 1}
    )
    if deleted is None:
        return False
    # The ECG is already invisible; its chunks go next (an interruption leaves orphans for gc).
    await SignalChunkDocument.get_pymongo_collection().delete_many(
        {"signal_id": deleted["signal_id"]}
    )
    return True


@dataclass(frozen=True, slots=True)
class SliceRequest:
    """Samples [offset, offset+limit) of one lead of a stored ECG (limit None: the rest)."""

    document: StoredEcg
    lead_index: int
    offset: int
    limit: int | None


def check_slice(offset: int, limit: int | None) -> None:
    """offset >= 0; limit 0 to 1,000,000 when given (InvalidArgument otherwise)."""
    if offset < 0:
        raise InvalidArgument("offset must be >= 0.")
    if limit is not None and not 0 <= limit <= MAX_SLICE:
        raise InvalidArgument(f"limit must be between 0 and {MAX_SLICE}.")


async def read_slices(requests: Sequence[SliceRequest]) -> list[npt.NDArray[np.int64]]:
    """Several slices, one database query per ECG however many leads: a request for all 12
    leads of an ECG is one round trip, not twelve. Limits are the caller's (`check_slice`
    for API arguments); the backfill reads whole leads."""
    spans: list[tuple[int, int, int] | None] = []  # (first window, last window, end)
    wanted: dict[ObjectId, tuple[StoredEcg, set[int], int, int]] = {}
    for request in requests:
        meta = request.document.leads[request.lead_index]
        limit = MAX_SLICE if request.limit is None else request.limit
        end = min(meta.number_of_samples, request.offset + limit)
        if request.offset >= end:
            spans.append(None)
            continue
        first, last = window_range(request.offset, end, meta.chunk_samples)
        spans.append((first, last, end))
        doc = request.document
        _, leads, low, high = wanted.get(doc.signal_id, (doc, set(), first, last))
        leads.add(request.lead_index)
        wanted[doc.signal_id] = (doc, leads, min(low, first), max(high, last))
    windows = {
        signal_id: await _windows(signal_id, leads, low, high)
        for signal_id, (_, leads, low, high) in wanted.items()
    }
    results: list[npt.NDArray[np.int64]] = []
    for request, span in zip(requests, spans, strict=True):
        if span is None:
            results.append(np.empty(0, dtype=np.int64))
            continue
        first, last, end = span
        meta = request.document.leads[request.lead_index]
        by_seq = windows[request.document.signal_id]
        key = str(request.lead_index)
        try:
            pieces = [by_seq[seq][key] for seq in range(first, last + 1)]
        except KeyError:
            raise RuntimeError("signal windows missing") from None  # masked: inconsistent
        results.append(
            unpack_slice(pieces, meta.dtype, first, request.offset, end, meta.chunk_samples)
        )
    return results


async def _windows(
    signal_id: ObjectId, leads: set[int], first: int, last: int
) -> dict[int, dict[str, bytes]]:
    """Windows first..last of an ECG, with only the bytes of `leads` (a projection)."""
    projection: dict[str, int] = {"_id": 0, "seq": 1}
    projection.update({f"data.{lead}": 1 for lead in leads})
    rows = await (
        SignalChunkDocument.get_pymongo_collection()
        .find({"signal_id": signal_id, "seq": {"$gte": first, "$lte": last}}, projection)
        .to_list()
    )
    return {row["seq"]: row.get("data", {}) for row in rows}


async def backfill_insights(*, analyses: Sequence[Analysis] = ANALYSES) -> int:
    """Compute every analysis an ECG lacks (or has at an older version); returns ECGs updated.

    Reads one ECG's samples at a time, so memory stays bounded by the largest ECG.
    """
    stale: list[dict[str, Any]] = [
        {f"insights.{a.name}.version": {"$ne": a.version}} for a in analyses
    ]
    updated = 0
    async for row in EcgDocument.get_pymongo_collection().find({"$or": stale}):
        document = _from_stored({**row, "insights": {}})
        leads = await read_slices(
            [
                SliceRequest(document, i, 0, meta.number_of_samples)
                for i, meta in enumerate(document.leads)
            ]
        )
        results = await asyncio.to_thread(run_all, leads, analyses)
        await EcgDocument.get_pymongo_collection().update_one(
            {"_id": document.id},
            {
                "$set": {
                    f"insights.{name}": {"version": version, "values": values}
                    for name, (version, values) in results.items()
                }
            },
        )
        updated += 1
    return updated


async def discard_orphan_chunks(*, older_than_seconds: float = 3600.0) -> int:
    """Remove chunks whose upload never completed (no ECG refers to them); returns how many."""
    cutoff = ObjectId.from_datetime(
        datetime.fromtimestamp(utcnow().timestamp() - older_than_seconds, tz=UTC)
    )
    chunks = SignalChunkDocument.get_pymongo_collection()
    candidates = {
        row["_id"]
        async for row in await chunks.aggregate(
            [{"$match": {"signal_id": {"$lt": cutoff}}}, {"$group": {"_id": "$signal_id"}}]
        )
    }
    if not candidates:
        return 0
    referenced = {
        row["signal_id"]
        async for row in EcgDocument.get_pymongo_collection().find(
            {"signal_id": {"$in": list(candidates)}}, projection={"signal_id": 1}
        )
    }
    orphans = list(candidates - referenced)
    if not orphans:
        return 0
    result = await chunks.delete_many({"signal_id": {"$in": orphans}})
    return result.deleted_count

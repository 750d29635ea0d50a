"""ECG service: upload, read, list, slice and delete, always scoped to the owner."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ecg_graphql.db import ecg_store
from ecg_graphql.db.documents import EcgDocument, LeadMeta
from ecg_graphql.db.storage import ensure_room
from ecg_graphql.ecgs import page_cache
from ecg_graphql.ecgs.errors import EcgAlreadyExists
from ecg_graphql.ecgs.packing import (
    narrowest_dtype,
    pack_windows,
    unpack_slice,
    window_range,
    window_samples,
)
from ecg_graphql.ecgs.validation import EcgUpload, ValidEcg, id_issue, validate_ecg
from ecg_graphql.errors import InvalidArgument
from ecg_graphql.insights import runner
from ecg_graphql.insights.signals import (
    EcgSignal,
    EcgSource,
    LeadInfo,
    LeadSignal,
    ReadFailed,
)
from ecg_graphql.insights.stored import stored_count
from ecg_graphql.paging import Page, check_page_size, decode_cursor, encode_cursor

MAX_SLICE = 1_000_000
# Above this many samples an upload checks for a duplicate id before writing its chunks.
PRECHECK_SAMPLES = 1_000_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StoredEcg:
    """A stored ECG as read back: metadata and analysis records, no samples."""

    id: ObjectId
    owner_id: ObjectId
    ecg_id: str
    date: datetime
    created_at: datetime
    sampling_rate: float | None
    signal_id: ObjectId
    leads: tuple[LeadMeta, ...]
    insights: dict[str, runner.Record]  # per-lead analyses: name -> {version, values}
    analyses: dict[str, runner.Record]  # per-ECG analyses: name -> {version, value}

    @classmethod
    def from_row(cls, raw: dict[str, Any]) -> StoredEcg:
        """From a raw ECG document (our own, written through the model: no parsing needed)."""
        return cls(
            id=raw["_id"],
            owner_id=raw["owner_id"],
            ecg_id=raw["ecg_id"],
            date=raw["date"],
            created_at=raw["created_at"],
            sampling_rate=raw.get("sampling_rate"),
            signal_id=raw["signal_id"],
            leads=tuple(LeadMeta(**lead) for lead in raw["leads"]),
            insights=raw.get("insights") or {},
            analyses=raw.get("analyses") or {},
        )

    @property
    def beat_count(self) -> int:
        """How many beats are stored (0 before the beat analysis ran)."""
        return stored_count(self.analyses.get("beats", {}).get("value"))

    @property
    def analysis_status(self) -> runner.AnalysisStatus:
        """Whether every registered analysis has a current result."""
        return runner.status(self.insights, self.analyses)


def prepare_ecg(
    upload: EcgUpload, *, owner_id: ObjectId
) -> tuple[ValidEcg, EcgDocument, list[Any]]:
    """Validate and pack (CPU only: call it off the event loop): the valid ECG, its document
    (analyses still to run) and its signal windows, ready to store."""
    valid = validate_ecg(upload)
    arrays = [lead.samples for lead in valid.signal.leads]
    dtypes = [narrowest_dtype(samples) for samples in arrays]
    window = window_samples(dtypes)
    document = EcgDocument(
        owner_id=owner_id,
        ecg_id=valid.id if valid.id is not None else str(uuid.uuid4()),
        date=valid.date,
        sampling_rate=valid.signal.sampling_rate,
        signal_id=ObjectId(),
        leads=[
            LeadMeta(lead.name, len(lead.samples), dtype, window, lead.units_per_mv)
            for lead, dtype in zip(valid.signal.leads, dtypes, strict=True)
        ],
        insights={},
    )
    return valid, document, list(pack_windows(arrays, dtypes, window))


async def upload_ecg(*, owner_id: ObjectId, upload: EcgUpload) -> StoredEcg:
    """Store a new ECG for `owner_id`, analysed; it becomes visible only once every chunk is
    written.

    Raises ValidationFailed (nothing stored) or EcgAlreadyExists (nothing overwritten).
    A failure part-way removes what was written; the ECG document goes last, so a
    half-written ECG is never visible. The analyses run in a worker thread while the samples
    are written (the database is another process): their results go into the ECG document.
    """
    valid, document, windows = await asyncio.to_thread(prepare_ecg, upload, owner_id=owner_id)
    analysis = asyncio.ensure_future(
        asyncio.to_thread(runner.run, valid.signal, ecg_id=document.ecg_id)
    )
    try:
        # The unique index decides; this early look only spares writing a large duplicate.
        if (
            upload.id is not None
            and sum(m.number_of_samples for m in document.leads) > PRECHECK_SAMPLES
            and await ecg_store.ecg_exists(owner_id, document.ecg_id)
        ):
            raise EcgAlreadyExists(document.ecg_id)
        # Before any write: on a nearly full disk nothing is stored (StorageFull).
        ensure_room(sum(len(data) for _, window in windows for data in window.values()))
        try:
            await ecg_store.insert_windows(document.signal_id, windows)
            results = await analysis
        except BaseException:
            # Includes cancellation: never leave chunks of an ECG that does not exist.
            await ecg_store.discard_windows(document.signal_id)
            raise
    finally:
        analysis.cancel()  # a no-op once done; otherwise its result is not wanted
    document.insights = results.lead
    document.analyses = results.ecg
    try:
        row = await ecg_store.insert_ecg(document)
    except DuplicateKeyError:
        await ecg_store.discard_windows(document.signal_id)
        raise EcgAlreadyExists(document.ecg_id) from None
    except BaseException:
        # The reply may be lost after the server committed (a timeout, a dropped
        # connection): only discard the samples once it is certain the ECG is not stored.
        if await ecg_store.ecg_stored(document) is False:
            await ecg_store.discard_windows(document.signal_id)
        raise
    return StoredEcg.from_row(row)


async def get_ecg(*, owner_id: ObjectId, ecg_id: str) -> StoredEcg | None:
    """The owner's ECG with this id, or None (another owner's ECG is indistinguishable)."""
    if id_issue(ecg_id) is not None:
        return None  # no ECG can have it (and BSON could not even encode some of them)
    raw = await ecg_store.find_ecg(owner_id, ecg_id)
    return None if raw is None else StoredEcg.from_row(raw)


def encode_ecg_cursor(doc: StoredEcg) -> str:
    """An opaque cursor for the position just after `doc` in the newest-first order."""
    return encode_cursor(_millis(doc.date), _millis(doc.created_at), doc.id)


def _millis(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def _position(cursor: str) -> tuple[datetime, datetime, ObjectId]:
    date_ms, created_ms, oid = decode_cursor(cursor, int, int, ObjectId)
    # decode_cursor checked the kinds; these narrow the types for mypy.
    assert isinstance(date_ms, int)  # noqa: S101
    assert isinstance(created_ms, int)  # noqa: S101
    assert isinstance(oid, ObjectId)  # noqa: S101
    try:
        return (
            datetime.fromtimestamp(date_ms / 1000, tz=UTC),
            datetime.fromtimestamp(created_ms / 1000, tz=UTC),
            oid,
        )
    except (ValueError, OverflowError, OSError):
        raise InvalidArgument("Invalid cursor.") from None


async def list_ecgs(
    *, owner_id: ObjectId, first: int, after: str | None, view: Callable[[StoredEcg], T]
) -> tuple[Page[T], int]:
    """The owner's ECGs, newest `date` first, ties newest upload first, each as `view` of
    it (a module-level function: pages are kept per view while the owner's ECGs are
    unchanged, ecgs/page_cache.py); and how many ECGs the owner has, read with the page."""
    check_page_size(first)
    position = None if after is None else _position(after)
    counts = await ecg_store.owner_counts(owner_id)
    owner = (ecg_store.collection_name(), owner_id)
    page = page_cache.get(owner, counts.revision, (position, first), view)
    if page is None:
        rows = await ecg_store.page_ecgs(owner_id, after=position, limit=first + 1, counts=counts)
        documents = [StoredEcg.from_row(row) for row in rows]
        page = Page.of([view(document) for document in documents], first)
        beats = sum(d.beat_count for d in documents)
        page_cache.put(owner, counts.revision, (position, first), view, page, beats=beats)
    return page, counts.count


async def delete_ecg(*, owner_id: ObjectId, ecg_id: str) -> bool:
    """Delete the owner's ECG and its samples; False when there is no such ECG of theirs."""
    if id_issue(ecg_id) is not None:
        return False
    return await ecg_store.delete_ecg(owner_id, ecg_id)


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
        signal_id: await ecg_store.read_windows(signal_id, leads, low, high)
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


async def read_signal(document: StoredEcg, *, limit: int | None = None) -> EcgSignal:
    """The samples of an ECG (the first `limit` of each lead; None: all), as the analyses
    receive them (one query)."""
    arrays = await read_slices(
        [
            SliceRequest(document, i, 0, m.number_of_samples if limit is None else limit)
            for i, m in enumerate(document.leads)
        ]
    )
    return EcgSignal(
        tuple(
            LeadSignal(meta.name, samples, document.sampling_rate, meta.units_per_mv)
            for meta, samples in zip(document.leads, arrays, strict=True)
        ),
        document.sampling_rate,
    )


def stored_source(
    document: StoredEcg,
    loop: asyncio.AbstractEventLoop,
    *,
    abandoned: threading.Event | None = None,
) -> EcgSource:
    """The ECG as a source the analyses read a stretch at a time, from a worker thread:
    each read is one query (`read_slices`) run on `loop`, and holds only what it asked for.
    A failed read raises ReadFailed; once `abandoned` is set, reads raise AnalysisAbandoned
    (the job was given up)."""

    def read(leads: Sequence[int], start: int, stop: int) -> list[npt.NDArray[np.int64]]:
        if abandoned is not None and abandoned.is_set():
            raise AnalysisAbandoned(document.ecg_id)
        requests = [SliceRequest(document, i, start, max(0, stop - start)) for i in leads]
        try:
            return asyncio.run_coroutine_threadsafe(read_slices(requests), loop).result()
        except Exception as error:
            raise ReadFailed(type(error).__name__) from error

    return EcgSource(
        tuple(
            LeadInfo(meta.name, meta.number_of_samples, document.sampling_rate, meta.units_per_mv)
            for meta in document.leads
        ),
        document.sampling_rate,
        read,
    )


class AnalysisAbandoned(ReadFailed):
    """An analysis reading a stored ECG was given up (its job lost its lease, or stopped)."""


async def discard_orphan_chunks(*, older_than_seconds: float = 3600.0) -> int:
    """Remove chunks whose upload never completed (no ECG refers to them); returns how many."""
    return await ecg_store.discard_orphan_windows(older_than_seconds=older_than_seconds)

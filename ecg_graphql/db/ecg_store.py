"""ECG documents and their signal windows in MongoDB: the only module that queries them.

Read paths use the raw driver and return plain dicts: our own documents, written through
the model, need no pydantic parsing (~0.2 ms a document on a listing page).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import WriteConcern
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from ecg_graphql.db import ecg_listing, upload_store
from ecg_graphql.db.documents import EcgDocument, SignalChunkDocument, utcnow

logger = logging.getLogger(__name__)

# Window documents (<= 4 MiB each) per insert command: bounds one command's size.
ILLEGAL_OPERATION = 20  # "Transaction numbers are only allowed on a replica set member"
WRITE_CONFLICT = 112
TRANSACTION_ATTEMPTS = 30
_transactions = True
# Whether a commit needs a journaled write after it to be on disk (see `durable_commits`).
_flush_after_commit = True


T = TypeVar("T")

INSERT_BATCH = 4
Row = dict[str, Any]


async def insert_windows(signal_id: ObjectId, windows: list[tuple[int, dict[str, bytes]]]) -> None:
    """Store an ECG's signal windows (seq, {lead index: bytes}).

    Not journaled one by one: the ECG document's j:true insert that follows flushes the
    journal past these writes, and until it succeeds the windows are invisible anyway.
    """
    base = SignalChunkDocument.get_pymongo_collection()
    without_journal = {**base.write_concern.document, "j": False}
    collection = base.with_options(write_concern=WriteConcern(**without_journal))
    for start in range(0, len(windows), INSERT_BATCH):
        batch = windows[start : start + INSERT_BATCH]
        await collection.insert_many(
            [{"signal_id": signal_id, "seq": seq, "data": data} for seq, data in batch],
            ordered=True,
        )


async def discard_windows(signal_id: ObjectId) -> None:
    """Remove an ECG's windows, best effort (orphans are invisible and `gc` removes them)."""
    try:
        await asyncio.shield(
            SignalChunkDocument.get_pymongo_collection().delete_many({"signal_id": signal_id})
        )
    except Exception:
        logger.warning("could not remove chunks of failed upload signal_id=%s", signal_id)


async def _atomically(write: Callable[[AsyncClientSession | None], Awaitable[T]]) -> T:
    """`write` in a journaled transaction, so an ECG document and its owner's count change
    together or not at all (a killed database can tear neither apart). A write conflict (two
    uploads counting at once) is retried a few times; any other failure is the caller's at
    once, so an outage still fails fast. Plain writes (session None) on a server without
    transactions, a standalone mongod."""
    global _transactions  # learned once per process
    if _transactions:
        client = EcgDocument.get_pymongo_collection().database.client
        async with client.start_session() as session:
            for attempt in range(TRANSACTION_ATTEMPTS):
                try:
                    async with await session.start_transaction(write_concern=WriteConcern(j=True)):
                        result = await write(session)
                except OperationFailure as error:
                    if error.code == ILLEGAL_OPERATION:
                        _transactions = False
                        break
                    if error.code == WRITE_CONFLICT and attempt + 1 < TRANSACTION_ATTEMPTS:
                        # Jittered backoff: conflicting uploads of one owner retry apart.
                        await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))  # noqa: S311  (jitter, not a secret)
                        continue
                    raise
                # A SecantusDB we did not start acknowledges a commit before its journal
                # holds it (measured: SIGKILL lost committed uploads). A plain j:true write
                # flushes the journal past the commit, so success still means on disk.
                if _flush_after_commit:
                    await ecg_listing.flush_journal()
                return result
    return await write(None)


def durable_commits(durable: bool) -> None:
    """Whether the database makes a transaction's commit durable before acknowledging it
    (MongoDB does for j:true; so does the embedded SecantusDB, started for that: see
    db/embedded.py). When not, every commit is followed by a journaled write."""
    global _flush_after_commit
    _flush_after_commit = not durable


async def insert_ecg(document: EcgDocument) -> Row:
    """Store the ECG document and count it, atomically and durably; the stored row.
    Raises DuplicateKeyError (then nothing is stored or counted)."""
    record = document.model_dump(by_alias=True, exclude={"id", "revision_id"})
    await ecg_listing.ensure_counts(document.owner_id)

    async def write(session: AsyncClientSession | None) -> ObjectId:
        result = await EcgDocument.get_pymongo_collection().insert_one(record, session=session)
        await ecg_listing.counted_insert(document.owner_id, document.date, session)
        inserted: ObjectId = result.inserted_id
        return inserted

    return {**record, "_id": await _atomically(write)}


async def ecg_stored(document: EcgDocument) -> bool | None:
    """Whether this very ECG document is stored; None when the database cannot tell."""
    key = {"owner_id": document.owner_id, "ecg_id": document.ecg_id}
    try:
        found = await asyncio.shield(
            EcgDocument.get_pymongo_collection().find_one(
                {**key, "signal_id": document.signal_id}, projection={"_id": 1}
            )
        )
    except Exception:  # unknown: the caller keeps the samples
        return None
    return found is not None


async def ecg_exists(owner_id: ObjectId, ecg_id: str) -> bool:
    """Whether the owner has an ECG with this id."""
    found = await EcgDocument.get_pymongo_collection().find_one(
        {"owner_id": owner_id, "ecg_id": ecg_id}, projection={"_id": 1}
    )
    return found is not None


async def find_ecg(owner_id: ObjectId, ecg_id: str) -> Row | None:
    """The owner's ECG with this id."""
    row: Row | None = await EcgDocument.get_pymongo_collection().find_one(
        {"owner_id": owner_id, "ecg_id": ecg_id}
    )
    return row


async def find_ecg_by_object_id(ecg_object_id: ObjectId) -> Row | None:
    """The ECG document with this _id (for background jobs, which hold no owner)."""
    row: Row | None = await EcgDocument.get_pymongo_collection().find_one({"_id": ecg_object_id})
    return row


async def page_ecgs(
    owner_id: ObjectId,
    *,
    after: tuple[datetime, datetime, ObjectId] | None,
    limit: int,
    counts: ecg_listing.Counts | None = None,
) -> list[Row]:
    """Up to `limit` of the owner's ECGs, newest date first (ties: newest upload first),
    strictly after the (date, created_at, _id) position `after` (in date windows: see
    db/ecg_listing.py); `counts` as just read by `owner_counts`."""
    return await ecg_listing.page_ecgs(owner_id, after=after, limit=limit, counts=counts)


def collection_name() -> str:
    """The ECG collection's full name (database.collection): keys of per-process state."""
    return EcgDocument.get_pymongo_collection().full_name


async def owner_counts(owner_id: ObjectId) -> ecg_listing.Counts:
    """The owner's counter document: how many ECGs, their date bounds, and the revision of
    their ECG documents."""
    return await ecg_listing.owner_counts(owner_id)


async def delete_ecg(owner_id: ObjectId, ecg_id: str) -> bool:
    """Delete the owner's ECG (uncounting it atomically), then its windows; False when there
    is no such ECG."""
    await ecg_listing.ensure_counts(owner_id)

    async def write(session: AsyncClientSession | None) -> Row | None:
        found: Row | None = await EcgDocument.get_pymongo_collection().find_one_and_delete(
            {"owner_id": owner_id, "ecg_id": ecg_id},
            projection={"signal_id": 1, "date": 1},
            session=session,
        )
        if found is not None:
            await ecg_listing.counted_delete(owner_id, found["date"], session)
        return found

    deleted = await _atomically(write)
    if deleted is None:
        return False
    # The ECG is already invisible; its windows go next (an interruption leaves orphans for gc).
    await SignalChunkDocument.get_pymongo_collection().delete_many(
        {"signal_id": deleted["signal_id"]}
    )
    return True


async def read_windows(
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


async def ecgs_matching(query: dict[str, Any]) -> AsyncIterator[Row]:
    """Every ECG document matching `query` (for maintenance commands)."""
    async for row in EcgDocument.get_pymongo_collection().find(query):
        yield row


async def update_ecg(ecg_object_id: ObjectId, owner_id: ObjectId, fields: dict[str, Any]) -> None:
    """Set these fields of one ECG document of `owner_id`, and count the change in the
    owner's revision, atomically and durably (nothing when the ECG is gone)."""
    await ecg_listing.ensure_counts(owner_id)

    async def write(session: AsyncClientSession | None) -> None:
        updated = await EcgDocument.get_pymongo_collection().update_one(
            {"_id": ecg_object_id, "owner_id": owner_id}, {"$set": fields}, session=session
        )
        if updated.matched_count:
            await ecg_listing.counted_change(owner_id, session)

    await _atomically(write)


async def discard_orphan_windows(*, older_than_seconds: float) -> int:
    """Remove windows no ECG refers to (uploads that never completed); returns how many."""
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
    # Windows of open chunked uploads are referenced by their upload, not yet by an ECG.
    referenced |= await upload_store.open_signal_ids()
    orphans = list(candidates - referenced)
    if not orphans:
        return 0
    result = await chunks.delete_many({"signal_id": {"$in": orphans}})
    return result.deleted_count

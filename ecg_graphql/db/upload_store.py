"""Open chunked uploads and their windows in MongoDB: the only module that queries them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, WriteConcern
from pymongo.errors import DuplicateKeyError

from ecg_graphql.db.documents import EcgDocument, EcgUploadDocument, SignalChunkDocument, utcnow

Row = dict[str, Any]
# A finish that died part-way (the process killed) may be retried after this long.
FINISH_STALE = timedelta(minutes=5)


def _open(upload_id: ObjectId, owner_id: ObjectId, now: datetime) -> Row:
    return {"_id": upload_id, "owner_id": owner_id, "state": "open", "expires_at": {"$gt": now}}


async def insert_upload(document: EcgUploadDocument) -> Row:
    """Store a new upload (durably); the stored row."""
    record = document.model_dump(by_alias=True, exclude={"id", "revision_id"})
    result = await EcgUploadDocument.get_pymongo_collection().insert_one(record)
    return {**record, "_id": result.inserted_id}


async def find_open(upload_id: ObjectId, owner_id: ObjectId) -> Row | None:
    """The owner's upload if it is open and not expired."""
    row: Row | None = await EcgUploadDocument.get_pymongo_collection().find_one(
        _open(upload_id, owner_id, utcnow())
    )
    return row


async def insert_window(signal_id: ObjectId, seq: int, data: dict[str, bytes]) -> bool:
    """Store one window; False when a window with this seq exists already.

    Not journaled itself: the upload's j:true update that records the chunk follows.
    """
    base = SignalChunkDocument.get_pymongo_collection()
    concern = {**base.write_concern.document, "j": False}
    collection = base.with_options(write_concern=WriteConcern(**concern))
    try:
        await collection.insert_one({"signal_id": signal_id, "seq": seq, "data": data})
    except DuplicateKeyError:
        return False
    return True


async def window(signal_id: ObjectId, seq: int) -> dict[str, bytes] | None:
    """The bytes of one window, by lead index."""
    row = await SignalChunkDocument.get_pymongo_collection().find_one(
        {"signal_id": signal_id, "seq": seq}
    )
    return None if row is None else dict(row["data"])


async def replace_window(signal_id: ObjectId, seq: int, data: dict[str, bytes]) -> None:
    """Rewrite one window's bytes (widening a lead to int32)."""
    await SignalChunkDocument.get_pymongo_collection().update_one(
        {"signal_id": signal_id, "seq": seq}, {"$set": {"data": data}}
    )


async def delete_window(signal_id: ObjectId, seq: int) -> None:
    """Remove one window (a chunk whose upload closed while it was being written)."""
    await SignalChunkDocument.get_pymongo_collection().delete_one(
        {"signal_id": signal_id, "seq": seq}
    )


async def record_chunk(
    upload_id: ObjectId,
    owner_id: ObjectId,
    seq: int,
    digest: str,
    wide: list[int],
    expires_at: datetime,
) -> Row | None:
    """Mark chunk `seq` received (durably) unless it already was; the updated upload, or
    None when the upload is no longer open."""
    update: Row = {
        "$addToSet": {"received": seq},
        "$set": {f"digests.{seq}": digest, "expires_at": expires_at},
    }
    if wide:
        update["$addToSet"]["wide"] = {"$each": wide}
    row: Row | None = await EcgUploadDocument.get_pymongo_collection().find_one_and_update(
        _open(upload_id, owner_id, utcnow()), update, return_document=ReturnDocument.AFTER
    )
    return row


async def claim_finish(upload_id: ObjectId, owner_id: ObjectId) -> Row | None:
    """Move the owner's open upload to `finishing` (or take over a finish that died)."""
    now = utcnow()
    query = {
        "_id": upload_id,
        "owner_id": owner_id,
        "expires_at": {"$gt": now},
        "$or": [
            {"state": "open"},
            {"state": "finishing", "finishing_since": {"$lt": now - FINISH_STALE}},
        ],
    }
    row: Row | None = await EcgUploadDocument.get_pymongo_collection().find_one_and_update(
        query,
        {"$set": {"state": "finishing", "finishing_since": now}},
        return_document=ReturnDocument.AFTER,
    )
    return row


async def reopen(upload_id: ObjectId) -> None:
    """Back to `open` (a finish that found chunks missing)."""
    await EcgUploadDocument.get_pymongo_collection().update_one(
        {"_id": upload_id}, {"$set": {"state": "open", "finishing_since": None}}
    )


async def delete_upload(upload_id: ObjectId) -> None:
    """Remove the upload document (its samples are the ECG's now, or were removed)."""
    await EcgUploadDocument.get_pymongo_collection().delete_one({"_id": upload_id})


async def take_open(upload_id: ObjectId, owner_id: ObjectId) -> Row | None:
    """Remove the owner's open upload document; the removed row, or None."""
    row: Row | None = await EcgUploadDocument.get_pymongo_collection().find_one_and_delete(
        {"_id": upload_id, "owner_id": owner_id, "state": "open"}
    )
    return row


async def delete_windows(signal_id: ObjectId) -> None:
    """Remove every window of a signal."""
    await SignalChunkDocument.get_pymongo_collection().delete_many({"signal_id": signal_id})


async def discard_expired(now: datetime | None = None) -> int:
    """Remove uploads past their expiry with their samples, unless an ECG holds those
    samples (a finish that died after making the ECG visible); returns how many."""
    uploads = EcgUploadDocument.get_pymongo_collection()
    removed = 0
    async for row in uploads.find({"expires_at": {"$lte": now or utcnow()}}):
        claimed = await uploads.find_one_and_delete({"_id": row["_id"]})
        if claimed is None:
            continue  # another sweeper took it
        referenced = await EcgDocument.get_pymongo_collection().find_one(
            {"signal_id": claimed["signal_id"]}, projection={"_id": 1}
        )
        if referenced is None:
            await delete_windows(claimed["signal_id"])
        removed += 1
    return removed


async def open_signal_ids() -> set[ObjectId]:
    """Signals that open uploads are writing (gc must leave their windows alone)."""
    return {
        row["signal_id"]
        async for row in EcgUploadDocument.get_pymongo_collection().find(
            {}, projection={"signal_id": 1}
        )
    }

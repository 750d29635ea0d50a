"""Analysis jobs in MongoDB (one document per ECG, `_id` = the ECG document's id): the only
module that queries them. Claims are single-document find-and-modify operations, atomic on
any MongoDB, so two workers never hold the same job at the same time."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from ecg_graphql.db.documents import AnalysisJobDocument, utcnow

Row = dict[str, Any]


async def enqueue(ecg_object_id: ObjectId) -> None:
    """Queue (or re-queue) the analysis of an ECG; a running job is left to its worker."""
    jobs = AnalysisJobDocument.get_pymongo_collection()
    # DuplicateKeyError: it is running; its worker computes what is stale when it starts.
    with contextlib.suppress(DuplicateKeyError):
        await jobs.update_one(
            {"_id": ecg_object_id, "state": {"$ne": "running"}},
            {
                "$set": {"state": "queued", "attempts": 0, "error": None, "lease_until": None},
                "$setOnInsert": {"created_at": utcnow()},
            },
            upsert=True,
        )


async def claim(worker: str, lease: timedelta) -> Row | None:
    """Take the oldest queued job, else one whose worker's lease ran out; the job (with its
    attempts counted) or None."""
    jobs = AnalysisJobDocument.get_pymongo_collection()
    now = utcnow()
    update = {
        "$set": {"state": "running", "worker": worker, "lease_until": now + lease},
        "$inc": {"attempts": 1},
    }
    for query in (
        {"state": "queued"},
        {"state": "running", "lease_until": {"$lt": now}},
    ):
        row: Row | None = await jobs.find_one_and_update(
            query, update, sort=[("created_at", 1)], return_document=ReturnDocument.AFTER
        )
        if row is not None:
            return row
    return None


async def renew(job_id: ObjectId, worker: str, lease: timedelta) -> bool:
    """Extend this worker's lease (a heartbeat); False when the job is no longer its own."""
    result = await AnalysisJobDocument.get_pymongo_collection().update_one(
        {"_id": job_id, "state": "running", "worker": worker, "lease_until": {"$gt": utcnow()}},
        {"$set": {"lease_until": utcnow() + lease}},
    )
    return result.matched_count == 1


async def settle(job_id: ObjectId, worker: str, fields: Row) -> bool:
    """Set the job's outcome if this worker still holds it; False otherwise."""
    result = await AnalysisJobDocument.get_pymongo_collection().update_one(
        {"_id": job_id, "state": "running", "worker": worker},
        {"$set": {**fields, "lease_until": None}},
    )
    return result.matched_count == 1


async def release(job_id: ObjectId, worker: str) -> bool:
    """Queue again a job this worker still holds, its attempt given back (the database went
    away under it: not the analysis's failure); False when it is no longer its own."""
    result = await AnalysisJobDocument.get_pymongo_collection().update_one(
        {"_id": job_id, "state": "running", "worker": worker},
        {"$set": {"state": "queued", "lease_until": None}, "$inc": {"attempts": -1}},
    )
    return result.matched_count == 1


async def find(job_id: ObjectId) -> Row | None:
    """One job."""
    row: Row | None = await AnalysisJobDocument.get_pymongo_collection().find_one(
        {"_id": job_id}
    )
    return row


async def unfinished(before: datetime | None = None) -> int:
    """How many jobs are queued or running."""
    query: Row = {"state": {"$in": ["queued", "running"]}}
    if before is not None:
        query["created_at"] = {"$lt": before}
    return await AnalysisJobDocument.get_pymongo_collection().count_documents(query)

"""Background analysis: one job per ECG kept in the database, shared by any number of workers.

A worker claims a job atomically and holds it by a lease (`LEASE`), renewed every
`HEARTBEAT` while it computes; a worker that dies stops renewing, and once its lease has
run out another worker claims the job again. A job whose attempts reach `MAX_ATTEMPTS`
(an analysis that keeps raising, or a worker that keeps dying on it) is FAILED with its
error stored, on the job and as failed analysis records on the ECG; otherwise the ECG's
stale analyses are computed and stored, and the job is done. Results are written only while
the lease is still this worker's, so a job is never done twice at the same time.

Why not a job library: the maintained ones for asyncio need Redis or PostgreSQL (arq, taskiq
brokers, procrastinate), and the MongoDB ones are synchronous or unmaintained; the queue
needs only a claim, a renewal and a settle, each one find-and-modify on MongoDB.

The backfill (`python -m ecg_graphql backfill`) goes through the same jobs: it queues the
stale ECGs and works as one more worker until none is left (`backfill`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from ecg_graphql.db import ecg_store, job_store, upload_store
from ecg_graphql.ecgs.service import StoredEcg, stored_source
from ecg_graphql.insights import runner

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
HEARTBEAT_SECONDS = 5.0
MAX_ATTEMPTS = 3
POLL_SECONDS = 1.0
SWEEP_SECONDS = 60.0


def worker_name() -> str:
    """A name unique to this worker: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def enqueue(ecg_object_id: ObjectId) -> None:
    """Queue the analysis of this ECG (stored, with some analysis missing or older)."""
    await job_store.enqueue(ecg_object_id)


async def enqueue_stale(*, registry: runner.Registry = runner.DEFAULT) -> int:
    """Queue a job for every ECG that lacks an analysis, has it at an older version, or
    failed (the backfill); returns how many."""
    queued = 0
    async for row in ecg_store.ecgs_matching(runner.stale_query(registry)):
        await job_store.enqueue(row["_id"])
        queued += 1
    return queued


async def analyse(document: StoredEcg, *, registry: runner.Registry = runner.DEFAULT) -> None:
    """Compute and store what the ECG lacks, off the event loop. An ECG above
    `registry.stream_above` samples is never read whole: the analyses read it window by
    window (`runner.run_source`), so a 24 h Holter recording takes memory of a few windows."""
    names = runner.stale(document.insights, document.analyses, registry)
    if not names:
        return
    abandoned = threading.Event()
    source = stored_source(document, asyncio.get_running_loop(), abandoned=abandoned)
    try:
        results = await asyncio.to_thread(
            runner.run_source,
            source,
            ecg_id=document.ecg_id,
            stored=document.analyses,
            stored_leads=document.insights,
            only=names,
            registry=registry,
        )
    except BaseException:
        abandoned.set()  # a cancelled job's thread stops at its next read
        raise
    await ecg_store.update_ecg(document.id, results.as_update())


async def _failed_records(document: StoredEcg, error: str, registry: runner.Registry) -> None:
    """Mark the ECG's stale analyses FAILED with the job's error (backfill retries them)."""
    names = runner.stale(document.insights, document.analyses, registry)
    fields: dict[str, object] = {}
    for lead_analysis in registry.lead:
        if lead_analysis.name in names:
            record = {"version": lead_analysis.version, "error": error}
            fields[f"{runner.LEAD_RESULTS}.{lead_analysis.name}"] = record
    for ecg_analysis in registry.ecg:
        if ecg_analysis.name in names:
            record = {"version": ecg_analysis.version, "error": error}
            fields[f"{runner.ECG_RESULTS}.{ecg_analysis.name}"] = record
    if fields:
        await ecg_store.update_ecg(document.id, fields)


async def run_one(worker: str, *, registry: runner.Registry = runner.DEFAULT) -> bool:
    """Claim and run one job; False when there was none to claim."""
    job = await job_store.claim(worker, LEASE)
    if job is None:
        return False
    job_id: ObjectId = job["_id"]
    row = await ecg_store.find_ecg_by_object_id(job_id)
    if row is None:  # the ECG was deleted meanwhile
        await job_store.settle(job_id, worker, {"state": "done", "error": None})
        return True
    document = StoredEcg.from_row(row)
    if job["attempts"] > MAX_ATTEMPTS:
        error = job.get("error") or "WorkerLost"
        if await job_store.settle(job_id, worker, {"state": "failed", "error": error}):
            await _failed_records(document, error, registry)
        return True
    work = asyncio.create_task(analyse(document, registry=registry))
    lost = False
    while not work.done():
        await asyncio.wait({work}, timeout=HEARTBEAT_SECONDS)
        if not work.done() and not await job_store.renew(job_id, worker, LEASE):
            lost = True
            work.cancel()
    try:
        await work
    except asyncio.CancelledError:
        if not lost:
            raise
        logger.warning("analysis job lost its lease ecg=%s", document.ecg_id)
        return True
    except Exception as error:  # stored and retried; never kills the worker
        name = type(error).__name__
        logger.error("analysis job failed ecg=%s error=%s", document.ecg_id, name)
        state = "failed" if job["attempts"] >= MAX_ATTEMPTS else "queued"
        settled = await job_store.settle(job_id, worker, {"state": state, "error": name})
        if settled and state == "failed":
            await _failed_records(document, name, registry)
        return True
    await job_store.settle(job_id, worker, {"state": "done", "error": None})
    return True


@dataclass(frozen=True, slots=True)
class Backfill:
    """What a backfill did: ECGs queued, and jobs this process ran itself."""

    queued: int
    analysed: int


async def backfill(
    *, registry: runner.Registry = runner.DEFAULT, enqueue_only: bool = False
) -> Backfill:
    """Queue a job for every stale ECG (`enqueue_stale`), then run jobs here until none is
    left to claim, as one more worker: with no worker running, this process does them all;
    with workers running, they share the jobs through the same claims and leases (a job is
    never run twice at once). `enqueue_only` leaves them all to the workers."""
    queued = await enqueue_stale(registry=registry)
    analysed = 0
    if not enqueue_only:
        name = f"backfill:{worker_name()}"
        while await run_one(name, registry=registry):
            analysed += 1
    return Backfill(queued, analysed)


async def run_worker(stop: asyncio.Event, *, name: str | None = None) -> None:
    """Run jobs until `stop` is set; also removes expired uploads now and then. Database
    errors are logged and retried after a pause: the worker outlives a database restart."""
    worker = name or worker_name()
    logger.info("analysis worker %s started", worker)
    loop = asyncio.get_running_loop()
    next_sweep = loop.time()
    while not stop.is_set():
        try:
            if loop.time() >= next_sweep:
                removed = await upload_store.discard_expired()
                if removed:
                    logger.info("removed %d expired uploads", removed)
                next_sweep = loop.time() + SWEEP_SECONDS
            if await run_one(worker):
                continue
        except Exception as error:
            logger.warning("analysis worker: %s; retrying", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
    logger.info("analysis worker %s stopped", worker)

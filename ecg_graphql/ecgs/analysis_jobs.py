"""Background analysis: one job per ECG kept in the database, shared by any number of workers.

A worker claims a job atomically and holds it by a lease (`LEASE`), renewed every
`HEARTBEAT` while it computes; a worker that dies stops renewing, and once its lease has
run out another worker claims the job again. A job whose attempts reach `MAX_ATTEMPTS`
(an analysis that keeps raising, or a worker that keeps dying on it) is FAILED with its
error stored, on the job and as failed analysis records on the ECG; otherwise the ECG's
stale analyses are computed and stored, and the job is done. Results are written only while
the lease is still this worker's (renewed just before the one write that sets them all), and
a computation stops once its heartbeat fails, so a job is never done twice at the same time.

The database going away is not the analysis's failure: the job is interrupted (its
computation stops, nothing is written), the worker retries with a growing pause (`Backoff`),
and once the database answers it hands the job back (`job_store.release`: queued again, its
attempt given back) and goes on; a worker started while the database is down waits for it.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId
from pymongo.errors import ConnectionFailure

from ecg_graphql.db import ecg_store, job_store, upload_store
from ecg_graphql.ecgs.service import StoredEcg, stored_source
from ecg_graphql.insights import runner

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)
HEARTBEAT_SECONDS = 5.0
MAX_ATTEMPTS = 3
POLL_SECONDS = 1.0
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 10.0
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


async def compute(
    document: StoredEcg, *, registry: runner.Registry = runner.DEFAULT
) -> runner.Results | None:
    """Compute what the ECG lacks, off the event loop (None: nothing is stale). An ECG above
    `registry.stream_above` samples is never read whole: the analyses read it window by
    window (`runner.run_source`), so a 24 h Holter recording takes memory of a few windows.
    Cancelled, it ends at once and its thread stops at its next read; whatever that thread
    still computes is dropped."""
    names = runner.stale(document.insights, document.analyses, registry)
    if not names:
        return None
    abandoned = threading.Event()
    source = stored_source(document, asyncio.get_running_loop(), abandoned=abandoned)
    try:
        return await asyncio.to_thread(
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
        await ecg_store.update_ecg(document.id, document.owner_id, fields)


def database_gone(error: BaseException) -> bool:
    """True when `error` is the database being unreachable (refused, reset, no server within
    the timeout), itself or as the cause of a failed read."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionFailure):
            return True
        cause = cause.__cause__
    return False


class JobInterrupted(Exception):
    """The database went away while this worker held the job (its cause: PyMongo's error)."""

    def __init__(self, job_id: ObjectId, ecg_id: str | None) -> None:
        super().__init__(f"analysis job {job_id} interrupted: database unavailable")
        self.job_id = job_id
        self.ecg_id = ecg_id


async def run_one(worker: str, *, registry: runner.Registry = runner.DEFAULT) -> bool:
    """Claim and run one job; False when there was none to claim. The database going away
    while the job is held raises JobInterrupted: the job is still this worker's, and it is
    `job_store.release`d once the database answers (`run_worker` does)."""
    job = await job_store.claim(worker, LEASE)
    if job is None:
        return False
    job_id: ObjectId = job["_id"]
    fields = {"job": str(job_id), "worker": worker, "attempt": job["attempts"]}
    ecg_id: str | None = None
    try:
        row = await ecg_store.find_ecg_by_object_id(job_id)
        if row is None:  # the ECG was deleted meanwhile
            logger.info("analysis job claimed", extra=fields)
            outcome = "done" if await _settle(job_id, worker, "done", None) else "lost"
        else:
            document = StoredEcg.from_row(row)
            ecg_id = fields["ecg"] = document.ecg_id
            logger.info("analysis job claimed", extra=fields)
            outcome = await _run(job, document, worker, registry)
    except Exception as error:
        if database_gone(error):
            raise JobInterrupted(job_id, ecg_id) from error
        raise
    logger.info("analysis job ended", extra={**fields, "state": outcome})
    return True


async def _settle(job_id: ObjectId, worker: str, state: str, error: str | None) -> bool:
    return await job_store.settle(job_id, worker, {"state": state, "error": error})


async def _run(
    job: job_store.Row, document: StoredEcg, worker: str, registry: runner.Registry
) -> str:
    """Run a claimed job: "done", "failed", "queued" (to retry) or "lost" (the lease)."""
    job_id: ObjectId = job["_id"]
    if job["attempts"] > MAX_ATTEMPTS:
        error = job.get("error") or "WorkerLost"
        if not await _settle(job_id, worker, "failed", error):
            return "lost"
        await _failed_records(document, error, registry)
        return "failed"
    work = asyncio.create_task(compute(document, registry=registry))
    try:
        held = await _hold(work, job_id, worker)
    finally:
        # Also when a heartbeat raised (the database went away) or this task is cancelled:
        # the computation never goes on without the lease, nor writes anything.
        if not work.done():
            work.cancel()
            await asyncio.wait({work})
    if not held:
        logger.warning("analysis job lost its lease ecg=%s", document.ecg_id)
        return "lost"
    try:
        results = work.result()
    except Exception as error:
        if database_gone(error):
            raise
        # Stored and retried; never kills the worker.
        name = type(error).__name__
        logger.error("analysis job failed ecg=%s error=%s", document.ecg_id, name)
        state = "failed" if job["attempts"] >= MAX_ATTEMPTS else "queued"
        if not await _settle(job_id, worker, state, name):
            return "lost"
        if state == "failed":
            await _failed_records(document, name, registry)
        return state
    if results is not None:
        # Written only while the lease is this worker's: renewed just before, for a whole
        # lease, and one update sets every result at once (never part of them).
        if not await job_store.renew(job_id, worker, LEASE):
            logger.warning("analysis job lost its lease ecg=%s", document.ecg_id)
            return "lost"
        await ecg_store.update_ecg(document.id, document.owner_id, results.as_update())
    return "done" if await _settle(job_id, worker, "done", None) else "lost"


async def _hold(work: asyncio.Task[runner.Results | None], job_id: ObjectId, worker: str) -> bool:
    """Renew the lease every HEARTBEAT_SECONDS until `work` ends; False once it is lost."""
    while not work.done():
        await asyncio.wait({work}, timeout=HEARTBEAT_SECONDS)
        if not work.done() and not await job_store.renew(job_id, worker, LEASE):
            return False
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


class Backoff:
    """Pauses between retries while the database is unreachable: RETRY_FIRST_SECONDS,
    doubling up to RETRY_MAX_SECONDS, back to the first once an attempt succeeds."""

    def __init__(self) -> None:
        self.failures = 0

    def failed(self) -> float:
        """Count a failure; the pause before the next attempt."""
        self.failures += 1
        return float(min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** (self.failures - 1)))

    def succeeded(self) -> bool:
        """Reset; True when there had been failures."""
        failed, self.failures = self.failures > 0, 0
        return failed


async def pause(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; True when it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


def log_retry(worker: str, error: BaseException, seconds: float) -> None:
    """One line per failed attempt, no traceback: the database is down, or (a bug) not."""
    name = type(error.__cause__ if isinstance(error, JobInterrupted) else error).__name__
    what = "database unavailable" if database_gone(error) else "error"
    logger.warning(
        "analysis worker: %s (%s); retrying in %.0f s",
        what,
        name,
        seconds,
        extra={"worker": worker, "error": name, "retry_in": seconds},
    )


async def wait_for_database(
    connect: Callable[[], Awaitable[object]], stop: asyncio.Event, *, name: str = "analysis worker"
) -> bool:
    """Call `connect` until the database answers (retries with a growing pause, `Backoff`);
    False when `stop` was set first."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            await connect()
        except Exception as error:
            if not database_gone(error):
                raise
            seconds = backoff.failed()
            log_retry(name, error, seconds)
            await pause(stop, seconds)
            continue
        return True
    return False


async def run_worker(
    stop: asyncio.Event, *, name: str | None = None, registry: runner.Registry = runner.DEFAULT
) -> None:
    """Run jobs until `stop` is set; also removes expired uploads now and then. The database
    going away is waited out (retries with a growing pause, `Backoff`): a job it interrupted
    is handed back (`job_store.release`) once it answers, then run again here or elsewhere."""
    worker = name or worker_name()
    logger.info("analysis worker started", extra={"worker": worker})
    loop = asyncio.get_running_loop()
    next_sweep = loop.time()
    backoff = Backoff()
    interrupted: ObjectId | None = None
    while not stop.is_set():
        try:
            if interrupted is not None:
                if await job_store.release(interrupted, worker):
                    handed = {"job": str(interrupted), "worker": worker}
                    logger.info("analysis job handed back", extra=handed)
                interrupted = None
            if loop.time() >= next_sweep:
                removed = await upload_store.discard_expired()
                if removed:
                    logger.info("removed %d expired uploads", removed)
                next_sweep = loop.time() + SWEEP_SECONDS
            ran = await run_one(worker, registry=registry)
        except Exception as error:
            if isinstance(error, JobInterrupted):
                interrupted = error.job_id
                logger.error(
                    "analysis job interrupted: database unavailable (%s); it is handed back "
                    "once the database answers",
                    type(error.__cause__).__name__,
                    extra={"job": str(error.job_id), "ecg": error.ecg_id, "worker": worker},
                )
            seconds = backoff.failed()
            log_retry(worker, error, seconds)
            await pause(stop, seconds)
            continue
        if backoff.succeeded():
            logger.info("analysis worker: database answers again", extra={"worker": worker})
        if not ran:
            await pause(stop, POLL_SECONDS)
    logger.info("analysis worker stopped", extra={"worker": worker})

"""Analysis workers as real processes (`python -m ecg_graphql worker`) sharing jobs through
the database: a worker SIGKILLed mid-job has its job finished by another; the database
SIGKILLed under a worker mid-job, or while it starts or waits, is waited out and the job
finished once it is back; workers and the backfill racing over many jobs run each once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import pytest
from bson import ObjectId
from pymongo.errors import ConnectionFailure

from ecg_graphql.db import job_store
from ecg_graphql.db.documents import AnalysisJobDocument, EcgDocument, utcnow
from ecg_graphql.ecgs import analysis_jobs, service
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from ecg_graphql.insights import runner
from ecg_graphql.insights.registry import ECG_ANALYSES, EcgAnalysis
from ecg_graphql.insights.signals import EcgSignal, EcgSource
from ecg_graphql.insights.stored import stored_count
from tests.harness import (
    Api,
    CommandProcess,
    RestartableDatabase,
    load_recording,
    running_app,
    test_settings,
)

T = TypeVar("T")
# Bounds against hanging (not timings): a loaded 2-core machine gets them many times over.
FINISH_SECONDS = 180.0
NOTICE_SECONDS = 60.0
STOP_SECONDS = 20.0
# The workers' database timeout: an operation on a dead database fails after this long.
WORKER_DATABASE_TIMEOUT = "2"


class Worker(CommandProcess):
    """`python -m ecg_graphql worker` (or `backfill`) on the test's database."""

    def __init__(self, api: Api, command: str = "worker") -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ECG_")}
        env.update(
            PYTHONUNBUFFERED="1",
            ECG_MONGODB_URL=str(api.settings.mongodb_url),
            ECG_DATABASE=api.settings.database,
            ECG_JWT_SECRET="w" * 40,
            ECG_DATABASE_TIMEOUT_SECONDS=WORKER_DATABASE_TIMEOUT,
        )
        super().__init__(command, env)

    def alive(self) -> bool:
        return self.process.poll() is None

    def logged(self, message: str) -> list[dict[str, Any]]:
        """Its log records whose message starts with `message`."""
        return [r for r in self.records() if str(r.get("msg", "")).startswith(message)]

    def ended(self, state: str = "done") -> list[dict[str, Any]]:
        """Its records of jobs it ended in this state."""
        return [r for r in self.logged("analysis job ended") if r["state"] == state]

    def terminate(self) -> int:
        """SIGTERM, as an operator stops it; its exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait(STOP_SECONDS)


@pytest.fixture
def started() -> Iterator[list[Worker]]:
    """Processes a test starts; any still running at the end is SIGKILLed."""
    processes: list[Worker] = []
    yield processes
    for process in processes:
        if process.alive():
            process.process.kill()
        process.process.wait(timeout=STOP_SECONDS)
        if process.process.stdout is not None:
            process.process.stdout.close()


def start(started: list[Worker], api: Api, command: str = "worker") -> Worker:
    process = Worker(api, command)
    started.append(process)
    return process


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, seconds: float, poll: float = 0.05
) -> T:
    """Poll `probe` until it gives a value (a bound against hanging, not a timing). A probe
    that meets the database just restarted (a stale pooled connection) is asked again."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(ConnectionFailure):
            found = await probe()
            if found is not None:
                return found
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(poll)


async def logged(
    process: Worker, message: str, count: int = 1, *, poll: float = 0.05
) -> list[dict[str, Any]]:
    """Wait until `process` has logged `count` records starting with `message`."""

    async def probe() -> list[dict[str, Any]] | None:
        assert process.alive(), f"the worker died:\n{process.output}"
        found = process.logged(message)
        return found if len(found) >= count else None

    try:
        return await eventually(probe, f"logged {count} x {message!r}", NOTICE_SECONDS, poll)
    except AssertionError as error:
        raise AssertionError(f"{error}; it printed:\n{process.output}") from None


async def job(job_id: ObjectId | None = None) -> dict[str, Any]:
    query = {} if job_id is None else {"_id": job_id}
    row: dict[str, Any] | None = await AnalysisJobDocument.get_pymongo_collection().find_one(query)
    assert row is not None
    return row


async def until(predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Poll the job until `predicate` holds."""

    async def probe() -> dict[str, Any] | None:
        row = await job()
        return row if predicate(row) else None

    return await eventually(probe, f"job {what}", FINISH_SECONDS)


async def stored_ecg(ecg_object_id: ObjectId) -> service.StoredEcg:
    row = await EcgDocument.get_pymongo_collection().find_one({"_id": ecg_object_id})
    assert row is not None
    return service.StoredEcg.from_row(row)


@pytest.fixture
async def api(mongodb_url: str) -> AsyncIterator[Api]:
    """The app without in-process workers: only the workers a test starts run jobs."""
    async with running_app(test_settings(mongodb_url, analysis_workers=0)) as client:
        yield client


@pytest.fixture
async def own_api(own_db: RestartableDatabase) -> AsyncIterator[Api]:
    """Like `api`, on a database of the test's own that it may kill."""
    async with running_app(test_settings(own_db.url, analysis_workers=0)) as client:
        yield client
        if not own_db.is_running():
            own_db.restart()  # a failed test may leave it down; the harness drops the database


async def stale_ecg(ecg_id: str, seconds: float, *, shift: int = 0) -> tuple[ObjectId, Any]:
    """A stored 2-lead ECG of `seconds` (tiled real data, rolled by `shift` samples) whose
    analyses were never run, with the insights and analyses its upload computed (what a job
    must store: a stored ECG's analyses equal an upload's, see test_holter_analysis)."""
    raw = load_recording("mitdb100_wfdb_centered.json")
    length = int(raw["samplingRate"] * seconds)
    leads = [
        LeadUpload(lead["name"], None, np.roll(np.resize(lead["signal"], length), shift).tolist())
        for lead in raw["leads"]
    ]
    upload = EcgUpload(ecg_id, utcnow(), float(raw["samplingRate"]), leads)
    stored = await service.upload_ecg(owner_id=ObjectId(), upload=upload)
    assert stored.analysis_status == "DONE"
    await EcgDocument.get_pymongo_collection().update_one(
        {"_id": stored.id}, {"$set": {"insights": {}, "analyses": {}}}
    )
    return stored.id, {"insights": stored.insights, "analyses": stored.analyses}


@pytest.fixture
async def long_ecg(api: Api) -> ObjectId:
    """A stored 2-lead ECG of 40 minutes (tiled real data) whose analyses were never run."""
    ecg, _ = await stale_ecg("long", 2400)
    await analysis_jobs.enqueue(ecg)
    return ecg


async def test_a_killed_workers_job_is_finished_by_another(
    api: Api, long_ecg: ObjectId, started: list[Worker]
) -> None:
    first = start(started, api)
    try:
        claimed = await until(lambda r: r["state"] == "running", "claimed")
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    assert claimed["attempts"] == 1
    assert (await job())["state"] == "running"  # killed mid-job: nothing settled it
    # Its lease runs out (as 30 s after its last heartbeat); a second worker takes over.
    await AnalysisJobDocument.get_pymongo_collection().update_one(
        {"_id": long_ecg}, {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}}
    )
    second = start(started, api)
    done = await until(lambda r: r["state"] in ("done", "failed"), "finished")
    assert second.terminate() == 0, second.output
    assert done["state"] == "done", done
    assert done["attempts"] == 2
    assert done["worker"] != claimed["worker"]
    document = await stored_ecg(long_ecg)
    assert document.analysis_status == "DONE"
    assert stored_count(document.analyses["beats"]["value"]) > 1000


async def test_two_workers_racing_run_the_job_once(api: Api, long_ecg: ObjectId) -> None:
    names = ["a", "b"]
    claims = await asyncio.gather(
        *(job_store.claim(name, analysis_jobs.LEASE) for name in names)
    )
    assert sum(c is not None for c in claims) == 1
    holder = next(c for c in claims if c is not None)["worker"]
    loser = next(n for n in names if n != holder)
    assert not await job_store.renew(long_ecg, loser, analysis_jobs.LEASE)
    assert not await job_store.settle(long_ecg, loser, {"state": "done"})
    assert (await job())["state"] == "running"


def assert_quiet_retries(worker: Worker, retries: list[dict[str, Any]]) -> None:
    """Retries while the database is down: one clear line each, with a growing pause, no
    traceback (the worker neither died nor spewed)."""
    assert worker.alive(), worker.output
    assert "Traceback" not in worker.output, worker.output
    pauses = [float(r["retry_in"]) for r in retries]
    assert pauses == sorted(pauses), pauses
    assert pauses[-1] > pauses[0], pauses
    assert all(0 < p <= analysis_jobs.RETRY_MAX_SECONDS for p in pauses), pauses
    for record in retries:
        assert record["level"] == "warning", record
        assert "database unavailable" in record["msg"], record


KILL_TRIES = 5


UNAVAILABLE = "analysis worker: database unavailable"


async def killed_mid_job(worker: Worker, retries_before: int) -> bool:
    """Once the worker has noticed the database is gone (a retry beyond `retries_before`):
    True when that interrupted its job, False when the job had ended before."""

    async def noticed() -> bool | None:
        assert worker.alive(), worker.output
        if worker.logged("analysis job interrupted"):
            return True
        if len(worker.logged(UNAVAILABLE)) > retries_before:
            return False  # its job's end, had it come first, is logged before this line
        return None

    return await eventually(noticed, "noticed the database is gone", NOTICE_SECONDS)


async def stale_again(ecg: ObjectId) -> bool:
    """Clear the ECG's analyses (a job ran before the kill) and queue it again."""
    await EcgDocument.get_pymongo_collection().update_one(
        {"_id": ecg}, {"$set": {"insights": {}, "analyses": {}}}
    )
    await analysis_jobs.enqueue(ecg)
    return True


@pytest.mark.parametrize(
    "seconds",
    [
        pytest.param(2400, id="read-whole"),  # 40 min, 2 leads: one read, then computed
        pytest.param(3600, id="streamed"),  # 1 h: above STREAM_ABOVE, read window by window
    ],
)
async def test_the_database_killed_mid_job_is_waited_out_and_the_job_finished(
    own_db: RestartableDatabase, own_api: Api, started: list[Worker], seconds: int
) -> None:
    ecg, expected = await stale_ecg("long", seconds)
    worker = start(started, own_api)
    await logged(worker, "analysis worker started")
    misses = 0
    await analysis_jobs.enqueue(ecg)
    while True:
        ended = len(worker.ended())
        retries_before = len(worker.logged(UNAVAILABLE))
        # Killed as soon as the worker says it claimed the job (its log, not a query: sooner).
        claimed = (await logged(worker, "analysis job claimed", ended + 1, poll=0.005))[-1]
        own_db.kill()
        assert (claimed["job"], claimed["attempt"]) == (str(ecg), 1), claimed

        if await killed_mid_job(worker, retries_before):
            break
        # The job ended before the kill (a loaded machine can be that slow to kill): again.
        assert len(worker.ended()) == ended + 1, worker.output
        misses += 1
        assert misses < KILL_TRIES, f"no kill landed mid-job in {KILL_TRIES} tries"
        answered = len(worker.logged("analysis worker: database answers again"))
        own_db.restart()
        await logged(worker, "analysis worker: database answers again", answered + 1)
        # Cleared and queued again before it can claim: it polls the same collection.
        await eventually(lambda: stale_again(ecg), "queued again", NOTICE_SECONDS)

    # A clear error naming the job, then retries with a growing pause; it neither exits nor
    # hangs (it keeps logging retries), nor runs on in the background.
    interrupted = worker.logged("analysis job interrupted")[0]
    assert interrupted["level"] == "error", interrupted
    assert interrupted["ecg"] == "long", interrupted
    assert interrupted["job"] == str(ecg), interrupted
    retries = await logged(worker, UNAVAILABLE, retries_before + 3)
    assert_quiet_retries(worker, retries[retries_before:])
    assert len(worker.ended()) == ended

    own_db.restart()

    # Once it is back the worker hands the job back and runs it again; meanwhile the ECG
    # shows its old analyses (none) or the new ones complete, never part of them.
    async def finished() -> dict[str, Any] | None:
        document = await stored_ecg(ecg)
        seen = {"insights": document.insights, "analyses": document.analyses}
        assert seen in ({"insights": {}, "analyses": {}}, expected), "half-written analyses"
        row = await job(ecg)
        return row if row["state"] in ("done", "failed") else None

    done = await eventually(finished, "finished after the restart", FINISH_SECONDS)
    assert done["state"] == "done", done
    assert done["error"] is None, done
    # The attempt the database cut short is given back: not the analysis's failure.
    assert done["attempts"] == 1, done
    assert done["worker"] == claimed["worker"]
    document = await stored_ecg(ecg)
    assert document.analysis_status == "DONE"
    assert {"insights": document.insights, "analyses": document.analyses} == expected
    assert stored_count(document.analyses["beats"]["value"]) > 1000
    assert len(worker.logged("analysis job handed back")) == 1, worker.output
    assert len(worker.ended()) == 1 + misses, worker.output
    assert "Traceback" not in worker.output, worker.output
    assert worker.terminate() == 0, worker.output


async def test_a_worker_waits_out_the_database_when_it_starts_and_while_idle(
    own_db: RestartableDatabase, own_api: Api, started: list[Worker]
) -> None:
    ecg, expected = await stale_ecg("later", 60)

    own_db.kill()
    worker = start(started, own_api)  # starts with the database down
    assert_quiet_retries(worker, await logged(worker, "analysis worker: database unavailable", 3))
    assert not worker.logged("analysis worker started")
    own_db.restart()
    await logged(worker, "analysis worker started")

    own_db.kill()  # down while it polls for jobs
    before = len(worker.logged("analysis worker: database unavailable"))
    retries = await logged(worker, "analysis worker: database unavailable", before + 3)
    assert_quiet_retries(worker, retries[before:])
    own_db.restart()

    await eventually(lambda: stale_again(ecg), "queued", NOTICE_SECONDS)
    done = await until(lambda r: r["state"] in ("done", "failed"), "finished")
    assert (done["state"], done["attempts"]) == ("done", 1), done
    document = await stored_ecg(ecg)
    assert {"insights": document.insights, "analyses": document.analyses} == expected
    assert "Traceback" not in worker.output, worker.output
    assert worker.terminate() == 0, worker.output


# A windowed analysis that holds its first run until the test lets it go (or a bound runs
# out), so the database can be killed while a job computes without reading (only heartbeats
# meet it then); let go, the first run reads once more, as a computation going on would.
class Held:
    def __init__(self) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.first_ended = threading.Event()
        self.read_after_release: list[str] = []

    def compute(self, ecg: EcgSignal, prior: object) -> int:
        raise AssertionError("streamed: only the windowed form runs")

    def windows(self, source: EcgSource, prior: object) -> int:
        self.calls += 1
        call = self.calls
        if call == 1:
            self.entered.set()
            try:
                self.release.wait(FINISH_SECONDS)
                try:
                    source.read([0], 0, 10)
                except Exception as error:
                    self.read_after_release.append(type(error).__name__)
                    raise
                self.read_after_release.append("read")
            finally:
                self.first_ended.set()
        return call


async def test_a_heartbeat_that_cannot_reach_the_database_stops_the_computation(
    own_db: RestartableDatabase, own_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    held = Held()
    analysis = EcgAnalysis("held", 1, held.compute, held.windows)
    registry = runner.Registry(ecg=(*ECG_ANALYSES, analysis), stream_above=0)
    monkeypatch.setattr(analysis_jobs, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(analysis_jobs, "RETRY_MAX_SECONDS", 1.0)
    caplog.set_level(logging.INFO, logger=analysis_jobs.__name__)
    ecg, _ = await stale_ecg("held", 60)
    await analysis_jobs.enqueue(ecg)
    stop = asyncio.Event()
    worker = asyncio.create_task(analysis_jobs.run_worker(stop, name="w", registry=registry))
    try:
        async def entered() -> bool | None:
            assert not worker.done(), worker
            return held.entered.is_set() or None

        await eventually(entered, "started the held analysis", NOTICE_SECONDS)

        own_db.kill()  # the held run is computing: only its heartbeat meets the dead database

        async def interrupted() -> bool | None:
            assert not worker.done(), worker
            messages = [r.getMessage() for r in caplog.records]
            return any(m.startswith("analysis job interrupted") for m in messages) or None

        await eventually(interrupted, "logged the interruption", NOTICE_SECONDS)
        own_db.restart()
        # Only now does the held run end: it was given up, so its result is never written,
        # though the database is back to take it.
        held.release.set()

        seen: list[int] = []

        async def finished() -> dict[str, Any] | None:
            document = await stored_ecg(ecg)
            if "held" in document.analyses:
                seen.append(document.analyses["held"]["value"])
            row = await job(ecg)
            return row if row["state"] in ("done", "failed") else None

        done = await eventually(finished, "finished after the restart", FINISH_SECONDS)
        assert await asyncio.to_thread(held.first_ended.wait, FINISH_SECONDS)
    finally:
        held.release.set()
        stop.set()
        await asyncio.wait_for(worker, STOP_SECONDS)
    assert (done["state"], done["attempts"], done["worker"]) == ("done", 1, "w"), done
    assert set(seen) == {2}, seen  # the second run's result; the given-up one's never
    assert held.calls == 2
    # The given-up run was stopped at its next read, the database back or not.
    assert held.read_after_release == ["AnalysisAbandoned"]
    assert (await stored_ecg(ecg)).analysis_status == "DONE"


async def test_a_worker_whose_lease_was_taken_over_writes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held()
    analysis = EcgAnalysis("held", 1, held.compute, held.windows)
    registry = runner.Registry(ecg=(*ECG_ANALYSES, analysis), stream_above=0)
    # No heartbeat before the computation ends: only the check before the write can tell.
    monkeypatch.setattr(analysis_jobs, "HEARTBEAT_SECONDS", 3600.0)
    ecg, _ = await stale_ecg("taken", 60)
    await analysis_jobs.enqueue(ecg)
    first = asyncio.create_task(analysis_jobs.run_one("first", registry=registry))
    try:

        async def entered() -> bool | None:
            assert not first.done(), first
            return held.entered.is_set() or None

        await eventually(entered, "started the held analysis", NOTICE_SECONDS)
        # Its lease runs out (as when its heartbeats stall) and another worker takes the job.
        await AnalysisJobDocument.get_pymongo_collection().update_one(
            {"_id": ecg}, {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}}
        )
        taken = await job_store.claim("second", analysis_jobs.LEASE)
        assert taken is not None
        assert taken["_id"] == ecg
        held.release.set()
        assert await asyncio.wait_for(first, FINISH_SECONDS) is True
    finally:
        held.release.set()
        first.cancel()
    assert held.read_after_release == ["read"]  # it computed to its end...
    document = await stored_ecg(ecg)
    assert (document.insights, document.analyses) == ({}, {})  # ...and wrote nothing
    row = await job(ecg)
    assert (row["state"], row["worker"], row["attempts"]) == ("running", "second", 2), row


SUMMARY = re.compile(r"queued (\d+) ECGs with stale analyses; analysed (\d+) here")


@pytest.mark.parametrize("workers", [2, 1], ids=["two-workers", "one-worker"])
async def test_workers_and_the_backfill_racing_over_many_jobs_run_each_once(
    api: Api, started: list[Worker], workers: int
) -> None:
    jobs = 10
    expected: dict[ObjectId, Any] = {}
    # 40 min each (all different): the jobs take several seconds together, so a worker
    # polling each second finds some queued while the backfill runs the others (with 8 of
    # 30 min, a loaded machine once saw the backfill run them all between two polls).
    for number in range(jobs):
        ecg, want = await stale_ecg(f"stale-{number}", 2400, shift=977 * number)
        expected[ecg] = want
    running = [start(started, api) for _ in range(workers)]
    for process in running:
        await logged(process, "analysis worker started")  # polling, so they race the backfill
    backfill = start(started, api, "backfill")

    async def backfilled() -> int | None:
        return backfill.process.poll()

    await eventually(backfilled, "backfill exited", FINISH_SECONDS)
    assert backfill.wait(STOP_SECONDS) == 0, backfill.output
    summary = SUMMARY.search(backfill.output)
    assert summary is not None, backfill.output
    assert int(summary[1]) == jobs

    async def all_done() -> list[dict[str, Any]] | None:
        rows: list[dict[str, Any]] = await AnalysisJobDocument.get_pymongo_collection().find(
            {}
        ).to_list()
        return rows if all(r["state"] in ("done", "failed") for r in rows) else None

    rows = await eventually(all_done, "all finished", FINISH_SECONDS)
    for process in running:
        assert process.terminate() == 0, process.output

    # Every job claimed once (attempts 1, one claim logged over all processes), done by the
    # one that claimed it, and its ECG's analyses complete and equal to an upload's.
    assert sorted(r["_id"] for r in rows) == sorted(expected)
    everyone = [*running, backfill]
    claims = [r for p in everyone for r in p.logged("analysis job claimed")]
    settles = [r for p in everyone for r in p.ended()]
    for row in rows:
        assert (row["state"], row["attempts"], row["error"]) == ("done", 1, None), row
        mine = [c["worker"] for c in claims if c["job"] == str(row["_id"])]
        assert mine == [row["worker"]], (row, mine)
        assert [s["worker"] for s in settles if s["job"] == str(row["_id"])] == mine
        document = await stored_ecg(row["_id"])
        assert {"insights": document.insights, "analyses": document.analyses} == expected[
            row["_id"]
        ], row["_id"]
    by_backfill = [r for r in rows if r["worker"].startswith("backfill:")]
    assert len(by_backfill) == int(summary[2]), (summary[0], by_backfill)
    # They did race: more than one process ran jobs.
    assert len({r["worker"] for r in rows}) > 1, [r["worker"] for r in rows]
    # Each process ran one job at a time: its claims and settles alternate, job by job.
    for process in everyone:
        steps = [
            (r["msg"].split()[2], r["job"])
            for r in process.records()
            if str(r.get("msg", "")).startswith(("analysis job claimed", "analysis job ended"))
        ]
        assert steps == [
            (step, job_id) for _, job_id in steps[::2] for step in ("claimed", "ended")
        ], steps
        assert "Traceback" not in process.output, process.output

"""Analysis workers as real processes (`python -m ecg_graphql worker`) sharing jobs through
the database: a worker SIGKILLed mid-job has its job finished by another."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from bson import ObjectId

from ecg_graphql.db import job_store
from ecg_graphql.db.documents import AnalysisJobDocument, EcgDocument, utcnow
from ecg_graphql.ecgs import analysis_jobs, service
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from ecg_graphql.insights.stored import stored_count
from tests.harness import Api, load_recording, running_app, test_settings


def worker(api: Api) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ECG_MONGODB_URL": str(api.settings.mongodb_url),
        "ECG_DATABASE": api.settings.database,
        "ECG_JWT_SECRET": "w" * 40,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ecg_graphql", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def job() -> dict[str, Any]:
    row: dict[str, Any] | None = await AnalysisJobDocument.get_pymongo_collection().find_one({})
    assert row is not None
    return row


async def until(predicate: Any, what: str) -> dict[str, Any]:
    """Poll the job until `predicate` holds (a bound against hanging, not a timing)."""
    for _ in range(1200):
        row = await job()
        if predicate(row):
            found: dict[str, Any] = row
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"job never {what}: {row}")


@pytest.fixture
async def api(mongodb_url: str) -> AsyncIterator[Api]:
    """The app without in-process workers: only the workers a test starts run jobs."""
    async with running_app(test_settings(mongodb_url, analysis_workers=0)) as client:
        yield client


@pytest.fixture
async def long_ecg(api: Api) -> ObjectId:
    """A stored 2-lead ECG of 40 minutes (tiled real data) whose analyses were never run."""
    raw = load_recording("mitdb100_wfdb_centered.json")
    length = int(raw["samplingRate"] * 2400)
    leads = [
        LeadUpload(lead["name"], None, np.resize(lead["signal"], length).tolist())
        for lead in raw["leads"]
    ]
    upload = EcgUpload("long", utcnow(), float(raw["samplingRate"]), leads)
    stored = await service.upload_ecg(owner_id=ObjectId(), upload=upload)
    await EcgDocument.get_pymongo_collection().update_one(
        {"_id": stored.id}, {"$set": {"insights": {}, "analyses": {}}}
    )
    await analysis_jobs.enqueue(stored.id)
    return stored.id


async def test_a_killed_workers_job_is_finished_by_another(api: Api, long_ecg: ObjectId) -> None:
    first = worker(api)
    try:
        claimed = await until(lambda r: r["state"] == "running", "claimed")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert claimed["attempts"] == 1
    assert (await job())["state"] == "running"  # killed mid-job: nothing settled it
    # Its lease runs out (as 30 s after its last heartbeat); a second worker takes over.
    await AnalysisJobDocument.get_pymongo_collection().update_one(
        {"_id": long_ecg}, {"$set": {"lease_until": utcnow() - timedelta(seconds=1)}}
    )
    second = worker(api)
    try:
        done = await until(lambda r: r["state"] in ("done", "failed"), "finished")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)
    assert done["state"] == "done", done
    assert done["attempts"] == 2
    assert done["worker"] != claimed["worker"]
    ecg = await EcgDocument.get_pymongo_collection().find_one({"_id": long_ecg})
    assert ecg is not None
    document = service.StoredEcg.from_row(ecg)
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

"""The registry end to end: a throwaway analysis added in one entry is computed by backfill
for stored ECGs (only what they lack, have older, or failed), read through the field map,
and a failing analysis never loses an upload. The backfill goes through the analysis jobs:
it queues them and, with no worker running, runs them itself; with a worker running, the
two share them; `python -m ecg_graphql backfill` does the same as a process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from strawberry.types.base import get_object_definition

from ecg_graphql.api.ecgs import insights as field_map
from ecg_graphql.api.ecgs.types import LeadInsight
from ecg_graphql.db.documents import AnalysisJobDocument, EcgDocument
from ecg_graphql.ecgs import analysis_jobs
from ecg_graphql.ecgs.service import get_ecg
from ecg_graphql.insights import runner
from ecg_graphql.insights.registry import ECG_ANALYSES, LEAD_ANALYSES, EcgAnalysis, LeadAnalysis
from ecg_graphql.insights.signals import EcgSignal, LeadSignal
from ecg_graphql.insights.stored import stored_ints
from tests.harness import Api, RestartableDatabase, running_app, test_settings
from tests.reference import reference_zero_crossings

SIGNALS = {"I": [3, -1, 0, 0, 2, -7, 9], "II": [0, 0, 5, 0, -5]}
LEADS = [{"name": name, "signal": signal} for name, signal in SIGNALS.items()]
EXPECTED = [
    {"lead": name, "zeroCrossings": reference_zero_crossings(signal)}
    for name, signal in SIGNALS.items()
]


def peak(lead: LeadSignal) -> int:
    """A throwaway per-lead analysis: the largest absolute sample."""
    return int(np.abs(lead.samples).max())


def lead_count(ecg: EcgSignal, prior: object) -> int:
    """A throwaway per-ECG analysis."""
    return len(ecg.leads)


def broken(ecg: EcgSignal, prior: object) -> int:
    raise ZeroDivisionError


WITH_THROWAWAY = runner.Registry(
    lead=(*LEAD_ANALYSES, LeadAnalysis("peak", 1, peak)),
    ecg=(*ECG_ANALYSES, EcgAnalysis("lead_count", 2, lead_count)),
)


@pytest.fixture
async def api(mongodb_url: str) -> AsyncIterator[Api]:
    """The app without in-process workers: only the backfill (or a test's worker) runs jobs."""
    async with running_app(test_settings(mongodb_url, analysis_workers=0)) as client:
        yield client


async def backfill_insights(registry: runner.Registry = runner.DEFAULT) -> int:
    """Backfill with no worker running: every job it queues, it runs; how many."""
    done = await analysis_jobs.backfill(registry=registry)
    assert done.analysed == done.queued
    return done.analysed


async def upload_two(api: Api) -> tuple[str, Any]:
    token = await api.user_token()
    for ecg_id in ("old-1", "old-2"):
        result = await api.upload({"id": ecg_id, "date": "2023-03-03", "leads": LEADS}, token)
        assert result["__typename"] == "Ecg"
    return token, EcgDocument.get_pymongo_collection()


async def test_backfill_recomputes_missing_and_outdated_insights(api: Api) -> None:
    token, collection = await upload_two(api)
    # One ECG stored before the analysis existed, one at an older version.
    await collection.update_one({"ecg_id": "old-1"}, {"$unset": {"insights.zero_crossings": ""}})
    await collection.update_one(
        {"ecg_id": "old-2"},
        {"$set": {"insights.zero_crossings": {"version": 0, "values": [99, 99]}}},
    )

    assert await backfill_insights() == 2
    assert await backfill_insights() == 0  # idempotent: nothing is stale any more

    body = await api.gql(
        '{ a: ecg(id: "old-1") { insights { lead zeroCrossings } }'
        '  b: ecg(id: "old-2") { insights { lead zeroCrossings } } }',
        token=token,
    )
    assert body["data"]["a"]["insights"] == EXPECTED
    assert body["data"]["b"]["insights"] == EXPECTED


async def test_a_new_analysis_is_backfilled_alone_and_read_through_the_field_map(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, collection = await upload_two(api)
    # Mark the current zero-crossings record: a recomputation would drop the mark.
    await collection.update_many({}, {"$set": {"insights.zero_crossings.mark": True}})
    owner = (await collection.find_one({"ecg_id": "old-1"}))["owner_id"]
    before = await get_ecg(owner_id=owner, ecg_id="old-1")
    assert before is not None
    assert before.analysis_status is runner.AnalysisStatus.DONE
    assert runner.status(before.insights, before.analyses, WITH_THROWAWAY) == "PENDING"
    # The GraphQL field of the new analysis, added to the one map: null until computed.
    monkeypatch.setitem(field_map.LEAD_INSIGHT_FIELDS, "peak", field_map.FromAnalysis("peak"))
    assert field_map.lead_insights(before)[0]["peak"] is None

    assert await backfill_insights(registry=WITH_THROWAWAY) == 2
    assert await backfill_insights(registry=WITH_THROWAWAY) == 0

    after = await get_ecg(owner_id=owner, ecg_id="old-1")
    assert after is not None
    assert after.insights["peak"] == {"version": 1, "values": [9, 5]}
    assert after.analyses["lead_count"] == {"version": 2, "value": 2}
    assert after.insights["zero_crossings"]["mark"] is True  # not recomputed
    assert runner.status(after.insights, after.analyses, WITH_THROWAWAY) == "DONE"
    assert [values["peak"] for values in field_map.lead_insights(after)] == [9, 5]
    monkeypatch.undo()  # the map again matches LeadInsight's declared fields
    body = await api.gql('{ ecg(id: "old-1") { insights { lead zeroCrossings } } }', token=token)
    assert body["data"]["ecg"]["insights"] == EXPECTED


async def test_a_failing_analysis_is_recorded_and_retried(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    _, collection = await upload_two(api)
    failing = runner.Registry(
        lead=LEAD_ANALYSES, ecg=(EcgAnalysis("broken", 1, broken), EcgAnalysis("n", 1, lead_count))
    )
    assert await backfill_insights(registry=failing) == 2
    row = await collection.find_one({"ecg_id": "old-1"})
    assert row["analyses"]["broken"] == {"version": 1, "error": "ZeroDivisionError"}
    assert row["analyses"]["n"] == {"version": 1, "value": 2}  # the others are kept
    assert runner.status(row["insights"], row["analyses"], failing) == "FAILED"
    assert any("ecg=old-1" in r.getMessage() and "broken" in r.getMessage() for r in caplog.records)
    # Retried by the next backfill (it fails again here, and stays FAILED).
    assert await backfill_insights(registry=failing) == 2


def test_results_are_stored_in_plain_form() -> None:
    ecg = EcgSignal((LeadSignal("I", np.array([1, -1, 1]), 250.0, None),), 250.0)
    registry = runner.Registry(
        lead=(LeadAnalysis("nan", 1, lambda lead: float("nan")),),
        ecg=(EcgAnalysis("beats", 1, lambda ecg, prior: np.array([0, 2])),),
    )
    results = runner.run(ecg, ecg_id="x", registry=registry)
    assert results.lead == {"nan": {"version": 1, "values": [None]}}
    # Integer arrays (beat positions) packed, little-endian int32, and read back as stored.
    assert results.ecg == {"beats": {"version": 1, "value": b"\x00\x00\x00\x00\x02\x00\x00\x00"}}
    assert stored_ints(results.ecg["beats"]["value"]).tolist() == [0, 2]  # type: ignore[union-attr]
    assert stored_ints([0, 2]).tolist() == [0, 2]  # type: ignore[union-attr]  # stored before packing
    assert stored_ints(None) is None
    assert stored_ints(b"\x00\x01\x02") is None  # not whole int32 values


def test_the_field_map_matches_the_graphql_type_and_the_registry() -> None:
    declared = [f.python_name for f in get_object_definition(LeadInsight, strict=True).fields]
    assert declared == ["lead", *field_map.LEAD_INSIGHT_FIELDS]  # same fields, same order
    sources = {source.analysis for source in field_map.LEAD_INSIGHT_FIELDS.values()}
    assert sources <= {analysis.name for analysis in LEAD_ANALYSES}


def cli_env(api: Api) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECG_")},
        "ECG_MONGODB_URL": str(api.settings.mongodb_url),
        "ECG_DATABASE": api.settings.database,
        "ECG_JWT_SECRET": "b" * 40,
    }


async def backfill_command(env: dict[str, str]) -> asyncio.subprocess.Process:
    """`python -m ecg_graphql backfill` started, its output (both streams) on a pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ecg_graphql",
        "backfill",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def stale_both(api: Api) -> Any:
    _, collection = await upload_two(api)
    await collection.update_many({}, {"$unset": {"insights.zero_crossings": ""}})
    return collection


async def test_the_backfill_command_queues_and_runs_the_jobs(api: Api) -> None:
    collection = await stale_both(api)
    process = await backfill_command(cli_env(api))
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output
    assert "queued 2 ECGs with stale analyses; analysed 2 here" in output.decode()
    async for row in collection.find({}):
        assert runner.status(row["insights"], row["analyses"]) == "DONE"
        assert row["insights"]["zero_crossings"]["values"] == [e["zeroCrossings"] for e in EXPECTED]
    jobs = await AnalysisJobDocument.get_pymongo_collection().find({}).to_list()
    assert [j["state"] for j in jobs] == ["done", "done"]
    assert all(j["worker"].startswith("backfill:") for j in jobs)


async def test_enqueue_only_leaves_the_jobs_to_a_worker(api: Api) -> None:
    collection = await stale_both(api)
    done = await analysis_jobs.backfill(enqueue_only=True)
    assert (done.queued, done.analysed) == (2, 0)
    async for row in collection.find({}):
        assert runner.status(row["insights"], row["analyses"]) == "PENDING"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ecg_graphql",
        "worker",
        env=cli_env(api),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(1200):  # a bound against hanging, not a timing
            rows = await collection.find({}).to_list()
            if all(runner.status(r["insights"], r["analyses"]) == "DONE" for r in rows):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the worker never ran the backfill's jobs")
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 20)
    jobs = await AnalysisJobDocument.get_pymongo_collection().find({}).to_list()
    assert [j["state"] for j in jobs] == ["done", "done"]
    assert not any(j["worker"].startswith("backfill:") for j in jobs)


async def test_the_backfill_command_stops_cleanly_when_its_database_dies(
    own_db: RestartableDatabase,
) -> None:
    async with running_app(test_settings(own_db.url, analysis_workers=0)) as api:
        token = await api.user_token()
        for n in range(60):
            result = await api.upload({"id": f"k-{n}", "date": "2023-03-03", "leads": LEADS}, token)
            assert result["__typename"] == "Ecg"
        collection = EcgDocument.get_pymongo_collection()
        await collection.update_many({}, {"$unset": {"insights.zero_crossings": ""}})

        process = await backfill_command({**cli_env(api), "ECG_DATABASE_TIMEOUT_SECONDS": "2"})
        assert process.stdout is not None
        seen: list[str] = []
        while line := (await asyncio.wait_for(process.stdout.readline(), 60)).decode():
            seen.append(line)
            if "analysis job ended" in line:
                own_db.kill()  # part-way: one job done, 59 to go
                break
        rest, _ = await asyncio.wait_for(process.communicate(), 60)
        output = "".join(seen) + rest.decode()
        assert process.returncode == 3, output
        assert "backfill: the database became unavailable" in output, output
        assert "Traceback" not in output, output

        own_db.restart()
        rerun = await backfill_command(cli_env(api))
        again, _ = await asyncio.wait_for(rerun.communicate(), 120)
        assert rerun.returncode == 0, again
        rows = await collection.find({}).to_list()
        stale = [r for r in rows if runner.status(r["insights"], r["analyses"]) != "DONE"]
        # What the first run did is kept and the rerun did the rest, but for the job the first
        # run held when the database died: its lease (30 s) has not run out yet.
        assert len(rows) == 60
        assert len(stale) <= 1, [r["ecg_id"] for r in stale]
        jobs = AnalysisJobDocument.get_pymongo_collection()
        for row in stale:
            job = await jobs.find_one({"_id": row["_id"]})
            assert job is not None
            assert job["state"] == "running"

"""Long ECGs analysed by a job on the real database: a chunked upload's insights equal those
of `uploadEcg` with the same samples, and the job's memory does not grow with the ECG."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from bson import ObjectId

from ecg_graphql.db.documents import (
    AnalysisJobDocument,
    EcgDocument,
    SignalChunkDocument,
    utcnow,
)
from ecg_graphql.ecgs import analysis_jobs, large, service
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from ecg_graphql.insights import runner
from tests.harness import Api, load_signal, running_app, test_settings

MITDB = "mitdb100_wfdb_centered.json"
RATE = 360.0
OWNER = ObjectId()


@pytest.fixture
async def api(mongodb_url: str) -> AsyncIterator[Api]:
    """The app without in-process workers: the test runs the job itself."""
    async with running_app(test_settings(mongodb_url, analysis_workers=0)) as client:
        yield client


def tiled(seconds: float, shorter_by: Sequence[int] = (0, 0)) -> list[npt.NDArray[np.int64]]:
    """MIT-BIH 100's two leads repeated to `seconds` (each shortened by `shorter_by`)."""
    ecg = load_signal(MITDB)
    length = round(seconds * RATE)
    return [
        np.resize(lead.samples, length - cut)
        for lead, cut in zip(ecg.leads, shorter_by, strict=True)
    ]


async def chunked(ecg_id: str, leads: list[npt.NDArray[np.int64]]) -> ObjectId:
    """Upload through startEcgUpload / appendEcgChunk / finishEcgUpload (job queued)."""
    names = [lead.name for lead in load_signal(MITDB).leads]
    upload = large.LargeUpload(
        ecg_id,
        utcnow(),
        RATE,
        [large.LargeLead(n, int(s.size)) for n, s in zip(names, leads, strict=True)],
        units_per_mv=200.0,
    )
    opened = await large.start_upload(owner_id=OWNER, upload=upload, max_body_bytes=16 << 20)
    size = opened.chunk_samples
    for seq in reversed(range(opened.chunk_count)):  # any order will do
        pieces: list[object] = [s[seq * size : (seq + 1) * size].tolist() for s in leads]
        await large.append_chunk(
            owner_id=OWNER, upload_id=str(opened.upload_id), seq=seq, leads=pieces
        )
    stored = await large.finish_upload(owner_id=OWNER, upload_id=str(opened.upload_id))
    assert stored.analysis_status == "PENDING"
    return stored.id


async def uploaded(ecg_id: str, leads: list[npt.NDArray[np.int64]]) -> service.StoredEcg:
    """Upload through uploadEcg's service: analysed in memory before it answers."""
    names = [lead.name for lead in load_signal(MITDB).leads]
    upload = EcgUpload(
        ecg_id,
        utcnow(),
        RATE,
        [LeadUpload(n, None, s.tolist()) for n, s in zip(names, leads, strict=True)],
        units_per_mv=200.0,
    )
    return await service.upload_ecg(owner_id=OWNER, upload=upload)


async def analysed(ecg: ObjectId, registry: runner.Registry = runner.DEFAULT) -> dict[str, Any]:
    assert await analysis_jobs.run_one("test-worker", registry=registry)
    row = await EcgDocument.get_pymongo_collection().find_one({"_id": ecg})
    assert row is not None
    document = service.StoredEcg.from_row(row)
    assert document.analysis_status == "DONE"
    return {"insights": document.insights, "analyses": document.analyses}


async def test_a_chunked_holter_upload_gets_the_insights_of_an_upload(api: Api) -> None:
    leads = tiled(3600)  # one hour: above the threshold, so the job streams it
    assert sum(s.size for s in leads) > runner.STREAM_ABOVE
    want = await uploaded("whole", leads)
    got = await analysed(await chunked("chunked", leads))
    # Same blocks as the in-memory sums: equal to the last bit, floats included.
    assert got == {"insights": want.insights, "analyses": want.analyses}
    assert got["analyses"]["measurements"]["value"]["beat_count"] > 4000


async def test_leads_of_different_lengths_streamed_in_small_blocks(api: Api) -> None:
    leads = tiled(900, shorter_by=(0, 20_011))
    want = await uploaded("whole", leads)
    registry = runner.Registry(stream_above=0, block_samples=4099)
    got = await analysed(await chunked("chunked", leads), registry)
    assert got["analyses"] == want.analyses
    for name in ("zero_crossings", "quality"):
        assert got["insights"][name] == want.insights[name]
    for a, b in zip(
        got["insights"]["amplitude"]["values"],
        want.insights["amplitude"]["values"],
        strict=True,
    ):
        assert (a["min"], a["max"]) == (b["min"], b["max"])
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-12)
        assert a["rms"] == pytest.approx(b["rms"], rel=1e-12)


async def peak_of_job(ecg_id: str, seconds: float, registry: runner.Registry) -> int:
    """Peak bytes traced while a job analyses a chunked ECG of `seconds`."""
    ecg = await chunked(ecg_id, tiled(seconds))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        await analysed(ecg, registry)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


async def test_a_jobs_memory_does_not_grow_with_the_ecg(api: Api) -> None:

    streamed = runner.Registry(stream_above=0, block_samples=1 << 16)
    short = await peak_of_job("short", 600, streamed)
    long = await peak_of_job("long", 2400, streamed)
    # The in-memory path on the same ECGs, as the control that this measure can tell.
    whole = runner.Registry(stream_above=10**9)
    short_whole = await peak_of_job("short-whole", 600, whole)
    long_whole = await peak_of_job("long-whole", 2400, whole)
    signal_bytes = 2 * round(2400 * RATE) * 8  # the 40 min ECG as int64
    assert long_whole - short_whole > 0.5 * signal_bytes  # holding it whole shows
    assert long - short < 0.1 * signal_bytes  # streaming: 4x the ECG, about the same peak
    assert long < 1.25 * short
    # Measured: 7.2 and 7.2 MB streamed; 7.9 and 29.8 MB whole (13.8 MB of samples).


async def test_a_signal_that_cannot_be_read_retries_the_job_not_the_analyses(api: Api) -> None:
    ecg = await chunked("unreadable", tiled(600))
    row = await EcgDocument.get_pymongo_collection().find_one({"_id": ecg})
    assert row is not None
    # Windows gone from under the job (as a database that fails mid-read): not the analyses'
    # fault, so nothing is recorded as a failed analysis and the job is queued again.
    await SignalChunkDocument.get_pymongo_collection().delete_many(
        {"signal_id": row["signal_id"], "seq": {"$gte": 1}}
    )
    streamed = runner.Registry(stream_above=0)
    assert await analysis_jobs.run_one("test-worker", registry=streamed)
    job = await AnalysisJobDocument.get_pymongo_collection().find_one({"_id": ecg})
    assert job is not None
    assert (job["state"], job["error"]) == ("queued", "ReadFailed")
    row = await EcgDocument.get_pymongo_collection().find_one({"_id": ecg})
    assert row is not None
    assert (row["insights"], row["analyses"]) == ({}, {})
    assert service.StoredEcg.from_row(row).analysis_status == "PENDING"

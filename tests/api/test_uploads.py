"""Chunked uploads over HTTP: any order, resends, resume, every bad input, expiry, and the
background analysis that follows, on the real database with the in-process worker."""

from __future__ import annotations

import asyncio
import gc
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId

from ecg_graphql.db.documents import EcgUploadDocument, SignalChunkDocument, utcnow
from ecg_graphql.ecgs import large
from tests.harness import Api, load_recording, running_app, test_settings
from tests.reference import reference_zero_crossings as zero_crossings

# A small request limit, so chunks are small and an ECG takes many of them.
BODY_LIMIT = 48_000
START = """
mutation Start($input: StartEcgUploadInput!) {
  startEcgUpload(input: $input) {
    __typename
    ... on EcgUpload { uploadId chunkSamples chunkCount receivedChunks expiresAt }
    ... on ValidationError { fields { field message } }
    ... on EcgAlreadyExistsError { id }
  }
}
"""
APPEND = """
mutation Append($id: ID!, $seq: Int!, $leads: [Samples!]!) {
  appendEcgChunk(uploadId: $id, seq: $seq, leads: $leads) {
    __typename
    ... on EcgUpload { receivedChunks }
    ... on ValidationError { fields { field message } }
  }
}
"""
FINISH = """
mutation Finish($id: ID!) {
  finishEcgUpload(uploadId: $id) {
    __typename
    ... on Ecg { id analysisStatus leads { name numberOfSamples } }
    ... on ValidationError { fields { field message } }
  }
}
"""
ABORT = "mutation Abort($id: ID!) { abortEcgUpload(uploadId: $id) }"
STATUS = "query Status($id: ID!) { ecgUpload(uploadId: $id) { receivedChunks chunkCount } }"
READ = """
query Read($id: ID!, $offset: Int!, $limit: Int!) {
  ecg(id: $id) {
    analysisStatus
    leads { name numberOfSamples signal(offset: $offset, limit: $limit) }
    insights { lead zeroCrossings min max }
    measurements { beatCount heartRate }
  }
}
"""
LIST = "{ ecgs { totalCount edges { node { id } } } }"


@pytest.fixture
async def small(mongodb_url: str) -> AsyncIterator[Api]:
    """The app with a small body limit (small chunks)."""
    async with running_app(test_settings(mongodb_url, max_body_bytes=BODY_LIMIT)) as client:
        yield client


def leads_of(recording: str, length: int) -> dict[str, list[int]]:
    """The first leads of a real recording tiled to `length` samples (lengths differ)."""
    raw = load_recording(recording)
    out: dict[str, list[int]] = {}
    for i, lead in enumerate(raw["leads"][:3]):
        signal = lead["signal"]
        want = length - 137 * i  # the leads end at different chunks
        out[lead["name"]] = (signal * (want // len(signal) + 1))[:want]
    return out


def start_input(signals: dict[str, list[int]], ecg_id: str = "holter-1") -> dict[str, Any]:
    raw = load_recording("mitdb100_wfdb_centered.json")
    return {
        "id": ecg_id,
        "date": "2024-05-01T08:00:00Z",
        "samplingRate": raw["samplingRate"],
        "leads": [{"name": n, "numberOfSamples": len(s)} for n, s in signals.items()],
    }


def chunk(signals: dict[str, list[int]], seq: int, size: int) -> list[list[int]]:
    return [s[seq * size : (seq + 1) * size] for s in signals.values()]


async def start(api: Api, token: str, signals: dict[str, list[int]], **kw: Any) -> dict[str, Any]:
    body = await api.gql(START, {"input": start_input(signals, **kw)}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["startEcgUpload"]
    return result


async def append(api: Api, token: str, upload_id: str, seq: int, leads: Any) -> dict[str, Any]:
    body = await api.gql(APPEND, {"id": upload_id, "seq": seq, "leads": leads}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["appendEcgChunk"]
    return result


async def finish(api: Api, token: str, upload_id: str) -> dict[str, Any]:
    body = await api.gql(FINISH, {"id": upload_id}, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["finishEcgUpload"]
    return result


def fields(result: dict[str, Any]) -> list[str]:
    assert result["__typename"] == "ValidationError", result
    return [f["field"] for f in result["fields"]]


async def until_analysed(api: Api, token: str, ecg_id: str) -> dict[str, Any]:
    """The ECG once the background worker has measured it (bounded wait, not a timing)."""
    for _ in range(600):
        body = await api.gql(READ, {"id": ecg_id, "offset": 0, "limit": 0}, token=token)
        ecg: dict[str, Any] = body["data"]["ecg"]
        if ecg["analysisStatus"] != "PENDING":
            return ecg
        await asyncio.sleep(0.1)
    raise AssertionError("the analysis job never finished")


async def test_chunks_in_any_order_become_one_ecg_only_when_finished(small: Api) -> None:
    token = await small.user_token()
    signals = leads_of("mitdb100_wfdb_centered.json", 9000)
    opened = await start(small, token, signals)
    assert opened["__typename"] == "EcgUpload", opened
    size, count = opened["chunkSamples"], opened["chunkCount"]
    assert 3 * size * len(str(-(2**31))) < BODY_LIMIT  # a chunk of all leads fits the limit
    assert count == -(-9000 // size)
    order = list(range(count))
    random.Random(5).shuffle(order)  # noqa: S311  (test order, not a secret)
    half = order[: count // 2]
    for seq in half:
        assert (await append(small, token, opened["uploadId"], seq, chunk(signals, seq, size)))[
            "__typename"
        ] == "EcgUpload"
    # Invisible while open; a resuming client learns which chunks arrived.
    assert (await small.gql(LIST, token=token))["data"]["ecgs"]["totalCount"] == 0
    read = await small.gql(READ, {"id": "holter-1", "offset": 0, "limit": 1}, token=token)
    assert read["data"]["ecg"] is None
    status = await small.gql(STATUS, {"id": opened["uploadId"]}, token=token)
    assert status["data"]["ecgUpload"]["receivedChunks"] == sorted(half)
    early = await finish(small, token, opened["uploadId"])
    assert fields(early) == ["chunks"]
    assert str(order[count // 2]) in early["fields"][0]["message"]
    for seq in order[count // 2 :]:
        await append(small, token, opened["uploadId"], seq, chunk(signals, seq, size))
    done = await finish(small, token, opened["uploadId"])
    assert done["__typename"] == "Ecg", done
    assert done["analysisStatus"] == "PENDING"
    assert [lead["numberOfSamples"] for lead in done["leads"]] == [9000, 8863]
    # Complete at once: a slice from the middle reads back exactly.
    body = await small.gql(READ, {"id": "holter-1", "offset": 4321, "limit": 2000}, token=token)
    for lead, samples in zip(body["data"]["ecg"]["leads"], signals.values(), strict=True):
        assert lead["signal"] == samples[4321:6321]
    ecg = await until_analysed(small, token, "holter-1")
    assert ecg["analysisStatus"] == "DONE"
    assert [i["zeroCrossings"] for i in ecg["insights"]] == [
        zero_crossings(s) for s in signals.values()
    ]
    assert ecg["measurements"]["beatCount"] > 0
    assert (await small.gql(LIST, token=token))["data"]["ecgs"]["totalCount"] == 1
    # The upload is gone: finishing twice or appending again is a ValidationError.
    assert fields(await finish(small, token, opened["uploadId"])) == ["uploadId"]
    again = await append(small, token, opened["uploadId"], 0, chunk(signals, 0, size))
    assert fields(again) == ["uploadId"]
    assert (await small.gql(STATUS, {"id": opened["uploadId"]}, token=token))["data"][
        "ecgUpload"
    ] is None


async def test_resends_and_wide_samples(small: Api) -> None:
    token = await small.user_token()
    signals = {"I": [5, -5, 3] * 400, "II": [1, 2, 3] * 400}
    signals["II"][700] = 2**31 - 1  # one chunk of lead II needs int32
    opened = await start(small, token, signals, ecg_id="wide")
    upload_id, size = opened["uploadId"], opened["chunkSamples"]
    first = chunk(signals, 0, size)
    assert (await append(small, token, upload_id, 0, first))["receivedChunks"] == [0]
    assert (await append(small, token, upload_id, 0, first))["receivedChunks"] == [0]
    changed = [[*first[0][:-1], first[0][-1] + 1], first[1]]
    assert fields(await append(small, token, upload_id, 0, changed)) == ["leads"]
    for seq in range(1, opened["chunkCount"]):
        await append(small, token, upload_id, seq, chunk(signals, seq, size))
    assert (await finish(small, token, upload_id))["__typename"] == "Ecg"
    body = await small.gql(READ, {"id": "wide", "offset": 0, "limit": 1200}, token=token)
    got = [lead["signal"] for lead in body["data"]["ecg"]["leads"]]
    assert got == list(signals.values())


async def test_every_bad_input_is_a_validation_error(small: Api) -> None:
    token = await small.user_token()
    signals = {"I": list(range(1000)), "II": list(range(500))}
    over = {"input": {**start_input(signals), "leads": [
        {"name": "I", "numberOfSamples": 100_000_001},
        {"name": "II", "numberOfSamples": 0},
    ]}}
    body = await small.gql(START, over, token=token)
    assert fields(body["data"]["startEcgUpload"]) == [
        "leads.0.numberOfSamples", "leads.1.numberOfSamples"
    ]
    many = {"input": {**start_input(signals), "leads": [
        {"name": f"L{i}", "numberOfSamples": 2_000_000} for i in range(60)
    ]}}
    assert fields((await small.gql(START, many, token=token))["data"]["startEcgUpload"]) == [
        "leads"
    ]
    opened = await start(small, token, signals, ecg_id="bad")
    upload_id, size, count = opened["uploadId"], opened["chunkSamples"], opened["chunkCount"]
    good = chunk(signals, 0, size)
    assert fields(await append(small, token, upload_id, count, good)) == ["seq"]
    assert fields(await append(small, token, upload_id, -1, good)) == ["seq"]
    assert fields(await append(small, token, upload_id, 0, good[:1])) == ["leads"]
    assert fields(await append(small, token, upload_id, 0, [good[0] + [1], good[1]])) == [
        "leads.0"
    ]
    assert fields(await append(small, token, upload_id, 0, [[1.5] * size, "x"])) == [
        "leads.0", "leads.1"
    ]
    assert fields(await append(small, token, upload_id, 0, [good[0], [2**31] * size])) == [
        "leads.1"
    ]
    last = count - 1
    ended = chunk(signals, last, size)
    assert ended[1] == []
    assert fields(await append(small, token, upload_id, last, [ended[0], [7]])) == ["leads.1"]
    assert (await append(small, token, upload_id, last, ended))["receivedChunks"] == [last]
    # Another user: null, ValidationError, false; never their data.
    other = await small.user_token("mallory")
    assert (await small.gql(STATUS, {"id": upload_id}, token=other))["data"]["ecgUpload"] is None
    assert fields(await append(small, other, upload_id, 0, good)) == ["uploadId"]
    assert fields(await finish(small, other, upload_id)) == ["uploadId"]
    assert (await small.gql(ABORT, {"id": upload_id}, token=other))["data"] == {
        "abortEcgUpload": False
    }
    for junk in ("nope", str(ObjectId()), "0" * 24):
        assert fields(await append(small, token, junk, 0, good)) == ["uploadId"]
    # Aborted: its samples go, and appending is a ValidationError.
    assert (await small.gql(ABORT, {"id": upload_id}, token=token))["data"] == {
        "abortEcgUpload": True
    }
    assert fields(await append(small, token, upload_id, 0, good)) == ["uploadId"]
    assert await SignalChunkDocument.get_pymongo_collection().count_documents({}) == 0
    dup = await start(small, token, signals, ecg_id="bad")
    assert dup["__typename"] == "EcgUpload"


async def test_expired_uploads_are_removed_with_their_samples(small: Api) -> None:
    token = await small.user_token()
    signals = {"I": list(range(-300, 300))}
    opened = await start(small, token, signals, ecg_id="late")
    upload_id, size = opened["uploadId"], opened["chunkSamples"]
    await append(small, token, upload_id, 0, chunk(signals, 0, size))
    uploads = EcgUploadDocument.get_pymongo_collection()
    row = await uploads.find_one({"_id": ObjectId(upload_id)})
    assert row is not None
    assert row["expires_at"] > utcnow() + timedelta(hours=23)  # 24 h after the last chunk
    await uploads.update_one(
        {"_id": ObjectId(upload_id)}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    # Expired: already invisible, before any sweep.
    assert (await small.gql(STATUS, {"id": upload_id}, token=token))["data"]["ecgUpload"] is None
    assert fields(await append(small, token, upload_id, 1, chunk(signals, 1, size))) == [
        "uploadId"
    ]
    assert await large.discard_expired() == 1
    assert await uploads.count_documents({}) == 0
    assert await SignalChunkDocument.get_pymongo_collection().count_documents({}) == 0


async def test_a_chunks_samples_are_freed_when_its_request_ends(small: Api) -> None:
    """No reference cycle keeps a request's variables (its samples) until a full garbage
    collection: over a Holter upload that held hundreds of MB (bench/holter.py)."""
    token = await small.user_token()
    signals = leads_of("mitdb100_wfdb_centered.json", 20_000)
    opened = await start(small, token, signals)
    size = opened["chunkSamples"]
    gc.collect()
    gc.disable()
    try:
        result = await append(small, token, opened["uploadId"], 0, chunk(signals, 0, size))
        assert result["__typename"] == "EcgUpload"
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kept = [o for o in gc.garbage if isinstance(o, list) and len(o) == size]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept == []

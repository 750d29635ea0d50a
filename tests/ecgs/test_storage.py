"""Storage: small ECG documents, packed int16/int32 chunks apart, and nothing left behind when a
write fails part-way (a fail point of the embedded server makes one insert fail)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import bson
import numpy as np
import pytest

from ecg_graphql.db.documents import EcgDocument, SignalChunkDocument
from ecg_graphql.db.ecg_store import INSERT_BATCH
from ecg_graphql.ecgs.packing import window_samples
from tests.harness import UPLOAD, Api, load_recording

SMALL_DOCUMENT_BYTES = 10_000
MONGODB_DOCUMENT_LIMIT = 16 * 1024 * 1024
MAX_LEADS = 64
# Not retryable and not a duplicate key: the write simply fails.
FAILURE_CODE = 8  # UnknownError

READ = """
query Read($id: ID!) {
  ecg(id: $id) { id leads { name numberOfSamples signal } insights { lead zeroCrossings } }
}
"""


async def ecg_documents() -> list[dict[str, Any]]:
    return await EcgDocument.get_pymongo_collection().find({}).to_list()


async def chunk_documents(query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return (
        await SignalChunkDocument.get_pymongo_collection()
        .find(query or {})
        .sort([("signal_id", 1), ("seq", 1)])
        .to_list()
    )


def lead_bytes(chunks: list[dict[str, Any]], index: int) -> list[bytes]:
    """The packed bytes of lead `index` in each chunk that holds part of it, in order."""
    return [c["data"][str(index)] for c in chunks if str(index) in c["data"]]


@asynccontextmanager
async def failing_insert(skip: int) -> AsyncIterator[None]:
    """The embedded server fails the insert command after the next `skip` ones, once."""
    admin = EcgDocument.get_pymongo_collection().database.client.admin
    await admin.command(
        {
            "configureFailPoint": "failCommand",
            "mode": {"skip": skip, "times": 1},
            "data": {"failCommands": ["insert"], "errorCode": FAILURE_CODE, "errorLabels": []},
        }
    )
    try:
        yield
    finally:
        await admin.command({"configureFailPoint": "failCommand", "mode": "off"})


def assert_failed_upload(body: dict[str, Any]) -> None:
    """A top-level error, masked (with an id) or SERVICE_UNAVAILABLE, and no ECG in `data`."""
    assert (body.get("data") or {}).get("uploadEcg") is None, body
    errors = body.get("errors")
    assert errors, body
    for error in errors:
        extensions = error.get("extensions") or {}
        if extensions.get("code") == "SERVICE_UNAVAILABLE":
            continue
        assert error["message"] == "Unexpected error.", error
        assert isinstance(extensions.get("errorId"), str), error
        assert extensions["errorId"], error
        # Masked: no internals of the failure leak out.
        assert "insert" not in str(error).lower(), error


async def test_ecg_document_holds_no_samples_and_stays_small(api: Api) -> None:
    ecg = load_recording("ptb_s0010_wfdb.json")
    assert len(ecg["leads"]) == 12
    assert {len(lead["signal"]) for lead in ecg["leads"]} == {38400}
    result = await api.upload({**ecg, "id": "ptb"}, await api.user_token())
    assert result["__typename"] == "Ecg", result

    [document] = await ecg_documents()
    assert len(bson.encode(document)) < SMALL_DOCUMENT_BYTES
    stored = EcgDocument.model_validate(document)
    assert [(m.name, m.number_of_samples) for m in stored.leads] == [
        (lead["name"], 38400) for lead in ecg["leads"]
    ]

    # The samples are in the chunk collection, packed, and decode to the upload.
    chunks = await chunk_documents({"signal_id": stored.signal_id})
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert len(bson.encode(chunk)) < MONGODB_DOCUMENT_LIMIT // 2
    for index, lead in enumerate(ecg["leads"]):
        meta = stored.leads[index]
        assert meta.dtype == ("<i2" if max(map(abs, lead["signal"])) < 2**15 else "<i4")
        data = b"".join(lead_bytes(chunks, index))
        assert np.frombuffer(data, dtype=meta.dtype).tolist() == lead["signal"]


async def test_int16_when_a_lead_fits_else_int32(api: Api) -> None:
    leads = {
        "fits": [-32768, 0, 32767],
        "above": [32768, -5],
        "below": [-32769],
        "extremes": [-(2**31), 2**31 - 1, 0],
        "small": [1, -1, 0, 7],
    }
    ecg = {
        "id": "widths",
        "date": "2024-01-02",
        "leads": [{"name": name, "signal": signal} for name, signal in leads.items()],
    }
    result = await api.upload(ecg, await api.user_token())
    assert result["__typename"] == "Ecg", result

    [document] = await ecg_documents()
    stored = EcgDocument.model_validate(document)
    widths = {"fits": 2, "above": 4, "below": 4, "extremes": 4, "small": 2}
    assert [m.dtype for m in stored.leads] == [
        "<i2" if widths[name] == 2 else "<i4" for name in leads
    ]
    chunks = await chunk_documents({"signal_id": stored.signal_id})
    for index, (name, signal) in enumerate(leads.items()):
        [data] = lead_bytes(chunks, index)
        assert len(data) == widths[name] * len(signal), name
        assert np.frombuffer(data, dtype=stored.leads[index].dtype).tolist() == signal


async def test_a_long_lead_is_split_into_chunks(api: Api) -> None:
    length = 600_000
    rng = np.random.default_rng(7)
    signal = rng.integers(-3000, 3000, size=length).tolist()
    short = [5, -5, 0]
    ecg = {
        "id": "long",
        "date": "2024-01-02",
        "leads": [{"name": "I", "signal": signal}, {"name": "II", "signal": short}],
    }
    result = await api.upload(ecg, await api.user_token())
    assert result["__typename"] == "Ecg", result

    [document] = await ecg_documents()
    assert len(bson.encode(document)) < SMALL_DOCUMENT_BYTES
    stored = EcgDocument.model_validate(document)
    assert [m.dtype for m in stored.leads] == ["<i2", "<i2"]
    per_chunk = stored.leads[0].chunk_samples
    assert per_chunk < length // 2
    chunks = await chunk_documents({"signal_id": stored.signal_id})
    assert [c["seq"] for c in chunks] == list(range(-(-length // per_chunk)))
    pieces = lead_bytes(chunks, 0)
    assert [len(p) for p in pieces[:-1]] == [2 * per_chunk] * (len(pieces) - 1)
    assert np.frombuffer(b"".join(pieces), dtype="<i2").tolist() == signal
    assert np.frombuffer(b"".join(lead_bytes(chunks, 1)), dtype="<i2").tolist() == short
    for chunk in chunks:
        assert len(bson.encode(chunk)) < MONGODB_DOCUMENT_LIMIT // 2


def failing_upload(windows: int) -> tuple[dict[str, Any], list[list[int]]]:
    """An upload that the service stores as `windows` chunk documents (int32 leads)."""
    short = [[40_000 * (i + 1), -(i + 1)] for i in range(MAX_LEADS - 1)]
    per_chunk = window_samples(["<i4"] * MAX_LEADS)
    long = [(-1) ** i * 40_000 for i in range((windows - 1) * per_chunk + 1)]
    signals = [*short, long]
    ecg = {
        "id": "rec-1",
        "date": "2024-01-02T10:00:00Z",
        "samplingRate": 250,
        "leads": [{"name": f"L{i}", "signal": s} for i, s in enumerate(signals)],
    }
    return ecg, signals


@pytest.mark.parametrize(
    ("windows", "skip"),
    [
        (1, 0),  # the only chunk insert fails
        (1, 1),  # the chunks are written, the ECG document insert fails
        (2 * INSERT_BATCH + 1, 1),  # the second chunk batch fails after the first is written
        (2 * INSERT_BATCH + 1, 2),  # the third chunk batch fails after two are written
        (2 * INSERT_BATCH + 1, 3),  # every chunk is written, the ECG document insert fails
    ],
)
async def test_a_failed_write_leaves_nothing_behind(api: Api, windows: int, skip: int) -> None:
    token = await api.user_token()
    ecg, signals = failing_upload(windows)
    # One insert per batch of chunks, then one for the ECG document: `skip` lands inside.
    assert skip <= -(-windows // INSERT_BATCH)

    async with failing_insert(skip):
        response = await api.post(UPLOAD, {"input": ecg}, token=token)
    assert response.status_code == 200, response.text
    assert_failed_upload(response.json())

    assert await ecg_documents() == []
    assert await chunk_documents() == []
    listing = await api.gql("{ ecgs { totalCount edges { node { id } } } }", token=token)
    assert listing == {"data": {"ecgs": {"totalCount": 0, "edges": []}}}
    assert await api.gql(READ, {"id": "rec-1"}, token=token) == {"data": {"ecg": None}}

    # The same upload goes through afterwards, complete.
    result = await api.upload(ecg, token)
    assert result["__typename"] == "Ecg", result
    read = await api.gql(READ, {"id": "rec-1"}, token=token)
    assert [lead["signal"] for lead in read["data"]["ecg"]["leads"]] == signals
    assert len(await ecg_documents()) == 1
    # The upload really spans the chunks (and so the insert batches) the case assumes.
    assert len(await chunk_documents()) == windows

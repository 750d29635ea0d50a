"""Measurements, beats, per-lead insights and units through GraphQL, as a frontend reads them,
checked against the Mortara device's own measurements (tests/data, device annotations)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecg_graphql.db.documents import EcgDocument
from tests.harness import TEST_DATA, Api, load_recording

READ = """
query($id: ID!, $offset: Int! = 0, $limit: Int) {
  ecg(id: $id) {
    analysisStatus
    leads { name unitsPerMillivolt }
    insights { lead zeroCrossings min max mean rms quality }
    beats(offset: $offset, limit: $limit)
    measurements {
      beatCount heartRate rhythm prInterval qrsDuration qtInterval qtcBazett qtcFridericia
      qrsAxis tAxis rr { count meanMs medianMs minMs maxMs sdnnMs rmssdMs }
    }
  }
}
"""


def device(name: str) -> float:
    data = json.loads((TEST_DATA / "mortara_pydicom_12lead.annotations.json").read_text())
    return float(data["measurements"][name].split()[0])


async def read(api: Api, ecg_id: str, **variables: Any) -> dict[str, Any]:
    body = await api.gql(READ, {"id": ecg_id, **variables}, token=await api.user_token())
    assert "errors" not in body, body
    ecg: dict[str, Any] = body["data"]["ecg"]
    return ecg


async def test_mortara_measurements_match_the_device(api: Api) -> None:
    ecg = {**load_recording("mortara_pydicom_12lead.json"), "id": "m", "unitsPerMillivolt": 800}
    await api.uploaded(ecg)
    got = await read(api, "m")
    assert got["analysisStatus"] == "DONE"
    m = got["measurements"]
    # DESIGN.md's tolerances against the device (Mortara ELI 250) values.
    assert m["heartRate"] == pytest.approx(60000 / device("RR Interval"), abs=1)
    assert m["prInterval"] == pytest.approx(device("PR Interval"), abs=20)
    assert m["qrsDuration"] == pytest.approx(device("QRS Duration"), abs=15)
    assert m["qtInterval"] == pytest.approx(device("QT Interval"), abs=30)
    assert m["qrsAxis"] == pytest.approx(device("QRS Axis"), abs=20)
    assert m["tAxis"] == pytest.approx(device("T Axis"), abs=20)
    assert m["rhythm"] == "REGULAR"
    # The contract's formulas, from the answer's own figures.
    rr = m["rr"]
    assert m["beatCount"] == rr["count"] + 1 == len(got["beats"])
    assert m["heartRate"] == pytest.approx(60000 / rr["meanMs"])
    assert m["qtcBazett"] == pytest.approx(m["qtInterval"] / (rr["meanMs"] / 1000) ** 0.5)
    assert m["qtcFridericia"] == pytest.approx(m["qtInterval"] / (rr["meanMs"] / 1000) ** (1 / 3))
    assert rr["minMs"] <= rr["medianMs"] <= rr["maxMs"]
    # Beats ascending, within the recording, one per device-annotated QRS.
    beats = got["beats"]
    assert beats == sorted(beats)
    assert beats[0] >= 0
    assert beats[-1] < 10_000
    assert all(lead["unitsPerMillivolt"] == 800 for lead in got["leads"])
    for insight, lead in zip(got["insights"], ecg["leads"], strict=True):
        assert insight["quality"] == "GOOD"
        assert (insight["min"], insight["max"]) == (min(lead["signal"]), max(lead["signal"]))
        assert insight["mean"] == pytest.approx(sum(lead["signal"]) / len(lead["signal"]))
    # beats(offset, limit) count beats.
    assert (await read(api, "m", offset=2, limit=3))["beats"] == beats[2:5]
    assert (await read(api, "m", offset=len(beats)))["beats"] == []


async def test_without_sampling_rate_insights_but_no_measurements(api: Api) -> None:
    ecg = load_recording("mortara_pydicom_12lead.json")
    del ecg["samplingRate"]
    await api.uploaded({**ecg, "id": "n"})
    got = await read(api, "n")
    assert got["analysisStatus"] == "DONE"
    assert got["measurements"] is None
    assert got["beats"] == []
    # Without a rate only FLAT can be decided (README, "Per-lead quality"): these leads are not.
    assert [i["quality"] for i in got["insights"]] == [None] * 12
    assert all(i["min"] is not None and i["rms"] is not None for i in got["insights"])
    assert all(lead["unitsPerMillivolt"] is None for lead in got["leads"])


async def test_short_and_hostile_signals_never_fail_the_upload(api: Api) -> None:
    leads = [
        {"name": "I", "signal": [0] * 500},
        {"name": "II", "signal": [7]},
        {"name": "III", "signal": [0] * 250 + [2**31 - 1] * 250},
        {"name": "V1", "signal": [(-1) ** i * 2**30 for i in range(500)]},
    ]
    await api.uploaded({"id": "h", "date": "2024-01-01", "samplingRate": 250, "leads": leads})
    got = await read(api, "h")
    # No analysis raises on these (a raising one would read FAILED, the upload kept).
    assert got["analysisStatus"] == "DONE"
    assert got["measurements"] is not None
    assert got["insights"][0]["quality"] == "FLAT"


async def test_one_beat_gives_null_rate_and_rr(api: Api) -> None:
    spike = [0] * 400 + [1000, 2000, 1000] + [0] * 1097  # one QRS-like spike in 6 s at 250 Hz
    await api.uploaded(
        {
            "id": "one",
            "date": "2024-01-01",
            "samplingRate": 250,
            "leads": [{"name": "II", "signal": spike}],
        }
    )
    m = (await read(api, "one"))["measurements"]
    assert m is not None
    assert m["beatCount"] <= 1
    assert m["heartRate"] is None
    assert m["rr"] is None
    assert m["rhythm"] is None


async def test_lead_gain_overrides_the_ecg_gain(api: Api) -> None:
    leads = [
        {"name": "I", "signal": [1, 2, 3], "unitsPerMillivolt": 1000},
        {"name": "II", "signal": [1, 2, 3]},
    ]
    await api.uploaded({"id": "g", "date": "2024-01-01", "unitsPerMillivolt": 200, "leads": leads})
    assert [lead["unitsPerMillivolt"] for lead in (await read(api, "g"))["leads"]] == [1000, 200]


@pytest.mark.parametrize("gain", [0, -1, 1_000_000.5, 1e300])
async def test_bad_gains_are_reported_with_every_other_violation(api: Api, gain: float) -> None:
    ecg = {
        "date": "2024-01-01",
        "samplingRate": -1,
        "unitsPerMillivolt": gain,
        "leads": [
            {"name": "I", "signal": [1], "unitsPerMillivolt": gain},
            {"name": "II", "signal": [0.5]},
        ],
    }
    result = await api.upload(ecg, await api.user_token())
    assert result["__typename"] == "ValidationError"
    assert {f["field"] for f in result["fields"]} == {
        "samplingRate",
        "unitsPerMillivolt",
        "leads.0.unitsPerMillivolt",
        "leads.1.signal",
    }
    assert await EcgDocument.get_pymongo_collection().count_documents({}) == 0


async def test_an_ecg_stored_before_the_measurements_reads_pending(api: Api) -> None:
    await api.uploaded({**load_recording("mortara_pydicom_12lead.json"), "id": "old"})
    await EcgDocument.get_pymongo_collection().update_one(
        {"ecg_id": "old"}, {"$unset": {"analyses": "", "insights.quality": ""}}
    )
    got = await read(api, "old")
    assert got["analysisStatus"] == "PENDING"
    assert got["measurements"] is None
    assert got["beats"] == []
    assert all(i["quality"] is None and i["zeroCrossings"] >= 0 for i in got["insights"])

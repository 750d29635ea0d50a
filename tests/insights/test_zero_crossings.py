"""Zero crossings: the DESIGN.md table, random signals and the real recordings, against a
pure-Python reference, both on the analysis function and through an HTTP upload."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ecg_graphql.insights.zero_crossings import zero_crossings
from tests.harness import TEST_DATA, Api, load_recording
from tests.reference import reference_zero_crossings

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

# The table of DESIGN.md, "Zero crossings".
TABLE: list[tuple[list[int], int]] = [
    ([1, -1], 1),
    ([1, 0, -1], 1),
    ([1, 0, 1], 0),
    ([-1, 0, 0, 2], 1),
    ([0, 0, 0], 0),
    ([5], 0),
]

RECORDINGS = sorted(
    path.name for path in TEST_DATA.glob("*.json") if not path.name.endswith(".annotations.json")
)


def random_signals(seed: int) -> list[list[int]]:
    """Signals of many lengths and shapes: dense, sparse, mostly zero, at the int32 extremes."""
    rng = np.random.default_rng(seed)
    signals: list[list[int]] = []
    for length in (1, 2, 3, 4, 5, 7, 16, 31, 100, 257, 1000, 4097):
        signals.append(rng.integers(-5, 6, size=length).tolist())
        signals.append(rng.integers(INT32_MIN, INT32_MAX, size=length, endpoint=True).tolist())
        mostly_zero = rng.integers(-3, 4, size=length) * (rng.random(length) < 0.1)
        signals.append(mostly_zero.tolist())
        extremes = rng.choice(np.array([INT32_MIN, -1, 0, 1, INT32_MAX]), size=length)
        signals.append(extremes.tolist())
    signals.append([0] * 50)
    signals.append([INT32_MIN, INT32_MAX] * 10)
    signals.append([0, INT32_MAX, 0, 0, INT32_MIN, 0])
    return signals


RANDOM_SIGNALS = random_signals(20240102)

UPLOAD_INSIGHTS = """
mutation Upload($input: EcgInput!) {
  uploadEcg(input: $input) {
    __typename
    ... on Ecg { id leads { name numberOfSamples } insights { lead zeroCrossings } }
    ... on ValidationError { fields { field message } }
  }
}
"""

READ_INSIGHTS = """
query Read($id: ID!) { ecg(id: $id) { insights { lead zeroCrossings } } }
"""


def as_array(samples: Sequence[int], dtype: npt.DTypeLike = np.int64) -> npt.NDArray[np.integer]:
    array: npt.NDArray[np.integer] = np.asarray(samples, dtype=dtype)
    return array


async def upload_and_read_insights(api: Api, ecg: dict[str, Any]) -> list[dict[str, Any]]:
    """Uploads `ecg` as a fresh user; returns the insights of the answer, checked to match a
    later read of the same ECG."""
    token = await api.user_token("zc-user")
    body = await api.gql(UPLOAD_INSIGHTS, {"input": ecg}, token=token)
    assert "errors" not in body, body
    result = body["data"]["uploadEcg"]
    assert result["__typename"] == "Ecg", result
    insights: list[dict[str, Any]] = result["insights"]
    read = await api.gql(READ_INSIGHTS, {"id": result["id"]}, token=token)
    assert read == {"data": {"ecg": {"insights": insights}}}
    return insights


def test_reference_matches_the_design_table() -> None:
    for signal, expected in TABLE:
        assert reference_zero_crossings(signal) == expected, signal


@pytest.mark.parametrize(("signal", "expected"), TABLE)
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64])
def test_function_matches_the_design_table(
    signal: list[int], expected: int, dtype: npt.DTypeLike
) -> None:
    assert zero_crossings(as_array(signal, dtype)) == expected


def test_function_returns_a_plain_int() -> None:
    # Stored in BSON and returned as a GraphQL Int: a numpy integer would not serialise.
    assert type(zero_crossings(as_array([1, -1, 1]))) is int


def test_function_matches_reference_on_random_signals() -> None:
    for signal in RANDOM_SIGNALS:
        assert zero_crossings(as_array(signal)) == reference_zero_crossings(signal), signal[:20]


def test_function_matches_reference_in_int32_storage() -> None:
    # Leads that need int32 storage are analysed the same as int64 ones.
    for signal in RANDOM_SIGNALS:
        expected = reference_zero_crossings(signal)
        assert zero_crossings(as_array(signal, np.int32)) == expected


def test_recordings_are_present() -> None:
    # The parametrised tests below would silently vanish without the data.
    assert len(RECORDINGS) >= 4, RECORDINGS


@pytest.mark.parametrize("name", RECORDINGS)
def test_function_matches_reference_on_real_recordings(name: str) -> None:
    data = json.loads((TEST_DATA / name).read_text())
    assert data["leads"]
    for lead in data["leads"]:
        signal = lead["signal"]
        assert zero_crossings(as_array(signal)) == reference_zero_crossings(signal), lead["name"]


async def test_design_table_through_http(api: Api) -> None:
    ecg = {
        "date": "2024-01-02T10:00:00Z",
        "leads": [{"name": f"t{i}", "signal": signal} for i, (signal, _) in enumerate(TABLE)],
    }
    insights = await upload_and_read_insights(api, ecg)
    assert insights == [
        {"lead": f"t{i}", "zeroCrossings": expected} for i, (_, expected) in enumerate(TABLE)
    ]


async def test_random_signals_through_http(api: Api) -> None:
    # At most 64 leads per ECG: send the random signals in groups.
    for start in range(0, len(RANDOM_SIGNALS), 64):
        group = RANDOM_SIGNALS[start : start + 64]
        ecg = {
            "date": "2024-01-02T10:00:00Z",
            "leads": [{"name": f"r{i}", "signal": signal} for i, signal in enumerate(group)],
        }
        insights = await upload_and_read_insights(api, ecg)
        assert insights == [
            {"lead": f"r{i}", "zeroCrossings": reference_zero_crossings(signal)}
            for i, signal in enumerate(group)
        ]


@pytest.mark.parametrize("name", RECORDINGS)
async def test_real_recordings_through_http(api: Api, name: str) -> None:
    ecg = load_recording(name)
    insights = await upload_and_read_insights(api, ecg)
    assert insights == [
        {"lead": lead["name"], "zeroCrossings": reference_zero_crossings(lead["signal"])}
        for lead in ecg["leads"]
    ]

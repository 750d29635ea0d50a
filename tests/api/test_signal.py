"""Lead.signal(offset, limit) over HTTP: whole leads, slices equal to Python slicing, argument
bounds, int32 leads and leads spanning several storage chunks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ecg_graphql.db.documents import EcgDocument
from tests.harness import Api

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_SLICE = 1_000_000
# Aliases per request stay under the server's alias limit.
ALIASES_PER_REQUEST = 20

UPLOAD = """
mutation Upload($input: EcgInput!) {
  uploadEcg(input: $input) { __typename ... on Ecg { id leads { name numberOfSamples } } }
}
"""
FULL = "query($id: ID!) { ecg(id: $id) { leads { name numberOfSamples signal } } }"

Slice = tuple[int, int | None]  # (offset, limit): limit None means the argument is left out


async def uploaded_id(api: Api, ecg: dict[str, Any]) -> str:
    ecg_id: str = (await api.uploaded(ecg))["id"]
    return ecg_id


async def read_slices(api: Api, ecg_id: str, lead: int, slices: list[Slice]) -> list[list[int]]:
    """The samples of each (offset, limit) of one lead, several slices per request."""
    out: list[list[int]] = []
    token = await api.user_token()
    for start in range(0, len(slices), ALIASES_PER_REQUEST):
        group = slices[start : start + ALIASES_PER_REQUEST]
        fields = " ".join(
            f"s{i}: signal(offset: {offset}" + ("" if limit is None else f", limit: {limit}") + ")"
            for i, (offset, limit) in enumerate(group)
        )
        body = await api.gql(
            f"query($id: ID!) {{ ecg(id: $id) {{ leads {{ {fields} }} }} }}",
            {"id": ecg_id},
            token=token,
        )
        assert "errors" not in body, body
        lead_data = body["data"]["ecg"]["leads"][lead]
        out += [lead_data[f"s{i}"] for i in range(len(group))]
    return out


def expected(signal: list[int], offset: int, limit: int | None) -> list[int]:
    """DESIGN.md: [offset, offset+limit); no limit means the rest, at most 1,000,000."""
    return signal[offset : offset + (MAX_SLICE if limit is None else limit)]


async def check_slices(
    api: Api, ecg_id: str, lead: int, signal: list[int], slices: list[Slice]
) -> None:
    got = await read_slices(api, ecg_id, lead, slices)
    for (offset, limit), samples in zip(slices, got, strict=True):
        assert samples == expected(signal, offset, limit), (offset, limit)


async def test_full_signal_equals_the_upload(api: Api) -> None:
    rng = np.random.default_rng(1)
    signals = {
        "I": rng.integers(-2000, 2000, size=5000).tolist(),
        "aVR": [0],
        "V1": [-1, 0, 1] * 100,
        "wide": rng.integers(INT32_MIN, INT32_MAX, size=777, endpoint=True).tolist(),
    }
    ecg_id = await uploaded_id(
        api,
        {"date": "2024-01-02", "leads": [{"name": n, "signal": s} for n, s in signals.items()]},
    )
    body = await api.gql(FULL, {"id": ecg_id}, token=await api.user_token())
    assert body == {
        "data": {
            "ecg": {
                "leads": [
                    {"name": n, "numberOfSamples": len(s), "signal": s} for n, s in signals.items()
                ]
            }
        }
    }


async def test_random_slices_equal_python_slicing(api: Api) -> None:
    rng = np.random.default_rng(2)
    first = rng.integers(-500, 500, size=1000).tolist()
    second = rng.integers(-500, 500, size=37).tolist()
    ecg_id = await uploaded_id(
        api,
        {
            "date": "2024-01-02",
            "leads": [{"name": "I", "signal": first}, {"name": "II", "signal": second}],
        },
    )
    for lead, signal in ((0, first), (1, second)):
        n = len(signal)
        slices: list[Slice] = [
            (0, None),
            (0, 0),
            (0, 1),
            (0, n),
            (0, n + 1),
            (n - 1, 1),
            (n - 1, None),
            (n, None),
            (n, 5),
            (n + 1, None),
            (n + 1000, 10),
            (10**9, MAX_SLICE),
            (5, 0),
            (0, MAX_SLICE),
            (n // 2, None),
        ]
        for _ in range(40):
            offset = int(rng.integers(0, n + 20))
            limit = None if rng.random() < 0.2 else int(rng.integers(0, n + 20))
            slices.append((offset, limit))
        await check_slices(api, ecg_id, lead, signal, slices)


@pytest.mark.parametrize(
    "arguments",
    [
        "offset: -1",
        "limit: -1",
        "offset: -5, limit: 3",
        "offset: 0, limit: 1000001",
        "limit: 2147483647",
        "offset: -2147483648",
    ],
)
async def test_out_of_range_arguments_are_bad_user_input(api: Api, arguments: str) -> None:
    ecg_id = await uploaded_id(
        api, {"date": "2024-01-02", "leads": [{"name": "I", "signal": [1, 2]}]}
    )
    body = await api.gql(
        f"query($id: ID!) {{ ecg(id: $id) {{ id leads {{ signal({arguments}) }} }} }}",
        {"id": ecg_id},
        token=await api.user_token(),
    )
    errors = body.get("errors")
    assert errors, body
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], body
    assert errors[0]["message"] != "Unexpected error.", body


async def test_out_of_range_arguments_as_variables(api: Api) -> None:
    ecg_id = await uploaded_id(
        api, {"date": "2024-01-02", "leads": [{"name": "I", "signal": [1, 2]}]}
    )
    query = (
        "query($id: ID!, $o: Int!, $l: Int) "
        "{ ecg(id: $id) { leads { signal(offset: $o, limit: $l) } } }"
    )
    token = await api.user_token()
    for offset, limit in ((-1, None), (0, -1), (0, MAX_SLICE + 1)):
        body = await api.gql(query, {"id": ecg_id, "o": offset, "l": limit}, token=token)
        assert [e["extensions"]["code"] for e in body.get("errors") or []] == ["BAD_USER_INPUT"], (
            body
        )
    body = await api.gql(query, {"id": ecg_id, "o": 1, "l": MAX_SLICE}, token=token)
    assert body == {"data": {"ecg": {"leads": [{"signal": [2]}]}}}


async def test_int32_lead_round_trips(api: Api) -> None:
    rng = np.random.default_rng(3)
    signal = [INT32_MAX, INT32_MIN, 32768, -32769, 0, 1, -1, 40000, -40000]
    signal += rng.integers(INT32_MIN, INT32_MAX, size=991, endpoint=True).tolist()
    small = [32767, -32768, 0, 5]
    ecg_id = await uploaded_id(
        api,
        {
            "date": "2024-01-02",
            "leads": [{"name": "I", "signal": signal}, {"name": "II", "signal": small}],
        },
    )
    body = await api.gql(FULL, {"id": ecg_id}, token=await api.user_token())
    leads = body["data"]["ecg"]["leads"]
    assert [lead["signal"] for lead in leads] == [signal, small]
    await check_slices(
        api, ecg_id, 0, signal, [(0, 2), (1, 1), (3, 4), (990, None), (999, 1), (500, 17)]
    )


async def chunk_samples(ecg_id: str) -> list[int]:
    """How many samples of each lead one storage chunk holds, as stored for this ECG."""
    document = await EcgDocument.find_one({"ecg_id": ecg_id})
    assert document is not None
    return [meta.chunk_samples for meta in document.leads]


async def test_leads_longer_than_a_chunk(api: Api) -> None:
    # Two leads across chunk boundaries: one stored as int16, one as int32.
    length = 600_000
    rng = np.random.default_rng(4)
    narrow = rng.integers(-999, 1000, size=length).tolist()
    wide = rng.integers(-99_999, 100_000, size=length).tolist()
    wide[:2] = [INT32_MAX, INT32_MIN]
    wide[-2:] = [INT32_MIN, INT32_MAX]
    ecg_id = await uploaded_id(
        api,
        {
            "date": "2024-01-02",
            "leads": [
                {"name": "I", "numberOfSamples": length, "signal": narrow},
                {"name": "II", "numberOfSamples": length, "signal": wide},
            ],
        },
    )
    [c, c_wide] = await chunk_samples(ecg_id)
    assert c == c_wide
    # At least three chunks per lead, or the boundaries below prove nothing.
    assert length > 2 * c
    slices: list[Slice] = [
        (0, None),  # the whole lead, three chunks
        (c - 1, 2),  # one sample each side of the first boundary
        (c - 1, 1),
        (c, 1),
        (c - 10, 20),
        (2 * c - 1, 2),
        (c - 1, c + 2),  # from the end of chunk 0 to the start of chunk 2
        (2 * c, None),
        (length - 1, None),
        (length - 5, 100),
        (length, None),
    ]
    for boundary in (c, 2 * c):
        for _ in range(4):
            offset = boundary + int(rng.integers(-3000, 3000))
            slices.append((offset, int(rng.integers(0, 6000))))
    await check_slices(api, ecg_id, 0, narrow, slices)
    await check_slices(api, ecg_id, 1, wide, slices)


async def test_default_limit_is_one_million(api: Api) -> None:
    length = MAX_SLICE + 1234
    rng = np.random.default_rng(5)
    signal = rng.integers(-9, 10, size=length).tolist()
    ecg_id = await uploaded_id(
        api, {"date": "2024-01-02", "leads": [{"name": "I", "signal": signal}]}
    )
    await check_slices(
        api,
        ecg_id,
        0,
        signal,
        [(0, None), (MAX_SLICE, None), (1, None), (length - MAX_SLICE, None), (999_999, 5)],
    )
    [whole] = await read_slices(api, ecg_id, 0, [(0, None)])
    assert len(whole) == MAX_SLICE

"""Packing: narrowest little-endian dtype, bounded windows, and exact slices back."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from ecg_graphql.ecgs.packing import (
    INT16,
    INT32,
    MAX_WINDOW_SAMPLES,
    WINDOW_BYTES,
    narrowest_dtype,
    pack_windows,
    unpack_slice,
    window_range,
    window_samples,
)

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MONGODB_DOCUMENT_LIMIT = 16 * 1024 * 1024
MAX_LEADS = 64


def array(values: list[int]) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        ([0], INT16),
        ([-32768, 32767], INT16),
        ([-32768], INT16),
        ([32767], INT16),
        ([32768], INT32),
        ([-32769], INT32),
        ([0, 0, 32768], INT32),
        ([INT32_MIN, INT32_MAX], INT32),
    ],
)
def test_narrowest_dtype(values: list[int], dtype: str) -> None:
    assert narrowest_dtype(array(values)) == dtype


def test_packing_is_little_endian() -> None:
    windows = list(pack_windows([array([1, -2]), array([1, -2])], [INT16, INT32], 8))
    assert windows == [(0, {"0": b"\x01\x00\xfe\xff", "1": b"\x01\x00\x00\x00\xfe\xff\xff\xff"})]


@pytest.mark.parametrize(
    "dtypes",
    [[INT16], [INT32], [INT16] * 12, [INT32] * 12, [INT32] * MAX_LEADS, [INT16, INT32] * 32],
)
def test_a_window_stays_far_below_the_document_limit(dtypes: list[str]) -> None:
    window = window_samples(dtypes)
    assert 1 <= window <= MAX_WINDOW_SAMPLES
    row = sum(np.dtype(d).itemsize for d in dtypes)
    # Every lead's piece of one window together: the document never nears MongoDB's 16 MB.
    assert window * row <= WINDOW_BYTES <= MONGODB_DOCUMENT_LIMIT // 2


def test_windows_hold_each_lead_until_it_ends() -> None:
    leads = [np.arange(10, dtype=np.int64), np.arange(3, dtype=np.int64), -np.arange(7)]
    dtypes = [INT16, INT32, INT16]
    windows = list(pack_windows(leads, dtypes, 4))
    assert [seq for seq, _ in windows] == [0, 1, 2]
    assert [sorted(data) for _, data in windows] == [["0", "1", "2"], ["0", "2"], ["0"]]
    assert [{k: len(v) for k, v in data.items()} for _, data in windows] == [
        {"0": 8, "1": 12, "2": 8},
        {"0": 8, "2": 6},
        {"0": 4},
    ]
    for index, (samples, dtype) in enumerate(zip(leads, dtypes, strict=True)):
        joined = b"".join(data.get(str(index), b"") for _, data in windows)
        assert np.frombuffer(joined, dtype=dtype).tolist() == samples.tolist()


@pytest.mark.parametrize(
    ("dtype", "low", "high"), [(INT16, -(2**15), 2**15 - 1), (INT32, INT32_MIN, INT32_MAX)]
)
@pytest.mark.parametrize("window", [1, 3, 7, 16, 64])
def test_every_slice_unpacks_exactly(dtype: str, low: int, high: int, window: int) -> None:
    rng = np.random.default_rng(window)
    samples = rng.integers(low, high, size=40, endpoint=True, dtype=np.int64)
    samples[:2] = [low, high]
    other = rng.integers(-5, 5, size=11, dtype=np.int64)
    windows = list(pack_windows([other, samples], [INT16, dtype], window))
    pieces = [data["1"] for _, data in windows]
    expected = samples.tolist()
    for offset in range(len(expected)):
        for end in range(offset + 1, len(expected) + 1):
            first, last = window_range(offset, end, window)
            # Only the windows holding the slice: the first holds `offset`, the last `end - 1`.
            assert first * window <= offset < (first + 1) * window
            assert last * window < end <= (last + 1) * window
            got = unpack_slice(pieces[first : last + 1], dtype, first, offset, end, window)
            assert got.dtype == np.int64
            assert got.tolist() == expected[offset:end], (offset, end)

"""Packing samples as little-endian int16 (when a lead fits) or int32, in windows.

A window holds samples [seq*W, (seq+1)*W) of every lead of an ECG in one document, so a
12-lead upload is one small write, while a long lead still spreads over many documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

INT16 = "<i2"
INT32 = "<i4"
# A window document stays near 4 MiB (MongoDB caps documents at 16 MB) ...
WINDOW_BYTES = 4 * 1024 * 1024
# ... and never spans more than this many samples of a lead, so slices read little.
MAX_WINDOW_SAMPLES = 256 * 1024


def narrowest_dtype(samples: npt.NDArray[np.integer]) -> str:
    """int16 when every sample fits, else int32 (validation guarantees the int32 range)."""
    if int(samples.min()) >= -(2**15) and int(samples.max()) < 2**15:
        return INT16
    return INT32


def window_samples(dtypes: Sequence[str]) -> int:
    """Samples per window for leads of these dtypes: all leads of a window fit WINDOW_BYTES."""
    row_bytes = sum(np.dtype(d).itemsize for d in dtypes)
    return max(1, min(MAX_WINDOW_SAMPLES, WINDOW_BYTES // max(1, row_bytes)))


def pack_windows(
    leads: Sequence[npt.NDArray[np.integer]], dtypes: Sequence[str], window: int
) -> Iterator[tuple[int, dict[str, bytes]]]:
    """(seq, {lead index: packed bytes}) for each window; a lead absent once it has ended."""
    packed = [samples.astype(dtype) for samples, dtype in zip(leads, dtypes, strict=True)]
    longest = max((len(p) for p in packed), default=0)
    for seq, start in enumerate(range(0, longest, window)):
        yield seq, {
            str(i): p[start : start + window].tobytes()
            for i, p in enumerate(packed)
            if start < len(p)
        }


def window_range(offset: int, end: int, window: int) -> tuple[int, int]:
    """First and last window numbers holding samples [offset, end), end > offset."""
    return offset // window, (end - 1) // window


def unpack_slice(
    pieces: Sequence[bytes], dtype: str, first_window: int, offset: int, end: int, window: int
) -> npt.NDArray[np.int64]:
    """Samples [offset, end) of one lead from its pieces in consecutive windows."""
    joined = np.frombuffer(b"".join(pieces), dtype=dtype)
    base = first_window * window
    return joined[offset - base : end - base].astype(np.int64)

"""The stored form of integer-array results (beat positions), read back by the analyses that
build on them and by the API.

Packed as little-endian int32 bytes: the database handles a list value by value, and a
24 h recording has some 100,000 beats. As a list they made reading its ECG document cost
the embedded database ~29 ms (0.8 ms as bytes), on every read of the ECG and on every
listing page it is on. Sample positions always fit: an ECG has at most 100 M samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

PACKED_INTS = np.dtype("<i4")
_INT32 = np.iinfo(np.int32)


def packed(values: npt.NDArray[Any]) -> bytes | None:
    """A 1-D integer array as packed bytes; None when it is not one or a value does not fit."""
    if values.ndim != 1 or values.dtype.kind not in "iu":
        return None
    if values.size and (int(values.min()) < _INT32.min or int(values.max()) > _INT32.max):
        return None
    return values.astype(PACKED_INTS).tobytes()


def stored_ints(value: object) -> npt.NDArray[np.int64] | None:
    """A stored integer-array result (packed bytes, or a list as stored before packing) as
    an array; None for anything else (missing, failed, null)."""
    if isinstance(value, bytes) and len(value) % PACKED_INTS.itemsize == 0:
        return np.frombuffer(value, dtype=PACKED_INTS).astype(np.int64)
    if isinstance(value, list) and all(type(v) is int for v in value):
        return np.asarray(value, dtype=np.int64).reshape(-1)
    return None


def stored_count(value: object) -> int:
    """How many integers a stored integer-array result holds (0 for anything else)."""
    if isinstance(value, bytes):
        return len(value) // PACKED_INTS.itemsize
    return len(value) if isinstance(value, list) else 0

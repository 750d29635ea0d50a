"""Packing samples as little-endian int16 (when a lead fits) or int32, in fixed-size chunks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

# Samples per chunk: 512 KiB as int16, 1 MiB as int32, far below MongoDB's 16 MB document cap.
CHUNK_SAMPLES = 256 * 1024
INT16 = "<i2"
INT32 = "<i4"


def narrowest_dtype(samples: npt.NDArray[np.int64]) -> str:
    """int16 when every sample fits, else int32 (validation guarantees the int32 range)."""
    if int(samples.min()) >= -(2**15) and int(samples.max()) < 2**15:
        return INT16
    return INT32


def pack_chunks(
    samples: npt.NDArray[np.int64], dtype: str, chunk_samples: int = CHUNK_SAMPLES
) -> Iterator[bytes]:
    """The lead's samples as packed byte chunks of `chunk_samples` samples (the last shorter)."""
    packed = samples.astype(dtype)
    for start in range(0, len(packed), chunk_samples):
        yield packed[start : start + chunk_samples].tobytes()


def chunk_range(offset: int, end: int, chunk_samples: int) -> tuple[int, int]:
    """First and last chunk numbers holding samples [offset, end), end > offset."""
    return offset // chunk_samples, (end - 1) // chunk_samples


def unpack_slice(
    chunks: Sequence[bytes], dtype: str, first_chunk: int, offset: int, end: int, chunk_samples: int
) -> npt.NDArray[np.int64]:
    """Samples [offset, end) from consecutive chunks starting at chunk `first_chunk`."""
    joined = np.frombuffer(b"".join(chunks), dtype=dtype)
    base = first_chunk * chunk_samples
    return joined[offset - base : end - base].astype(np.int64)

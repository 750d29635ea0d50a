"""Independent reference implementations the analyses are checked against."""

from __future__ import annotations

from collections.abc import Sequence


def reference_zero_crossings(samples: Sequence[int]) -> int:
    """DESIGN.md's definition read literally, in plain Python: skip zeros, count sign
    changes between consecutive non-zero samples."""
    count = 0
    previous_negative: bool | None = None
    for value in samples:
        if value == 0:
            continue
        negative = value < 0
        if previous_negative is not None and negative != previous_negative:
            count += 1
        previous_negative = negative
    return count

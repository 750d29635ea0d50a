"""Zero crossings: changes of strict sign between consecutive non-zero samples."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ecg_graphql.insights.signals import LeadInfo, LeadSignal

VERSION = 1


def zero_crossings(signal: npt.NDArray[np.integer]) -> int:
    """Count sign changes between consecutive non-zero samples; zeros are skipped.

    [1,-1] -> 1, [1,0,-1] -> 1, [1,0,1] -> 0, [-1,0,0,2] -> 1, [0,0,0] -> 0, [5] -> 0.
    """
    counter = Counter()
    counter.add(signal)
    return counter.result()


class Counter:
    """Zero crossings of a lead fed a block at a time: the count inside each block plus the
    crossing, if any, between the last non-zero sample before it and its first."""

    def __init__(self) -> None:
        self._count = 0
        self._negative: bool | None = None  # the sign of the last non-zero sample seen

    def add(self, block: npt.NDArray[np.integer]) -> None:
        """Take the next samples of the lead."""
        negative = (block < 0)[block != 0]
        if negative.size == 0:
            return
        if self._negative is not None and bool(negative[0]) != self._negative:
            self._count += 1
        self._count += int(np.count_nonzero(negative[1:] != negative[:-1]))
        self._negative = bool(negative[-1])

    def result(self) -> int:
        """Zero crossings of every sample added so far."""
        return self._count


def of_lead(lead: LeadSignal) -> int:
    """The registry's entry point: zero crossings of one lead."""
    return zero_crossings(lead.samples)


def counter(lead: LeadInfo) -> Counter:
    """The registry's streaming entry point (`Counter`)."""
    return Counter()

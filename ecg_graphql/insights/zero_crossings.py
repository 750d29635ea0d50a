"""Zero crossings: changes of strict sign between consecutive non-zero samples."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ecg_graphql.insights.signals import LeadSignal

VERSION = 1


def zero_crossings(signal: npt.NDArray[np.integer]) -> int:
    """Count sign changes between consecutive non-zero samples; zeros are skipped.

    [1,-1] -> 1, [1,0,-1] -> 1, [1,0,1] -> 0, [-1,0,0,2] -> 1, [0,0,0] -> 0, [5] -> 0.
    """
    negative = (signal < 0)[signal != 0]
    return int(np.count_nonzero(negative[1:] != negative[:-1]))


def of_lead(lead: LeadSignal) -> int:
    """The registry's entry point: zero crossings of one lead."""
    return zero_crossings(lead.samples)

"""Amplitude of one lead: minimum, maximum, mean and root mean square, in its own units."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecg_graphql.insights.signals import LeadSignal

VERSION = 1

# Long leads are summed a block at a time so memory stays bounded whatever the length.
_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class Amplitude:
    """Amplitude statistics in the lead's own integer units (divide by units_per_mv for mV)."""

    min: int
    max: int
    mean: float
    rms: float


def amplitude(lead: LeadSignal) -> Amplitude:
    """Min, max, mean and RMS of every sample of the lead, exact for the whole int32 range.

    Raises ValueError for a lead without samples (uploads never have one).
    """
    samples = lead.samples
    count = int(samples.size)
    if count == 0:
        raise ValueError(f"lead {lead.name} has no samples")
    total = 0.0
    squares = 0.0
    for start in range(0, count, _BLOCK):
        block = samples[start : start + _BLOCK].astype(np.float64)
        total += float(block.sum())
        squares += float(np.dot(block, block))
    return Amplitude(
        min=int(samples.min()),
        max=int(samples.max()),
        mean=total / count,
        rms=math.sqrt(squares / count),
    )

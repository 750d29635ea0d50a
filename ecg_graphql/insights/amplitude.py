"""Amplitude of one lead: minimum, maximum, mean and root mean square, in its own units."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg_graphql.insights.signals import LeadInfo, LeadSignal

VERSION = 1

# Sums are taken a block at a time so memory stays bounded whatever the length; a stream
# fed in blocks of this size (aligned) sums in exactly the same order as the whole lead.
BLOCK = 1 << 20


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
    accumulator = Accumulator(lead.name)
    accumulator.add(lead.samples)
    return accumulator.result()


class Accumulator:
    """Amplitude of a lead fed a block at a time: min and max exact whatever the blocks;
    the float64 sums are exactly those of `amplitude` when the blocks are `BLOCK` long (the
    last may be shorter), else equal to float rounding."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._count = 0
        self._min: int | None = None
        self._max: int | None = None
        self._total = 0.0
        self._squares = 0.0

    def add(self, block: npt.NDArray[np.integer]) -> None:
        """Take the next samples of the lead."""
        if block.size == 0:
            return
        low, high = int(block.min()), int(block.max())
        self._min = low if self._min is None else min(self._min, low)
        self._max = high if self._max is None else max(self._max, high)
        self._count += int(block.size)
        for start in range(0, int(block.size), BLOCK):
            part = block[start : start + BLOCK].astype(np.float64)
            self._total += float(part.sum())
            self._squares += float(np.dot(part, part))

    def result(self) -> Amplitude:
        """Amplitude of every sample added so far; ValueError when there was none."""
        if self._min is None or self._max is None:
            raise ValueError(f"lead {self._name} has no samples")
        return Amplitude(
            min=self._min,
            max=self._max,
            mean=self._total / self._count,
            rms=math.sqrt(self._squares / self._count),
        )


def accumulator(lead: LeadInfo) -> Accumulator:
    """The registry's streaming entry point (`Accumulator`)."""
    return Accumulator(lead.name)

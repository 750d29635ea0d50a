"""The input of every renderer: one ECG as plain values, independent of storage and transport."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

# Measurement keys and their units (heart rate per minute, intervals in ms, axes in degrees).
# `rhythm` is a label (e.g. "sinus"), the others numbers; any of them may be None (not measured).
MEASUREMENT_UNITS: Mapping[str, str] = {
    "heart_rate": "/min",
    "pr_interval": "ms",
    "qrs_duration": "ms",
    "qt_interval": "ms",
    "qtc_bazett": "ms",
    "qtc_fridericia": "ms",
    "qrs_axis": "deg",
    "t_axis": "deg",
    "rhythm": "",
}

Measurement = float | str | None


@dataclass(frozen=True, slots=True)
class RecordLead:
    """One lead: integer samples where 0 is 0 mV, and how many of them make a millivolt."""

    name: str
    samples: npt.NDArray[np.integer]
    units_per_mv: float | None  # counts per millivolt; None when unknown

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a lead needs a name")
        if self.samples.ndim != 1 or not np.issubdtype(self.samples.dtype, np.integer):
            raise ValueError(f"lead {self.name}: samples must be a 1-D integer array")
        if self.units_per_mv is not None and not (
            math.isfinite(self.units_per_mv) and self.units_per_mv > 0
        ):
            raise ValueError(f"lead {self.name}: units_per_mv must be positive and finite")


@dataclass(frozen=True, slots=True)
class EcgRecord:
    """An ECG as the renderers see it.

    `measurements` uses the keys of `MEASUREMENT_UNITS` (None: the measurements are not
    available at all); `zero_crossings` (per lead name) is what the page header shows instead
    until measurements exist.
    """

    id: str
    date: datetime  # timezone-aware
    sampling_rate: float | None  # Hz; None when the upload did not say
    leads: tuple[RecordLead, ...]
    measurements: Mapping[str, Measurement] | None = None
    zero_crossings: Mapping[str, int] = field(default_factory=dict)
    # Samples of the longest lead as recorded, when `leads` hold only its beginning (a plot
    # page of a long ECG); None: the leads are whole.
    recorded_samples: int | None = None

    def __post_init__(self) -> None:
        if self.date.tzinfo is None or self.date.utcoffset() is None:
            raise ValueError("date must be timezone-aware")
        if self.sampling_rate is not None and not (
            math.isfinite(self.sampling_rate) and self.sampling_rate > 0
        ):
            raise ValueError("sampling_rate must be positive and finite")
        if not self.leads:
            raise ValueError("an ECG needs at least one lead")
        unknown = set(self.measurements or {}) - set(MEASUREMENT_UNITS)
        if unknown:
            raise ValueError(f"unknown measurements: {sorted(unknown)}")

    @property
    def longest(self) -> int:
        """The number of samples of the longest lead, as recorded."""
        held = max(len(lead.samples) for lead in self.leads)
        return held if self.recorded_samples is None else max(held, self.recorded_samples)

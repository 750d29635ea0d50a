"""Per-lead signal quality: GOOD, FLAT, CLIPPED or NOISY.

The rules, checked in this order (the first that holds wins):

FLAT
    The lead carries no signal: every sample is equal, or, when ``units_per_mv`` is known,
    the peak-to-peak range is under 0.05 mV.
CLIPPED
    The lead sits at its own minimum or its own maximum for a run of consecutive samples
    lasting longer than 50 ms: a saturated amplifier or ADC. A QRS peak touches its extreme
    for a sample or a few; that is not clipping.
NOISY
    Noise swamps the QRS. The lead is differenced over 10 ms (a high-pass that keeps the
    steep QRS slopes and drops baseline wander, P and T waves) and cut into 2 s windows. In
    each window the QRS-to-noise ratio is the largest absolute difference divided by the
    robust standard deviation of the differences (1.4826 x median absolute deviation).
    Between QRS complexes an ECG is smooth, so on a clean lead the ratio is large (9.6 to 86
    on the real leads in tests/data); for Gaussian white noise it is about 4. The lead is
    NOISY when the median ratio over its windows is under 6.
GOOD
    Otherwise.

Without a sampling rate only FLAT can be decided (it needs no time axis): the result is
FLAT or None (unknown), never a guess at the time-based rules.

Long leads are read a block at a time (`Accumulator`: the rules above decided in one pass,
and `quality` is that pass over the whole lead), and NOISY looks at no more than 64 windows
spread evenly over the lead, so time and memory stay bounded whatever the length. Block by
block, the verdict is exactly the whole lead's: the minimum and maximum are running ones,
and a run at the running minimum (maximum) is carried across block edges and forgotten
when a lower (higher) value appears, so the longest run at the lead's own extreme is what
remains at the end; the NOISY windows are placed from the lead's length, known before its
first sample, and copied as their samples go by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg_graphql.insights.signals import LeadInfo, LeadSignal

VERSION = 1

GOOD = "GOOD"
FLAT = "FLAT"
CLIPPED = "CLIPPED"
NOISY = "NOISY"

FLAT_PEAK_TO_PEAK_MV = 0.05
CLIPPED_RUN_SECONDS = 0.05
NOISE_DIFFERENCE_SECONDS = 0.01
NOISE_WINDOW_SECONDS = 2.0
NOISE_MAX_WINDOWS = 64
NOISY_BELOW_RATIO = 6.0

_BLOCK = 1 << 20
_MAD_TO_SIGMA = 1.4826


def quality(lead: LeadSignal) -> str | None:
    """GOOD, FLAT, CLIPPED or NOISY by the rules of this module; None when not decidable
    (no sampling rate and not flat, or no samples)."""
    info = LeadInfo(lead.name, int(lead.samples.size), lead.sampling_rate, lead.units_per_mv)
    verdict = Accumulator(info)
    verdict.add(lead.samples)
    return verdict.result()


def _valid_rate(rate: float | None) -> float | None:
    return rate if rate is not None and math.isfinite(rate) and rate > 0 else None


class _Extreme:
    """The longest run of samples equal to the running minimum (or maximum) of a stream."""

    def __init__(self, lowest: bool) -> None:
        self.lowest = lowest
        self.value: int | None = None
        self.longest = 0
        self.trailing = 0  # the run at `value` that ends at the last sample seen

    def add(self, block: npt.NDArray[np.integer]) -> None:
        extreme = int(block.min()) if self.lowest else int(block.max())
        if self.value is None or (extreme < self.value if self.lowest else extreme > self.value):
            self.value, self.longest, self.trailing = extreme, 0, 0
        if extreme != self.value:
            self.trailing = 0
            return
        hit = block == self.value
        edges = np.flatnonzero(np.diff(hit.astype(np.int8), prepend=0, append=0))
        starts, ends = edges[::2], edges[1::2]
        lengths = ends - starts
        leading = int(lengths[0]) if starts[0] == 0 else 0
        self.longest = max(self.longest, self.trailing + leading, int(lengths.max()))
        if ends[-1] != block.size:
            self.trailing = 0
        elif leading == block.size:
            self.trailing += leading
        else:
            self.trailing = int(lengths[-1])


@dataclass(frozen=True, slots=True)
class _NoisePlan:
    lag: int
    window: int
    starts: tuple[int, ...]


def _noise_plan(count: int, sampling_rate: float) -> _NoisePlan | None:
    """Where the NOISY windows of a lead of `count` samples are; None when too short."""
    lag = max(1, round(NOISE_DIFFERENCE_SECONDS * sampling_rate))
    window = max(lag + 2, round(NOISE_WINDOW_SECONDS * sampling_rate))
    if count <= lag + 1:
        return None  # too short to judge: nothing says noise
    windows = max(1, count // window)
    if windows == 1:
        return _NoisePlan(lag, count, (0,))
    picked = np.linspace(0, windows - 1, min(windows, NOISE_MAX_WINDOWS)).round()
    return _NoisePlan(lag, window, tuple(int(i) * window for i in np.unique(picked)))


class Accumulator:
    """The verdict of `quality` for a lead fed a block at a time (see the module docstring);
    memory: the NOISY windows (at most 64 x 2 s) and one block."""

    def __init__(self, lead: LeadInfo) -> None:
        self._lead = lead
        self._seen = 0
        self._low = _Extreme(lowest=True)
        self._high = _Extreme(lowest=False)
        self._rate = _valid_rate(lead.sampling_rate)
        self._plan = None if self._rate is None else _noise_plan(lead.number_of_samples, self._rate)
        self._rows = (
            np.zeros((len(self._plan.starts), self._plan.window), dtype=np.int64)
            if self._plan is not None
            else None
        )

    def add(self, block: npt.NDArray[np.integer]) -> None:
        """Take the next samples of the lead."""
        for start in range(0, int(block.size), _BLOCK):
            self._add(block[start : start + _BLOCK])

    def _add(self, block: npt.NDArray[np.integer]) -> None:
        if block.size == 0:
            return
        offset, self._seen = self._seen, self._seen + int(block.size)
        self._low.add(block)
        self._high.add(block)
        if self._plan is None or self._rows is None:
            return
        for row, start in enumerate(self._plan.starts):
            first, last = max(start, offset), min(start + self._plan.window, self._seen)
            if first < last:
                self._rows[row, first - start : last - start] = block[
                    first - offset : last - offset
                ]

    def result(self) -> str | None:
        """The verdict on every sample added (which must be the lead's whole length)."""
        if self._seen != self._lead.number_of_samples:
            raise ValueError(
                f"lead {self._lead.name}: {self._seen} samples of {self._lead.number_of_samples}"
            )
        low, high = self._low.value, self._high.value
        if low is None or high is None:
            return None
        if high == low:
            return FLAT
        units = self._lead.units_per_mv
        if (
            units is not None
            and math.isfinite(units)
            and units > 0
            and (high - low) / units < FLAT_PEAK_TO_PEAK_MV
        ):
            return FLAT
        rate = self._rate
        if rate is None:
            return None
        run = math.floor(CLIPPED_RUN_SECONDS * rate) + 1  # samples in a run longer than 50 ms
        if self._low.longest >= run or self._high.longest >= run:
            return CLIPPED
        if (
            self._plan is not None
            and self._rows is not None
            and _ratio(self._rows, self._plan.lag, rate) < NOISY_BELOW_RATIO
        ):
            return NOISY
        return GOOD


def qrs_to_noise_ratio(samples: npt.NDArray[np.integer], sampling_rate: float) -> float:
    """The median over 2 s windows of peak |10 ms difference| / its robust sigma (see module)."""
    plan = _noise_plan(int(samples.size), sampling_rate)
    if plan is None:
        return math.inf
    rows = np.stack([samples[start : start + plan.window] for start in plan.starts])
    return _ratio(rows, plan.lag, sampling_rate)


def _ratio(rows: npt.NDArray[np.integer], lag: int, sampling_rate: float) -> float:
    rows = rows.astype(np.float64)
    difference = rows[:, lag:] - rows[:, :-lag]
    # The noise level is a median: every 4 ms is as good an estimate as every sample.
    stride = max(1, int(sampling_rate // 250))
    deviation = np.abs(difference - np.median(difference[:, ::stride], axis=1, keepdims=True))
    sigma = _MAD_TO_SIGMA * np.median(deviation[:, ::stride], axis=1)
    peak = deviation.max(axis=1)
    # A quantised clean lead can have most differences equal: no measurable noise at all.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(sigma > 0, peak / sigma, math.inf)
    return float(np.median(ratios))


def accumulator(lead: LeadInfo) -> Accumulator:
    """The registry's streaming entry point (`Accumulator`)."""
    return Accumulator(lead)

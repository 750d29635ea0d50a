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

Long leads are read a block at a time (`Accumulator`: the rules above decided in one pass),
and NOISY looks at no more than 64 windows spread evenly over the lead, so time and memory
stay bounded whatever the length. The leads of an ECG in memory are judged together
(`qualities`: each statistic one array operation over every lead, not one per lead); the
rules themselves are one function (`_verdict`) that both forms feed. Block by block, the
verdict is exactly the whole lead's: the minimum and maximum are running ones,
and a run at the running minimum (maximum) is carried across block edges and forgotten
when a lower (higher) value appears, so the longest run at the lead's own extreme is what
remains at the end; the NOISY windows are placed from the lead's length, known before its
first sample, and copied as their samples go by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
_NEEDS_RATIO = "needs the QRS-to-noise ratio"  # internal: not a verdict


def quality(lead: LeadSignal) -> str | None:
    """GOOD, FLAT, CLIPPED or NOISY by the rules of this module; None when not decidable
    (no sampling rate and not flat, or no samples)."""
    return qualities([lead])[0]


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
        verdict = _verdict(
            low,
            high,
            self._lead.units_per_mv,
            self._rate,
            max(self._low.longest, self._high.longest),
            self._plan is not None,
        )
        plan, rows, rate = self._plan, self._rows, self._rate
        if verdict is not _NEEDS_RATIO or plan is None or rows is None or rate is None:
            return verdict
        return _noisy(_ratios(rows[None], plan.lag, rate))[0]


def _verdict(
    low: int,
    high: int,
    units_per_mv: float | None,
    rate: float | None,
    longest_at_extreme: int,
    judged_for_noise: bool,
) -> str | None:
    """The rules of the module docstring before NOISY, from a lead's minimum, maximum and
    longest run at either; `_NEEDS_RATIO` when only the QRS-to-noise ratio can decide
    between NOISY and GOOD."""
    if high == low:
        return FLAT
    if (
        units_per_mv is not None
        and math.isfinite(units_per_mv)
        and units_per_mv > 0
        and (high - low) / units_per_mv < FLAT_PEAK_TO_PEAK_MV
    ):
        return FLAT
    if rate is None:
        return None
    run = math.floor(CLIPPED_RUN_SECONDS * rate) + 1  # samples in a run longer than 50 ms
    if longest_at_extreme >= run:
        return CLIPPED
    return _NEEDS_RATIO if judged_for_noise else GOOD


def qualities(leads: Sequence[LeadSignal]) -> list[str | None]:
    """`quality` of each lead. Leads of the same length and rate (all of them, in an ECG)
    are judged together, a few at a time (at most `_BLOCK` samples): the minimum, maximum,
    runs at either and the NOISY ratios of each, each in one array operation over them all
    instead of one per lead. A lead longer than `_BLOCK` goes through the `Accumulator`,
    a block at a time. The same verdicts either way (tests/insights/test_streaming.py)."""
    verdicts: list[str | None] = [None] * len(leads)
    groups: dict[tuple[int, float | None], list[int]] = {}
    for index, lead in enumerate(leads):
        count = int(lead.samples.size)
        if count > _BLOCK:
            info = LeadInfo(lead.name, count, lead.sampling_rate, lead.units_per_mv)
            accumulator = Accumulator(info)
            accumulator.add(lead.samples)
            verdicts[index] = accumulator.result()
        elif count > 0:
            groups.setdefault((count, _valid_rate(lead.sampling_rate)), []).append(index)
    for (count, rate), members in groups.items():
        together = max(1, _BLOCK // count)
        for first in range(0, len(members), together):
            indices = members[first : first + together]
            for index, verdict in zip(
                indices, _judged([leads[i] for i in indices], count, rate), strict=True
            ):
                verdicts[index] = verdict
    return verdicts


def _judged(leads: list[LeadSignal], count: int, rate: float | None) -> list[str | None]:
    """The verdicts of leads of `count` samples each at `rate`, computed together."""
    signal = np.stack([lead.samples for lead in leads])
    low, high = signal.min(axis=1), signal.max(axis=1)
    plan = None if rate is None else _noise_plan(count, rate)
    longest = (
        np.maximum(_longest_run(signal, low), _longest_run(signal, high))
        if rate is not None
        else np.zeros(len(leads), dtype=np.int64)
    )
    verdicts = [
        _verdict(lo, hi, lead.units_per_mv, rate, run, plan is not None)
        for lead, lo, hi, run in zip(
            leads, low.tolist(), high.tolist(), longest.tolist(), strict=True
        )
    ]
    pending = [i for i, verdict in enumerate(verdicts) if verdict is _NEEDS_RATIO]
    if pending and plan is not None and rate is not None:
        # The windows start at multiples of their length: whole windows of a reshape, a
        # view (no copy of the samples) when every lead and every window is judged.
        judged = signal if len(pending) == len(leads) else signal[pending]
        windows = count // plan.window
        rows = judged[:, : windows * plan.window].reshape(len(pending), windows, -1)
        if len(plan.starts) < windows:
            rows = rows[:, np.array(plan.starts) // plan.window]
        for i, verdict in zip(pending, _noisy(_ratios(rows, plan.lag, rate)), strict=True):
            verdicts[i] = verdict
    return verdicts


def _longest_run(
    signal: npt.NDArray[np.integer], value: npt.NDArray[np.integer]
) -> npt.NDArray[np.int64]:
    """Per row of signal, the longest run of consecutive samples equal to that row's value."""
    at = np.flatnonzero(signal == value[:, None])  # row after row, each in order
    longest = np.zeros(signal.shape[0], dtype=np.int64)
    if at.size:
        rows = at // signal.shape[1]
        starts = np.ones(at.size, dtype=bool)
        starts[1:] = (at[1:] != at[:-1] + 1) | (rows[1:] != rows[:-1])
        lengths = np.diff(np.append(np.flatnonzero(starts), at.size))
        np.maximum.at(longest, rows[starts], lengths)
    return longest


def qrs_to_noise_ratio(samples: npt.NDArray[np.integer], sampling_rate: float) -> float:
    """The median over 2 s windows of peak |10 ms difference| / its robust sigma (see module)."""
    plan = _noise_plan(int(samples.size), sampling_rate)
    if plan is None:
        return math.inf
    rows = np.stack([samples[start : start + plan.window] for start in plan.starts])
    return float(_ratios(rows[None], plan.lag, sampling_rate)[0])


def _ratios(
    rows: npt.NDArray[np.integer], lag: int, sampling_rate: float
) -> npt.NDArray[np.float64]:
    """The QRS-to-noise ratio of each lead from its windows: rows is (lead, window, sample)."""
    difference = np.subtract(rows[:, :, lag:], rows[:, :, :-lag], dtype=np.float64)
    # The noise level is a median: every 4 ms is as good an estimate as every sample.
    stride = max(1, int(sampling_rate // 250))
    sampled = np.sort(difference[:, :, ::stride], axis=2)
    centre = _median_of_sorted(sampled)
    sigma = _MAD_TO_SIGMA * _median_of_sorted(np.sort(np.abs(sampled - centre[:, :, None])))
    # The largest |difference - centre| is at the largest or the smallest difference.
    peak = np.maximum(difference.max(axis=2) - centre, centre - difference.min(axis=2))
    # A quantised clean lead can have most differences equal: no measurable noise at all.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(sigma > 0, peak / sigma, math.inf)
    return _median_of_sorted(np.sort(ratios, axis=1))


def _median_of_sorted(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The median along the last axis of values sorted along it (`np.median`'s value: the
    middle one, or the mean of the middle two). Sorting a few hundred values and taking
    the middle is cheaper than `np.median`'s partition and its checks."""
    count = values.shape[-1]
    middle: npt.NDArray[np.float64] = (
        values[..., (count - 1) // 2] + values[..., count // 2]
    ) / 2.0
    return middle


def _noisy(ratios: npt.NDArray[np.float64]) -> list[str | None]:
    return [NOISY if ratio < NOISY_BELOW_RATIO else GOOD for ratio in ratios.tolist()]


def accumulator(lead: LeadInfo) -> Accumulator:
    """The registry's streaming entry point (`Accumulator`)."""
    return Accumulator(lead)

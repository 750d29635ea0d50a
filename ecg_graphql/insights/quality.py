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

Long leads are read a block at a time, and NOISY looks at no more than 64 windows spread
evenly over the lead, so time and memory stay bounded whatever the length.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ecg_graphql.insights.signals import LeadSignal

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
    samples = lead.samples
    if samples.size == 0:
        return None
    low = int(samples.min())
    high = int(samples.max())
    if high == low:
        return FLAT
    units = lead.units_per_mv
    if (
        units is not None
        and math.isfinite(units)
        and units > 0
        and (high - low) / units < FLAT_PEAK_TO_PEAK_MV
    ):
        return FLAT
    rate = lead.sampling_rate
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return None
    run = math.floor(CLIPPED_RUN_SECONDS * rate) + 1  # samples in a run longer than 50 ms
    if _has_run(samples, low, run) or _has_run(samples, high, run):
        return CLIPPED
    if qrs_to_noise_ratio(samples, rate) < NOISY_BELOW_RATIO:
        return NOISY
    return GOOD


def qrs_to_noise_ratio(samples: npt.NDArray[np.integer], sampling_rate: float) -> float:
    """The median over 2 s windows of peak |10 ms difference| / its robust sigma (see module)."""
    lag = max(1, round(NOISE_DIFFERENCE_SECONDS * sampling_rate))
    window = max(lag + 2, round(NOISE_WINDOW_SECONDS * sampling_rate))
    count = int(samples.size)
    if count <= lag + 1:
        return math.inf  # too short to judge: nothing says noise
    windows = max(1, count // window)
    if windows == 1:
        starts = [0]
        window = count
    else:
        picked = np.linspace(0, windows - 1, min(windows, NOISE_MAX_WINDOWS)).round()
        starts = [int(i) * window for i in np.unique(picked)]
    rows = np.stack([samples[start : start + window] for start in starts]).astype(np.float64)
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


def _has_run(samples: npt.NDArray[np.integer], value: int, length: int) -> bool:
    """Whether `length` consecutive samples equal value (cheap when the value is rare)."""
    for start in range(0, int(samples.size), _BLOCK):
        # Overlap blocks by length - 1 so a run across a block edge is seen whole.
        hit = samples[max(0, start - length + 1) : start + _BLOCK] == value
        if np.count_nonzero(hit) < length:
            continue
        edges = np.flatnonzero(np.diff(hit.astype(np.int8), prepend=0, append=0))
        if int((edges[1::2] - edges[::2]).max()) >= length:
            return True
    return False

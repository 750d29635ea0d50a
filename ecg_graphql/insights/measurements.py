"""Global ECG measurements from the detected beats: rate, RR statistics, rhythm, intervals, axes.

Rate and RR statistics use every pair of consecutive beats. Intervals and axes are measured
as the standard 12-lead programs do, on a representative (median) beat, with the wave
boundaries taken over all leads together:

1. Representative segment: the whole recording up to 30 s; beyond that the 20 s stretch
   whose RR intervals vary least (of up to 16 evenly spaced candidates), so time and memory
   stay bounded for a Holter recording: `measure_windows` reads only that segment.
2. Leads in mV when every lead's gain is known (else in their common raw units), band-pass
   filtered 0.5-40 Hz (second-order Butterworth, forward and backward: no phase shift).
   Leads judged FLAT, CLIPPED or NOISY are left out. Where I and II are present, the
   derived limb leads (III, aVR, aVL, aVF) are left out of the boundary detection: they are
   linear combinations of I and II and would weigh the limb leads twice.
3. Beats are cut from 0.45 RR before to 0.75 RR after each detection (at most 400 ms and
   700 ms), aligned to the first median beat by cross-correlating their QRS (+-20 ms), and
   beats whose shape differs (correlation under 0.8, e.g. ventricular ectopics) are
   dropped; the median over the remaining beats, sample by sample, is the median beat.
   At least 3 beats are needed, else every interval and axis is null.
4. QRS onset and offset: where the spatial velocity (root sum of squares of the leads'
   first derivatives) of the median beat leaves and returns to its quiet level, the
   threshold being its 10th percentile plus 3 % of its QRS peak above that.
5. T end: in each lead whose T wave reaches 10 % of the largest T wave, the intersection
   with the isoelectric level (PR segment) of the tangent at the T wave's steepest descent;
   the global end is the second latest of these lead ends (the latest with one outlier
   discarded).
6. P onset: the spatial magnitude of the median beat (baseline at the PR segment) is
   searched for the P wave in the 300 ms before QRS onset; the onset is where it last
   rises above its pre-P level plus 5 % of the P wave's height. There is no P wave (PR
   null) when its height is under 3 % of the QRS's, or when individual beats do not show
   it (their median correlation with the median beat's P wave under 0.5): atrial
   fibrillation has no repeatable P wave to average.
7. Axes: frontal plane, from the net area of the QRS (onset to offset) and of the T wave
   (QRS offset to T end) in leads I and aVF, or aVF = (II + III) / 2 when only I, II and
   III are there: angle = atan2(2 aVF / sqrt(3), I), the hexaxial (Einthoven) projection.

Rhythm (5 beats or more): IRREGULAR when the median of the absolute differences between
successive RR intervals exceeds 10 % of the median RR interval, else REGULAR. In atrial
fibrillation nearly every interval differs from the one before by much more than that; in
sinus rhythm at rest, respiratory variation changes successive intervals by a few percent,
and isolated ectopic beats move only a few of the differences, not their median.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.ndimage
import scipy.signal

from ecg_graphql.insights import quality
from ecg_graphql.insights.signals import EcgSignal, EcgSource, LeadInfo
from ecg_graphql.insights.stored import stored_ints

VERSION = 1

REGULAR = "REGULAR"
IRREGULAR = "IRREGULAR"
IRREGULAR_ABOVE = 0.10  # median |successive RR difference| / median RR

WHOLE_UP_TO_SECONDS = 30.0
SEGMENT_SECONDS = 20.0
SEGMENT_CANDIDATES = 16
BAND_HZ = (0.5, 40.0)
MIN_BEATS = 3
ALIGN_SECONDS = 0.02
SAME_SHAPE_CORRELATION = 0.8
QRS_THRESHOLD = 0.03
QUIET_HOLD_SECONDS = 0.01  # a boundary is where the slope stays quiet this long
T_SEARCH_SECONDS = 0.6
T_LEAD_MIN_FRACTION = 0.25
P_SEARCH_SECONDS = 0.3
P_ONSET_FRACTION = 0.1
P_MIN_SLOPE_RATIO = 3.0
P_MIN_BEAT_CORRELATION = 0.5

_DERIVED_LIMB_LEADS = frozenset({"III", "aVR", "aVL", "aVF"})
_UNUSABLE = frozenset({quality.FLAT, quality.CLIPPED, quality.NOISY})
_PAD_SECONDS = 1.0  # filter settling on either side of the segment
_QUALITY_BLOCK = 1 << 20  # samples of every lead per read when judging quality here


@dataclass(frozen=True, slots=True)
class RrStatistics:
    """Intervals between consecutive beats, in ms."""

    count: int
    mean_ms: float
    median_ms: float
    min_ms: float
    max_ms: float
    sdnn_ms: float  # sample standard deviation (n - 1); 0 for a single interval
    rmssd_ms: float  # root mean square of successive differences; 0 for a single interval


@dataclass(frozen=True, slots=True)
class Measurements:
    """What a 12-lead program prints; each interval in ms, each axis in degrees, or None."""

    beat_count: int
    heart_rate: float | None
    rr: RrStatistics | None
    rhythm: str | None
    pr_interval: float | None
    qrs_duration: float | None
    qt_interval: float | None
    qtc_bazett: float | None
    qtc_fridericia: float | None
    qrs_axis: float | None
    t_axis: float | None


@dataclass(frozen=True, slots=True)
class _Waves:
    pr_interval: float | None = None
    qrs_duration: float | None = None
    qt_interval: float | None = None
    qrs_axis: float | None = None
    t_axis: float | None = None


def measure(
    ecg: EcgSignal,
    beats: npt.NDArray[np.int64],
    *,
    qualities: Sequence[str | None] | None = None,
) -> Measurements | None:
    """Measurements of the ECG given its beats (0-based sample indices, e.g. `detect_beats`).

    `qualities`, one `quality.quality` verdict per lead in order, spares computing them
    again when the caller has them; leads FLAT, CLIPPED or NOISY are not measured.

    None without a (positive, finite) sampling rate. Heart rate and RR are null with fewer
    than 2 beats, rhythm with fewer than 5; an interval or axis that cannot be measured is
    null, never a guess. Never raises on the signal itself.
    """
    return measure_windows(EcgSource.of(ecg), beats, qualities=qualities)


def measure_windows(
    source: EcgSource,
    beats: npt.NDArray[np.int64],
    *,
    qualities: Sequence[str | None] | None = None,
) -> Measurements | None:
    """`measure` reading only what it needs: the representative segment (at most 20 s plus
    1 s either side, once the recording is longer than 30 s) in one read, and, when
    `qualities` is not given, the leads a block at a time for their verdicts. The same
    result as `measure` on the whole ECG, in memory bounded by the segment."""
    rate = source.sampling_rate
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return None
    beats = np.unique(np.asarray(beats, dtype=np.int64))
    rr_ms = np.diff(beats) * (1000.0 / rate)
    rr = rr_statistics(rr_ms)
    waves = _Waves()
    if beats.size >= MIN_BEATS:
        with np.errstate(all="ignore"):
            waves = _delineate(source, beats, rate, qualities)
    qt = waves.qt_interval
    rr_s = rr.mean_ms / 1000.0 if rr is not None else None
    return Measurements(
        beat_count=int(beats.size),
        heart_rate=60000.0 / rr.mean_ms if rr is not None else None,
        rr=rr,
        rhythm=rhythm(rr_ms) if beats.size >= 5 else None,
        pr_interval=waves.pr_interval,
        qrs_duration=waves.qrs_duration,
        qt_interval=qt,
        qtc_bazett=qt / math.sqrt(rr_s) if qt is not None and rr_s else None,
        qtc_fridericia=qt / math.cbrt(rr_s) if qt is not None and rr_s else None,
        qrs_axis=waves.qrs_axis,
        t_axis=waves.t_axis,
    )


def rr_statistics(rr_ms: npt.NDArray[np.float64]) -> RrStatistics | None:
    """Count, mean, median, extremes, SDNN (n - 1) and RMSSD of RR intervals; None if empty."""
    if rr_ms.size == 0:
        return None
    successive = np.diff(rr_ms)
    return RrStatistics(
        count=int(rr_ms.size),
        mean_ms=float(rr_ms.mean()),
        median_ms=float(np.median(rr_ms)),
        min_ms=float(rr_ms.min()),
        max_ms=float(rr_ms.max()),
        sdnn_ms=float(rr_ms.std(ddof=1)) if rr_ms.size > 1 else 0.0,
        rmssd_ms=float(np.sqrt(np.mean(successive**2))) if successive.size else 0.0,
    )


def rhythm(rr_ms: npt.NDArray[np.float64]) -> str | None:
    """REGULAR or IRREGULAR by the rule in the module docstring; None under 4 intervals."""
    if rr_ms.size < 4:
        return None
    spread = float(np.median(np.abs(np.diff(rr_ms))))
    return IRREGULAR if spread > IRREGULAR_ABOVE * float(np.median(rr_ms)) else REGULAR


# ---------------------------------------------------------------------------------------------
# Median beat and delineation


def _delineate(
    source: EcgSource,
    beats: npt.NDArray[np.int64],
    rate: float,
    qualities: Sequence[str | None] | None,
) -> _Waves:
    if not source.leads:
        return _Waves()
    start, stop = _representative_segment(beats, rate, source.longest)
    if qualities is None or len(qualities) != len(source.leads):
        qualities = _qualities(source, rate)
    indices = [
        i
        for i, (lead, verdict) in enumerate(zip(source.leads, qualities, strict=True))
        if lead.number_of_samples >= stop and verdict not in _UNUSABLE
    ]
    leads = [source.leads[i] for i in indices]
    present = {lead.name for lead in leads}
    if {"I", "II"} <= present:
        # The derived limb leads add nothing but aVF (or III for it) for the axes.
        frontal = "aVF" if "aVF" in present else "III"
        indices = [
            i
            for i in indices
            if source.leads[i].name not in _DERIVED_LIMB_LEADS or source.leads[i].name == frontal
        ]
        leads = [source.leads[i] for i in indices]
    if not leads:
        return _Waves()
    names = [lead.name for lead in leads]
    segment_beats = beats[(beats >= start) & (beats < stop)]
    rr = float(np.median(np.diff(segment_beats))) if segment_beats.size > 1 else rate
    before = round(min(0.4, 0.45 * rr / rate) * rate)
    after = round(min(0.7, max(0.3, 0.75 * rr / rate)) * rate)
    align = max(1, round(ALIGN_SECONDS * rate))
    pad = round(_PAD_SECONDS * rate)
    first = max(0, start - pad)
    last = min(min(lead.number_of_samples for lead in leads), stop + pad)
    signal = _filtered(source.read(indices, first, last), leads, rate)
    positions = segment_beats - first
    inside = (positions - before - align >= 0) & (positions + after + align <= last - first)
    positions = positions[inside]
    if positions.size < MIN_BEATS:
        return _Waves()
    boundary = [i for i, name in enumerate(names) if name not in _DERIVED_LIMB_LEADS]
    if not ({"I", "II"} <= set(names)):
        boundary = list(range(len(names)))
    aligned = _aligned_beats(signal, boundary, positions, before, after, align, rate)
    if aligned is None:
        return _Waves()
    median, all_beats = aligned
    return _measure_median(median, all_beats, names, boundary, before, rate)


def _qualities(source: EcgSource, rate: float) -> list[str | None]:
    """Each lead's `quality` verdict (at the ECG's rate), reading the leads a block at a time."""
    verdicts = [
        quality.Accumulator(dataclasses.replace(lead, sampling_rate=rate)) for lead in source.leads
    ]
    for _, blocks in source.blocks(_QUALITY_BLOCK):
        for verdict, block in zip(verdicts, blocks, strict=True):
            verdict.add(block)
    return [verdict.result() for verdict in verdicts]


def _representative_segment(
    beats: npt.NDArray[np.int64], rate: float, longest: int
) -> tuple[int, int]:
    """[start, stop) of the samples the median beat is built from (see module docstring)."""
    end = min(longest, int(beats[-1]) + round(rate))
    if end <= WHOLE_UP_TO_SECONDS * rate:
        return 0, end
    length = round(SEGMENT_SECONDS * rate)
    best: tuple[float, int] = (math.inf, 0)
    for start in np.linspace(0, max(0, end - length), SEGMENT_CANDIDATES).round().astype(int):
        inside = beats[(beats >= start) & (beats < start + length)]
        if inside.size < MIN_BEATS + 2:
            continue
        intervals = np.diff(inside).astype(np.float64)
        variation = float(intervals.std() / intervals.mean())
        best = min(best, (variation, int(start)))
    return best[1], min(longest, best[1] + length)


def _filtered(
    segment: list[npt.NDArray[np.int64]], leads: list[LeadInfo], rate: float
) -> npt.NDArray[np.float64]:
    """The leads' samples of a segment in mV (or common raw units), band-passed, (lead, time)."""
    raw = np.stack([samples.astype(np.float64) for samples in segment])
    gains = [lead.units_per_mv for lead in leads]
    if all(g is not None and math.isfinite(g) and g > 0 for g in gains):
        raw /= np.array(gains, dtype=np.float64)[:, None]
    result: npt.NDArray[np.float64] = scipy.signal.sosfiltfilt(_band(rate), raw, axis=1)
    return result


@functools.lru_cache(maxsize=32)
def _band(rate: float) -> npt.NDArray[np.float64]:
    """The band-pass filter's sections at this rate (designed once per rate; scipy's
    filters only read them)."""
    high = min(BAND_HZ[1], 0.45 * rate)
    sos: npt.NDArray[np.float64] = scipy.signal.butter(
        2, (BAND_HZ[0], high), btype="bandpass", fs=rate, output="sos"
    )
    return sos


def _cut(
    signal: npt.NDArray[np.float64], positions: npt.NDArray[np.int64], before: int, after: int
) -> npt.NDArray[np.float64]:
    """Windows [p - before, p + after) around each position: (lead, beat, time)."""
    index = positions[:, None] + np.arange(-before, after)[None, :]
    windows: npt.NDArray[np.float64] = signal[:, index]
    return windows


def _aligned_beats(
    signal: npt.NDArray[np.float64],
    boundary: list[int],
    positions: npt.NDArray[np.int64],
    before: int,
    after: int,
    align: int,
    rate: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """The median beat (lead, time) and the beats it is the median of (lead, beat, time):
    beats shifted onto the first median's QRS (over the boundary leads), those of the same
    shape kept; None with fewer than `MIN_BEATS` of them."""
    half_qrs = max(2, round(0.06 * rate))
    qrs = _cut(signal[boundary], positions, half_qrs + align, half_qrs + align + 1)
    template = _median_beat(qrs[:, :, align:-align])
    # Each beat's QRS against the template at every shift of -align..align samples.
    shifted = np.lib.stride_tricks.sliding_window_view(qrs, template.shape[1], axis=2)
    scores = np.einsum("lbst,lt->bs", shifted, template)
    positions = positions + scores.argmax(axis=1) - align
    beats = _cut(signal, positions, before, after)
    median = _median_beat(beats)
    keep = (
        _correlations(beats[boundary].transpose(1, 0, 2), median[boundary])
        >= SAME_SHAPE_CORRELATION
    )
    if int(keep.sum()) < MIN_BEATS:
        return None
    if not keep.all():
        beats = beats[:, keep]
        median = _median_beat(beats)
    return median, beats


def _median_beat(beats: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The sample-by-sample median over the beats of (lead, beat, time): `np.median`'s value
    (the middle one, or the mean of the middle two), from a sort of the few beats, which
    costs less than `np.median`'s partition along that axis."""
    ordered = np.sort(beats, axis=1)
    count = beats.shape[1]
    median: npt.NDArray[np.float64] = (
        ordered[:, (count - 1) // 2] + ordered[:, count // 2]
    ) / 2.0
    return median


def _correlations(
    beats: npt.NDArray[np.float64], reference: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Pearson correlation of each beat (beat, ...) with the reference (...), every lead's
    samples end to end; 0 where either is constant."""
    flat = beats.reshape(beats.shape[0], -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    ref = reference.reshape(-1)
    ref = ref - ref.mean()
    norms = np.sqrt((flat * flat).sum(axis=1) * float(np.dot(ref, ref)))
    with np.errstate(divide="ignore", invalid="ignore"):
        correlation: npt.NDArray[np.float64] = np.where(norms > 0, (flat @ ref) / norms, 0.0)
    return correlation


def _measure_median(
    median: npt.NDArray[np.float64],
    beats: npt.NDArray[np.float64],
    names: list[str],
    boundary: list[int],
    fiducial: int,
    rate: float,
) -> _Waves:
    ms = 1000.0 / rate
    qrs = _qrs_bounds(median[boundary], fiducial, rate)
    if qrs is None:
        return _Waves()
    onset, offset = qrs
    iso_from = max(0, onset - round(0.02 * rate))
    iso_to = max(iso_from + 1, onset - round(0.005 * rate))
    deflection = median - median[:, iso_from:iso_to].mean(axis=1, keepdims=True)
    t_end = _t_end(deflection[boundary], offset, onset, rate)
    p_onset = _p_onset(deflection[boundary], beats[boundary], onset, rate)
    frontal = _frontal_leads(deflection, names)
    qrs_axis = t_axis = None
    if frontal is not None:
        lead_i, lead_avf = frontal
        qrs_axis = _axis(lead_i[onset : offset + 1].sum(), lead_avf[onset : offset + 1].sum())
        if t_end is not None:
            end = math.ceil(t_end)
            t_axis = _axis(lead_i[offset:end].sum(), lead_avf[offset:end].sum())
    return _Waves(
        pr_interval=(onset - p_onset) * ms if p_onset is not None else None,
        qrs_duration=(offset - onset) * ms,
        qt_interval=(t_end - onset) * ms if t_end is not None else None,
        qrs_axis=qrs_axis,
        t_axis=t_axis,
    )


def _qrs_bounds(
    median: npt.NDArray[np.float64], fiducial: int, rate: float
) -> tuple[int, int] | None:
    """QRS onset and offset (indices in the median beat) from the spatial velocity."""
    velocity = np.sqrt((np.gradient(median, axis=1) ** 2).sum(axis=0))
    reach = max(1, round(0.06 * rate))
    low = max(0, fiducial - reach)
    peak = low + int(np.argmax(velocity[low : fiducial + reach]))
    quiet = float(np.percentile(velocity, 10))
    if not velocity[peak] > quiet:
        return None
    threshold = quiet + QRS_THRESHOLD * (velocity[peak] - quiet)
    limit = round(0.15 * rate)  # no QRS half is wider than this
    hold = max(2, round(QUIET_HOLD_SECONDS * rate))
    start = max(0, peak - limit)
    onset = _quiet_before(velocity[start : peak + 1] < threshold, hold)
    offset = _quiet_after(velocity[peak : peak + limit] < threshold, hold)
    if onset is None or offset is None:
        return None
    return start + onset, peak + offset


def _quiet_before(below: npt.NDArray[np.bool_], hold: int) -> int | None:
    """Index just after the last run of `hold` True values in below, else None."""
    full = np.flatnonzero(np.convolve(below, np.ones(hold, dtype=np.int64), "valid") == hold)
    return int(full[-1]) + hold if full.size else None


def _quiet_after(below: npt.NDArray[np.bool_], hold: int) -> int | None:
    """Index just before the first run of `hold` True values in below, else None."""
    full = np.flatnonzero(np.convolve(below, np.ones(hold, dtype=np.int64), "valid") == hold)
    return int(full[0]) - 1 if full.size and full[0] > 0 else None


def _t_end(
    deflection: npt.NDArray[np.float64], offset: int, onset: int, rate: float
) -> float | None:
    """Global T end (fractional index): second latest tangent end over leads with a T wave."""
    low = offset + round(0.08 * rate)
    high = min(deflection.shape[1] - 1, onset + round(T_SEARCH_SECONDS * rate))
    if high - low < 3:
        return None
    magnitude = np.sqrt((deflection[:, low:high] ** 2).sum(axis=0))
    apex = low + int(np.argmax(magnitude))  # the T wave's apex over all leads
    near = round(0.08 * rate)
    around = slice(max(low, apex - near), min(high, apex + near))
    # Each lead's T wave is the extremum, near the apex, of the sign it has at the apex.
    signs = np.where(deflection[:, apex] < 0, -1.0, 1.0)[:, None]
    peaks = around.start + np.argmax(signs * deflection[:, around], axis=1)
    heights = np.abs(deflection[np.arange(deflection.shape[0]), peaks])
    if not heights.max() > 0:
        return None
    slope = np.gradient(deflection, axis=1)
    ends: list[float] = []
    for lead, peak in enumerate(peaks.tolist()):
        if heights[lead] < T_LEAD_MIN_FRACTION * heights.max():
            continue
        sign = 1.0 if deflection[lead, peak] > 0 else -1.0
        descent = slope[lead, peak : peak + round(0.25 * rate)] * sign
        if descent.size == 0 or descent.min() >= 0:
            continue
        steepest = peak + int(np.argmin(descent))
        end = steepest - deflection[lead, steepest] / slope[lead, steepest]
        if peak < end < deflection.shape[1]:
            ends.append(float(end))
    if not ends:
        return None
    ends.sort()
    return ends[-2] if len(ends) > 2 else ends[-1]


def _p_onset(
    deflection: npt.NDArray[np.float64],
    beats: npt.NDArray[np.float64],
    onset: int,
    rate: float,
) -> int | None:
    """P onset index in the median beat, or None when there is no repeatable P wave."""
    low = max(0, onset - round(P_SEARCH_SECONDS * rate))
    high = onset - round(0.02 * rate)
    width = max(1, round(0.02 * rate))
    if high - low < 4 * width:
        return None
    # Slopes, not levels: the PR segment and the TP segment need not sit at the same level.
    smooth = scipy.ndimage.uniform_filter1d(deflection[:, low:high], width, axis=1)
    velocity = np.sqrt((np.gradient(smooth, axis=1) ** 2).sum(axis=0))
    peak = int(np.argmax(velocity[width:-width])) + width
    quiet = float(np.percentile(velocity[: peak + 1], 10))
    if not velocity[peak] > P_MIN_SLOPE_RATIO * quiet:
        return None
    threshold = quiet + P_ONSET_FRACTION * (float(velocity[peak]) - quiet)
    hold = max(2, round(QUIET_HOLD_SECONDS * 2 * rate))
    found = _quiet_before(velocity[: peak + 1] < threshold, hold)
    if found is None:
        return None  # the wave was not seen to begin inside the search window
    start = found
    # Individual beats must show the same wave: atrial fibrillation has none to repeat.
    region = slice(low + start, high)
    reference = deflection[:, region] - deflection[:, region].mean(axis=1, keepdims=True)
    centred = beats[:, :, region] - beats[:, :, region].mean(axis=2, keepdims=True)
    agreement = np.median(_correlations(centred.transpose(1, 0, 2), reference))
    if agreement < P_MIN_BEAT_CORRELATION:
        return None
    return low + start


def _frontal_leads(
    deflection: npt.NDArray[np.float64], names: list[str]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Leads I and aVF of the median beat (aVF from II and III when absent)."""
    where = {name: i for i, name in enumerate(names)}
    if "I" not in where:
        return None
    if "aVF" in where:
        return deflection[where["I"]], deflection[where["aVF"]]
    if "II" in where and "III" in where:
        return deflection[where["I"]], (deflection[where["II"]] + deflection[where["III"]]) / 2
    return None


def _axis(lead_i: float, lead_avf: float) -> float | None:
    """Frontal-plane angle in (-180, 180] degrees of the net deflections in I and aVF."""
    if lead_i == 0 and lead_avf == 0:
        return None
    angle = math.degrees(math.atan2(2.0 * lead_avf / math.sqrt(3.0), lead_i))
    return 180.0 if angle == -180.0 else angle


def of_ecg(ecg: EcgSignal, prior: Mapping[str, object]) -> Measurements | None:
    """The registry's entry point: measurements on the stored `beats` result, reusing the
    leads' `quality` verdicts (None when the ECG has no sampling rate, or its beats could
    not be detected)."""
    beats = stored_ints(prior.get("beats"))
    if beats is None:
        return None
    qualities = prior.get("quality")  # the per-lead verdicts, when computed
    return measure(
        ecg,
        beats,
        qualities=qualities if isinstance(qualities, list) else None,
    )


def of_source(source: EcgSource, prior: Mapping[str, object]) -> Measurements | None:
    """The registry's windowed entry point: `of_ecg` reading only the representative segment
    (and the leads a block at a time when their `quality` verdicts are not given)."""
    beats = stored_ints(prior.get("beats"))
    if beats is None:
        return None
    qualities = prior.get("quality")
    return measure_windows(
        source,
        beats,
        qualities=qualities if isinstance(qualities, list) else None,
    )

"""Beat (QRS) detection over every lead of an ECG, fused so one QRS is one beat.

Each lead goes through sleepecg's `detect_heartbeats` (Pan-Tompkins with adaptive
thresholds, BSD-3-Clause, validated by its authors on the MIT-BIH, GUDB and LTDB
databases), taken apart: its band-pass filter (shared by leads of the same length), then its
own C kernels, with exactly its detections, except on a lead that would make its
thresholding kernel write past its buffer, which has none (`_thresholded`). A
detection counts only where the lead goes up and down, as a QRS does (this drops what the
detector finds after a step). The detections of all leads are then fused: detections less
than 100 ms apart are one QRS seen by several leads; a QRS is kept when at least half of
the leads that produced detections saw it (any one lead when there are only one or two),
at the median of its leads' positions. Of two kept beats closer than 200 ms (no heart
beats faster than 300 bpm) the one seen by more leads stays.

Long recordings are processed in windows of five minutes overlapping by ten seconds; each
window keeps the beats of its own stretch, which ends in the middle of the overlap, far from
where either window's filters and thresholds are settling, so a beat near a window edge is
found once. Memory is bounded by one window of one lead in float64; `detect_beats_windows`
reads the ECG itself a window at a time (a Holter recording never held whole), and
`detect_beats` is that over an ECG in memory.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import scipy.signal

# The second half of `detect_heartbeats`: its C kernels (sleepecg is pinned, 0.6.0). Called
# directly so that no lead reaches `_thresholding` unguarded (see `_thresholded`).
from sleepecg._heartbeat_detection import _squared_moving_integration, _thresholding

from ecg_graphql.insights.signals import EcgSignal, EcgSource

VERSION = 1

WINDOW_SECONDS = 300.0
OVERLAP_SECONDS = 10.0
MERGE_SECONDS = 0.1
REFRACTORY_SECONDS = 0.2
# The detector learns its thresholds from the first 2 s, and needs a 200 ms refractory
# period of at least one sample: below these it cannot run (see _detect).
LEARNING_SECONDS = 2.0
MIN_RATE = 10.0

_EMPTY: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
# Samples (all leads together) the detector's band-pass filters in one call.
_FILTER_TOGETHER = 1 << 16  # 512 KB as float64: larger blocks gain nothing here


def detect_beats(
    ecg: EcgSignal,
    *,
    window_seconds: float = WINDOW_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
) -> npt.NDArray[np.int64] | None:
    """0-based sample index of each detected QRS, ascending, one per beat over all leads.

    None without a (positive, finite) sampling rate. Never raises on the signal itself: a
    signal without detectable beats (flat, a step, one sample, noise too short to learn
    from) gives an empty array.
    """
    return detect_beats_windows(
        EcgSource.of(ecg), window_seconds=window_seconds, overlap_seconds=overlap_seconds
    )


def detect_beats_windows(
    source: EcgSource,
    *,
    window_seconds: float = WINDOW_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
) -> npt.NDArray[np.int64] | None:
    """`detect_beats` reading the ECG one window of every lead at a time (the windows of
    the module docstring): the same beats, in memory bounded by a window, not the ECG."""
    rate = source.sampling_rate
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return None
    leads = [i for i, lead in enumerate(source.leads) if lead.number_of_samples > 1]
    if not leads:
        return _EMPTY.copy()
    length = max(source.leads[i].number_of_samples for i in leads)
    window = max(2, round(window_seconds * rate))
    overlap = min(round(overlap_seconds * rate), window // 2)
    step = window - overlap
    half = overlap // 2
    kept: list[npt.NDArray[np.int64]] = []
    for start in range(0, max(1, length - overlap), step):
        stop = min(start + window, length)
        beats = _fused(*_deflections(source.read(leads, start, stop), rate), rate)
        keep_from = 0 if start == 0 else half
        keep_to = stop - start if stop >= length else step + half
        kept.append(beats[(beats >= keep_from) & (beats < keep_to)] + start)
        if stop >= length:
            break
    return np.concatenate(kept) if kept else _EMPTY.copy()


def _detections(
    leads: Sequence[npt.NDArray[np.integer]], rate: float
) -> list[npt.NDArray[np.int64]]:
    """Each lead's detections, exactly those of sleepecg's `detect_heartbeats` (tests/
    insights/test_beats.py); empty where the detector cannot run (flat or too short) or
    would overrun its buffers (see `_thresholded`).

    `detect_heartbeats` band-passes its lead (`sosfiltfilt`, from the end of a flat start if
    there is one: `_runnable_from`), then thresholds it in C. Most of its time on a short
    lead is the filter call's own overhead, the same for every lead, so leads it filters over
    the same length (from sample 0, or from the end of a flat start) are filtered together,
    in one call along the time axis (bit for bit the same rows); each goes through the
    detector's own C kernels as it would.
    """
    found = [_EMPTY] * len(leads)
    # By the length the detector filters (from where it starts): (lead, start) of each.
    together: dict[int, list[tuple[int, int]]] = {}
    for index, samples in enumerate(leads):
        start = _runnable_from(samples, rate)
        if start is not None:
            together.setdefault(int(samples.size) - start, []).append((index, start))
    for size, members in together.items():
        step = max(1, _FILTER_TOGETHER // size)
        for first in range(0, len(members), step):
            group = members[first : first + step]
            if len(group) == 1:
                index, start = group[0]
                found[index] = _detect(leads[index][start:], rate) + start
                continue
            signal = np.stack([leads[i][start:] for i, start in group]).astype(np.float64)
            try:
                filtered = scipy.signal.sosfiltfilt(_detector_band(rate), signal, axis=1)
            except ValueError:
                continue  # as `_detect`: too short for the filter's padding
            for (index, start), row in zip(group, filtered, strict=True):
                found[index] = _thresholded(np.ascontiguousarray(row), rate) + start
    return found


def _runnable_from(samples: npt.NDArray[np.integer], rate: float) -> int | None:
    """Where the detector starts on the lead, as `detect_heartbeats`: 0 unless the lead
    starts flat (its second sample equals its first), else the first sample that differs
    from the first; None when it cannot run (then the lead has no detections)."""
    if samples.size < 2 or samples.min() == samples.max() or rate < MIN_RATE:
        return None
    # sleepecg's C kernel reads a 2 s learning phase without checking the length (a shorter
    # signal reads past its buffers and can crash the process).
    first_nonflat = 0 if samples[1] != samples[0] else int(np.argmax(samples != samples[0]))
    if samples.size - first_nonflat <= math.ceil(LEARNING_SECONDS * rate) + 1:
        return None
    return first_nonflat


def _detect(samples: npt.NDArray[np.integer], rate: float) -> npt.NDArray[np.int64]:
    """One runnable lead's detections, `detect_heartbeats` on a lead whose second sample
    differs from its first (the caller cuts a flat start and adds its length back)."""
    try:
        filtered = scipy.signal.sosfiltfilt(_detector_band(rate), samples.astype(np.float64))
    except ValueError:
        # Raised for signals it cannot filter (shorter than the filter's padding).
        return _EMPTY
    return _thresholded(np.ascontiguousarray(filtered), rate)


@functools.lru_cache(maxsize=32)
def _detector_band(rate: float) -> npt.NDArray[np.float64]:
    """`detect_heartbeats`' band-pass (its own design, 5-30 Hz second-order Butterworth)."""
    sos: npt.NDArray[np.float64] = scipy.signal.butter(
        N=2, Wn=(5, 30), btype="bandpass", output="sos", fs=rate
    )
    return sos


def _thresholded(filtered: npt.NDArray[np.float64], rate: float) -> npt.NDArray[np.int64]:
    """`detect_heartbeats` after its filter, on a lead it filtered whole: the five-point
    derivative, the 150 ms squared moving integration and the adaptive thresholds.

    The thresholding kernel keeps the RR interval of every beat in a buffer of
    `len // refractory` slots but may find one beat more than that (beats only need to be a
    refractory period apart, and the n-th is written to slot n): on a lead detected at
    nearly every refractory period, such as the ringing after a step, it writes past the
    buffer and corrupts the heap (measured: `free(): invalid next size`, the process
    aborted). So the kernel first runs on the lead followed by zeros (which hold no peak),
    four refractory periods more than enough buffer for any count; up to the lead's
    second-to-last sample that run decides exactly as the plain one, so the plain run finds
    at most as many beats. Only when that leaves a free slot does the plain run go ahead
    (the same detections as `detect_heartbeats`, bit for bit); otherwise the lead has no
    beats: one at nearly every 200 ms throughout is not a heart rhythm.
    """
    derivative = np.correlate(filtered, np.array([-1, -2, 0, 2, 1]), mode="same")
    integrated = _squared_moving_integration(derivative, int(0.15 * rate))
    refractory = int(REFRACTORY_SECONDS * rate)
    padding = np.zeros(4 * refractory + 4)
    bounded = _thresholding(
        np.concatenate([filtered, padding]), np.concatenate([integrated, padding]), rate
    )
    if int(np.count_nonzero(bounded)) >= filtered.size // refractory:
        return _EMPTY
    return np.flatnonzero(_thresholding(filtered, integrated, rate)).astype(np.int64)


def _deflections(
    leads: Sequence[npt.NDArray[np.integer]], rate: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every lead's detections where the lead deflects and comes back, as a QRS does: their
    positions, lead after lead, and the index of the lead of each.

    The detector's adaptive thresholds fall until they find something, so after a step
    or on a flat stretch they pick up filter ringing. A QRS rises and falls: within 100 ms
    either side, the signal's path exceeds its net change by a fifth of its swing at least,
    where a step's path is its net change. Judged for the detections of all leads at once
    (one lead's samples around its own detections, clipped to its ends).
    """
    found = _detections(leads, rate)
    counts = [int(f.size) for f in found]
    if not any(counts):
        return _EMPTY, _EMPTY
    lead_of = np.repeat(np.arange(len(leads)), counts)
    positions = np.concatenate(found)
    last = np.array([samples.size - 1 for samples in leads])[lead_of]
    reach = max(1, round(0.1 * rate))
    index = np.clip(
        positions[:, None] + np.arange(-reach, reach + 1)[None, :], 0, last[:, None]
    )
    around = np.concatenate(
        [
            samples[rows]
            for samples, rows in zip(leads, np.split(index, np.cumsum(counts)[:-1]), strict=True)
        ]
    ).astype(np.float64)
    swing = around.max(axis=1) - around.min(axis=1)
    drift = np.abs(around[:, -1] - around[:, 0])
    variation = np.abs(np.diff(around, axis=1)).sum(axis=1)
    # Going back over the same ground: a step's path is exactly its drift.
    kept = (swing > 0) & (variation - drift > 0.2 * swing)
    return positions[kept], lead_of[kept]


def _fused(
    positions: npt.NDArray[np.int64], lead_of: npt.NDArray[np.int64], rate: float
) -> npt.NDArray[np.int64]:
    """One position per QRS from every lead's detections (the rule in the module docstring),
    given as positions, lead after lead, and the lead of each."""
    if positions.size == 0:
        return _EMPTY
    active = np.unique(lead_of)
    needed = 1 if active.size <= 2 else math.ceil(active.size / 2)
    leads = int(active[-1]) + 1
    order = np.argsort(positions, kind="stable")
    positions, lead_of = positions[order], lead_of[order]
    cluster = np.concatenate(([0], np.cumsum(np.diff(positions) > MERGE_SECONDS * rate)))
    clusters = int(cluster[-1]) + 1
    # Leads seeing each cluster, each counted once however many detections it gave there.
    pairs = np.unique(cluster * leads + lead_of)
    votes = np.bincount(pairs // leads, minlength=clusters)
    # Each cluster's median position (`np.median`'s: the middle one, or the mean of the
    # middle two, truncated): its positions are in order.
    bounds = np.flatnonzero(np.diff(cluster, prepend=-1, append=clusters))
    low, high = bounds[:-1] + (np.diff(bounds) - 1) // 2, bounds[:-1] + np.diff(bounds) // 2
    centres = ((positions[low].astype(np.float64) + positions[high]) / 2).astype(np.int64)
    accepted = votes >= needed
    return _refractory(centres[accepted], votes[accepted], REFRACTORY_SECONDS * rate)


def _refractory(
    beats: npt.NDArray[np.int64], votes: npt.NDArray[np.int64], gap: float
) -> npt.NDArray[np.int64]:
    """Of beats closer than gap, keep the one with more votes (the earlier on a tie)."""
    if beats.size < 2 or np.all(np.diff(beats) >= gap):
        return beats
    kept: list[int] = []
    kept_votes: list[int] = []
    for beat, vote in zip(beats.tolist(), votes.tolist(), strict=True):
        if kept and beat - kept[-1] < gap:
            if vote > kept_votes[-1]:
                kept[-1], kept_votes[-1] = beat, vote
            continue
        kept.append(beat)
        kept_votes.append(vote)
    return np.array(kept, dtype=np.int64)


def of_ecg(ecg: EcgSignal, prior: Mapping[str, object]) -> npt.NDArray[np.int64] | None:
    """The registry's entry point: the beats of an ECG (None without a sampling rate)."""
    return detect_beats(ecg)


def of_source(source: EcgSource, prior: Mapping[str, object]) -> npt.NDArray[np.int64] | None:
    """The registry's windowed entry point: the beats of an ECG read window by window."""
    return detect_beats_windows(source)

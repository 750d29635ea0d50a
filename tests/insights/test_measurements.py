"""Measurements against references we did not compute: the Mortara device's own intervals and
axes, MIT-BIH expert beats; plausibility on PTB and BITalino; synthetic rhythms and edges."""

from __future__ import annotations

import math
import statistics

import numpy as np
import numpy.typing as npt
import pytest

from ecg_graphql.insights.beats import detect_beats
from ecg_graphql.insights.measurements import IRREGULAR, REGULAR, Measurements, measure
from ecg_graphql.insights.signals import EcgSignal, LeadSignal
from tests.harness import load_annotations, load_signal

MORTARA = "mortara_pydicom_12lead.json"


def measured(name: str, rate: float | None = None) -> Measurements:
    ecg = load_signal(name, rate)
    beats = detect_beats(ecg)
    assert beats is not None
    result = measure(ecg, beats)
    assert result is not None
    return result


def device_ms(value: str) -> float:
    number, unit = value.split()
    assert unit in ("ms", "deg")
    return float(number)


@pytest.mark.parametrize("rate", [1000.0, 500.0])
def test_mortara_against_the_device(rate: float) -> None:
    device = load_annotations("mortara_pydicom_12lead.annotations.json")["measurements"]
    result = measured(MORTARA, rate)
    assert result.heart_rate is not None
    assert result.heart_rate == pytest.approx(61.1, abs=1.0)
    assert result.rhythm == REGULAR
    assert result.pr_interval is not None
    assert result.pr_interval == pytest.approx(device_ms(device["PR Interval"]), abs=20)
    assert result.qrs_duration is not None
    assert result.qrs_duration == pytest.approx(device_ms(device["QRS Duration"]), abs=15)
    assert result.qt_interval is not None
    assert result.qt_interval == pytest.approx(device_ms(device["QT Interval"]), abs=30)
    assert result.qrs_axis is not None
    assert result.qrs_axis == pytest.approx(device_ms(device["QRS Axis"]), abs=20)
    assert result.t_axis is not None
    assert result.t_axis == pytest.approx(device_ms(device["T Axis"]), abs=20)


def test_mortara_qtc_follows_its_formulas() -> None:
    result = measured(MORTARA)
    assert result.qt_interval is not None
    assert result.rr is not None
    rr_s = result.rr.mean_ms / 1000
    assert result.qtc_bazett == pytest.approx(result.qt_interval / math.sqrt(rr_s))
    assert result.qtc_fridericia == pytest.approx(result.qt_interval / rr_s ** (1 / 3))


def test_mitdb_100_heart_rate_and_rhythm() -> None:
    annotations = load_annotations("mitdb100_wfdb_centered.annotations.json")
    result = measured("mitdb100_wfdb_centered.json")
    assert result.heart_rate is not None
    assert result.heart_rate == pytest.approx(annotations["meanHeartRateFromBeats"], abs=1.0)
    assert result.rhythm == REGULAR
    # Plausible for a normal sinus rhythm; no axes: the record has no lead I.
    assert result.qrs_duration is not None
    assert 60 <= result.qrs_duration <= 120
    assert result.qt_interval is not None
    assert 300 <= result.qt_interval <= 450
    assert result.pr_interval is not None
    assert 120 <= result.pr_interval <= 220
    assert result.qrs_axis is None
    assert result.t_axis is None


def test_ptb_patient_001_is_plausible() -> None:
    """No reference values: checks ranges a sinus rhythm with a (wide, infarct) QRS lies in."""
    result = measured("ptb_s0010_wfdb.json")
    assert result.heart_rate is not None
    assert 60 <= result.heart_rate <= 100
    assert result.rhythm == REGULAR
    assert result.qrs_duration is not None
    assert 80 <= result.qrs_duration <= 170
    assert result.qt_interval is not None
    assert 350 <= result.qt_interval <= 520
    assert result.pr_interval is None or 100 <= result.pr_interval <= 300
    assert result.qrs_axis is not None
    assert -180 < result.qrs_axis <= 180
    assert result.t_axis is not None
    assert -180 < result.t_axis <= 180


def test_bitalino_single_lead_is_plausible() -> None:
    """No reference values: a resting single lead, rate and rhythm plausible, no axes."""
    result = measured("bitalino_pyhrv_centered.json")
    assert result.heart_rate is not None
    assert 50 <= result.heart_rate <= 110
    assert result.rhythm == REGULAR
    assert result.qrs_duration is None or 40 <= result.qrs_duration <= 130
    assert result.qt_interval is None or 300 <= result.qt_interval <= 480
    assert result.qrs_axis is None
    assert result.t_axis is None


def test_rr_statistics_are_the_textbook_ones() -> None:
    ecg = load_signal(MORTARA)
    beats = np.array([0, 1000, 1900, 3000, 4000], dtype=np.int64)
    result = measure(ecg, beats)
    assert result is not None
    assert result.rr is not None
    intervals = [1000.0, 900.0, 1100.0, 1000.0]
    assert result.rr.count == 4
    assert result.rr.mean_ms == pytest.approx(statistics.mean(intervals))
    assert result.rr.median_ms == pytest.approx(statistics.median(intervals))
    assert (result.rr.min_ms, result.rr.max_ms) == (900.0, 1100.0)
    assert result.rr.sdnn_ms == pytest.approx(statistics.stdev(intervals))
    assert result.rr.rmssd_ms == pytest.approx(math.sqrt((100**2 + 200**2 + 100**2) / 3))
    assert result.heart_rate == pytest.approx(60.0)
    assert result.rhythm == REGULAR  # 5 beats: the fewest with a rhythm
    four = measure(ecg, beats[:4])
    assert four is not None
    assert four.rhythm is None


def beats_from_rr(rr_ms: npt.NDArray[np.float64], rate: float) -> npt.NDArray[np.int64]:
    return np.round(np.concatenate(([0.0], np.cumsum(rr_ms))) * rate / 1000).astype(np.int64)


@pytest.mark.parametrize("seed", range(10))
def test_random_rr_is_irregular(seed: int) -> None:
    """Atrial fibrillation-like: intervals drawn independently, 400-1000 ms."""
    rng = np.random.default_rng(seed)
    rr = rng.uniform(400, 1000, 12)
    ecg = load_signal(MORTARA)
    result = measure(ecg, beats_from_rr(rr, 1000.0))
    assert result is not None
    assert result.rhythm == IRREGULAR


@pytest.mark.parametrize("seed", range(10))
def test_sinus_with_breathing_and_one_ectopic_is_regular(seed: int) -> None:
    """Respiratory sinus arrhythmia of +-6 % plus one premature beat and its pause."""
    rng = np.random.default_rng(seed)
    index = np.arange(12)
    rr = 900 * (1 + 0.06 * np.sin(2 * np.pi * index / 4 + rng.uniform(0, 2 * np.pi)))
    rr += rng.normal(0, 5, rr.size)
    rr[5], rr[6] = rr[5] * 0.65, rr[6] * 1.35
    result = measure(load_signal(MORTARA), beats_from_rr(rr, 1000.0))
    assert result is not None
    assert result.rhythm == REGULAR


@pytest.mark.parametrize("beats", [[], [500]])
def test_fewer_than_two_beats_give_null_rate_and_rr(beats: list[int]) -> None:
    result = measure(load_signal(MORTARA), np.asarray(beats, dtype=np.int64))
    assert result is not None
    assert result.beat_count == len(beats)
    assert result.heart_rate is None
    assert result.rr is None
    assert result.rhythm is None
    assert result.qt_interval is None
    assert result.qtc_bazett is None


def test_no_sampling_rate_gives_none() -> None:
    ecg = load_signal(MORTARA)
    unrated = EcgSignal(
        tuple(LeadSignal(x.name, x.samples, None, x.units_per_mv) for x in ecg.leads), None
    )
    assert measure(unrated, np.array([100, 1100, 2100], dtype=np.int64)) is None


HOSTILE: dict[str, npt.NDArray[np.int64]] = {
    "zeros": np.zeros(5000, dtype=np.int64),
    "one sample": np.array([3], dtype=np.int64),
    "step": np.r_[np.zeros(2500, dtype=np.int64), np.full(2500, 1000, dtype=np.int64)],
    "int32 extremes": np.array([-(2**31), 2**31 - 1] * 2500, dtype=np.int64),
    "noise": np.round(np.random.default_rng(5).normal(0, 100, 5000)).astype(np.int64),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize(
    "beats", [[], [10], [0, 400, 800, 1200, 1600, 2000, 2400, 4999], [0, 0, 1, 2, 3, 4]]
)
def test_hostile_signals_never_raise(name: str, beats: list[int]) -> None:
    samples = HOSTILE[name]
    ecg = EcgSignal(
        (LeadSignal("I", samples, 500.0, None), LeadSignal("II", samples, 500.0, 1.0)), 500.0
    )
    result = measure(ecg, np.asarray(beats, dtype=np.int64))
    assert result is not None
    for value in (result.pr_interval, result.qrs_duration, result.qt_interval):
        assert value is None or math.isfinite(value)


def test_every_result_field_is_plain() -> None:
    result = measured(MORTARA)
    for value in (result.heart_rate, result.qt_interval, result.qrs_axis, result.pr_interval):
        assert type(value) is float
    assert type(result.beat_count) is int

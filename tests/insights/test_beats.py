"""Beat detection: expert MIT-BIH annotations and the Mortara device's fiducials, one beat per
QRS over many leads, windowed equal to unwindowed, hostile signals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import numpy.typing as npt
import pytest
from sleepecg.heartbeats import detect_heartbeats

from ecg_graphql.insights import beats
from ecg_graphql.insights.beats import detect_beats
from ecg_graphql.insights.signals import EcgSignal, LeadSignal
from tests.harness import ROOT, load_annotations, load_signal

MITDB = "mitdb100_wfdb_centered.json"
MORTARA = "mortara_pydicom_12lead.json"


def matched(found: npt.NDArray[np.int64], reference: npt.NDArray[np.int64], tolerance: int) -> int:
    """Pairs of (found, reference) within tolerance, each beat used at most once."""
    pairs = 0
    j = 0
    for beat in reference.tolist():
        while j < found.size and found[j] < beat - tolerance:
            j += 1
        if j < found.size and abs(int(found[j]) - beat) <= tolerance:
            pairs += 1
            j += 1
    return pairs


def test_mitdb_100_sensitivity_and_positive_predictivity() -> None:
    ecg = load_signal(MITDB)
    reference = np.asarray(
        load_annotations("mitdb100_wfdb_centered.annotations.json")["rPeakSamples0Based"],
        dtype=np.int64,
    )
    found = detect_beats(ecg)
    assert found is not None
    true_positives = matched(found, reference, round(0.075 * 360))
    sensitivity = true_positives / reference.size
    predictivity = true_positives / found.size
    assert sensitivity >= 0.995, (sensitivity, found.size, reference.size)
    assert predictivity >= 0.995, (predictivity, found.size, reference.size)


@pytest.mark.parametrize("rate", [None, 500.0])
def test_mortara_twelve_leads_give_one_beat_per_device_fiducial(rate: float | None) -> None:
    ecg = load_signal(MORTARA, rate)
    fiducials = np.asarray(
        load_annotations("mortara_pydicom_12lead.annotations.json")["rPeakSamples0Based"]
    )
    scale = (rate or 1000.0) / 1000.0
    reference = np.round(fiducials * scale).astype(np.int64)
    found = detect_beats(ecg)
    assert found is not None
    assert found.size == reference.size
    assert matched(found, reference, round(0.075 * (rate or 1000.0))) == reference.size


def test_a_qrs_seen_by_every_lead_counts_once() -> None:
    ecg = load_signal(MITDB)
    single = detect_beats(EcgSignal(ecg.leads[:1], ecg.sampling_rate))
    copies = EcgSignal(ecg.leads * 6, ecg.sampling_rate)
    fused = detect_beats(copies)
    assert single is not None
    assert fused is not None
    assert abs(fused.size - single.size) <= 1
    assert np.all(np.diff(fused) > 0.2 * 360)


@pytest.mark.parametrize(("window", "overlap"), [(60.0, 10.0), (77.7, 8.0), (31.0, 6.0)])
def test_windowed_equals_unwindowed(window: float, overlap: float) -> None:
    ecg = load_signal(MITDB)
    whole = detect_beats(ecg, window_seconds=1e9)
    windowed = detect_beats(ecg, window_seconds=window, overlap_seconds=overlap)
    assert whole is not None
    assert windowed is not None
    assert whole.size > 300
    np.testing.assert_array_equal(windowed, whole)


def test_output_is_ascending_int64() -> None:
    found = detect_beats(load_signal("ptb_s0010_wfdb.json"))
    assert found is not None
    assert found.dtype == np.int64
    assert np.all(np.diff(found) > 0)


def test_no_sampling_rate_gives_none() -> None:
    ecg = load_signal(MORTARA)
    assert detect_beats(EcgSignal(ecg.leads, None)) is None


HOSTILE: dict[str, npt.NDArray[np.int64]] = {
    "zeros": np.zeros(5000, dtype=np.int64),
    "one sample": np.array([3], dtype=np.int64),
    "empty": np.zeros(0, dtype=np.int64),
    "step": np.r_[np.zeros(2500, dtype=np.int64), np.full(2500, 1000, dtype=np.int64)],
    "three samples": np.array([1, 5, 2], dtype=np.int64),
    "int32 extremes": np.array([-(2**31), 2**31 - 1] * 2500, dtype=np.int64),
    "noise": np.round(np.random.default_rng(3).normal(0, 100, 5000)).astype(np.int64),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("rate", [0.5, 1.0, 250.0, 500.0, 20000.0])
def test_hostile_signals_never_raise(name: str, rate: float) -> None:
    samples = HOSTILE[name]
    found = detect_beats(EcgSignal((LeadSignal("I", samples, rate, None),), rate))
    assert found is not None
    assert found.dtype == np.int64
    if name in ("zeros", "one sample", "empty", "step", "three samples"):
        assert found.size == 0


@pytest.mark.parametrize("rate", [250.0, 500.0, 1000.0])
def test_signals_shorter_than_the_learning_phase_never_reach_the_detector(rate: float) -> None:
    # The detector's C kernel reads 2 s of thresholds and sizes buffers from the length
    # without bounds checks: such leads must give no beats, never a call into it.
    rng = np.random.default_rng(int(rate))
    short = rng.integers(-2000, 2000, size=int(2 * rate)).astype(np.int64)
    flat_then_short = np.r_[np.zeros(int(5 * rate), dtype=np.int64), short]
    for samples in (short, flat_then_short, short[:7]):
        found = detect_beats(EcgSignal((LeadSignal("I", samples, rate, None),), rate))
        assert found is not None
        assert found.size == 0
    # Long enough, the same kind of lead reaches the detector (which finds something in it).
    long = rng.integers(-2000, 2000, size=int(6 * rate)).astype(np.int64)
    found = detect_beats(EcgSignal((LeadSignal("I", long, rate, None),), rate))
    assert found is not None
    assert found.size > 0


@pytest.mark.parametrize(
    "name", [MITDB, MORTARA, "ptb_s0010_wfdb.json", "bitalino_pyhrv_centered.json"]
)
@pytest.mark.parametrize("rate_factor", [1.0, 0.5])
def test_leads_detected_together_equal_detect_heartbeats_lead_by_lead(
    name: str, rate_factor: float
) -> None:
    # Leads filtered in one call and thresholded by sleepecg's kernels, beside leads that
    # go through detect_heartbeats itself (another length), and leads with a flat start of
    # the same length (filtered together from there), all as it finds.
    ecg = load_signal(name)
    assert ecg.sampling_rate is not None
    rate = ecg.sampling_rate * rate_factor
    leads: list[npt.NDArray[np.integer]] = [lead.samples[:30_000] for lead in ecg.leads]
    flat_starts = [lead.copy() for lead in (leads[0], leads[-1])]
    for lead in flat_starts:
        lead[:500] = lead[0]
    leads += [*flat_starts, leads[0][:-7], -leads[-1]]
    found = beats._detections(leads, rate)
    expected = [detect_heartbeats(samples.astype(np.float64), rate) for samples in leads]
    assert len(found) == len(expected)
    for got, want in zip(found, expected, strict=True):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_the_detector_starts_where_detect_heartbeats_starts() -> None:
    # sleepecg filters from sample 0 unless the lead starts flat (its second sample equals
    # its first), then from the first sample that differs from the first.
    rate = 250.0
    lead = np.round(100 * np.sin(np.arange(2000) / 7.0)).astype(np.int64) + 1
    assert beats._runnable_from(lead, rate) == 0
    flat = lead.copy()
    flat[:40] = flat[0]
    assert beats._runnable_from(flat, rate) == 40


# Runs in a child process: the failure it guards against aborts the process (heap corruption).
STEPS = """
import sys
import numpy as np
from ecg_graphql.insights import beats
crash = np.r_[np.zeros(1137, dtype=np.int64), np.full(1138, 500, dtype=np.int64)]
assert beats._detections([crash], 360.0)[0].size == 0
for rate in (250.0, 360.0, 500.0, 1000.0):
    for flat in range(int(2 * rate), int(5 * rate), 37):
        for after in (int(2.1 * rate), int(3.2 * rate), int(6.3 * rate)):
            lead = np.r_[np.zeros(flat, dtype=np.int64), np.full(after, 500, dtype=np.int64)]
            found = beats._detections([lead, -lead, lead[::-1].copy()], rate)
            assert all(f.dtype == np.int64 for f in found)
print("ok")
"""


def test_a_step_never_makes_the_detector_write_past_its_buffer() -> None:
    # Found on a 360 Hz upload: 1137 zeros then 1138 samples of 500. After the step the
    # detector's thresholds fall and it takes ringing at nearly every 200 ms, one beat more
    # than its RR buffer holds, and sleepecg's kernel corrupted the heap (process aborted).
    done = subprocess.run(  # noqa: S603  (our own interpreter and script)
        [sys.executable, "-c", STEPS], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"

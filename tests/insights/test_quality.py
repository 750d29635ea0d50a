"""Lead quality: every real lead GOOD; constant and tiny leads FLAT, saturated CLIPPED, noise
NOISY; without a sampling rate only FLAT is decided."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from ecg_graphql.insights.quality import CLIPPED, FLAT, GOOD, NOISY, quality
from ecg_graphql.insights.signals import LeadSignal
from tests.harness import TEST_DATA, load_signal

RECORDINGS = sorted(
    p.name for p in TEST_DATA.glob("*.json") if not p.name.endswith(".annotations.json")
)


def lead(
    samples: npt.NDArray[np.int64], rate: float | None = 500.0, gain: float | None = None
) -> LeadSignal:
    return LeadSignal("II", samples, rate, gain)


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_real_lead_is_good(name: str) -> None:
    verdicts = {one.name: quality(one) for one in load_signal(name).leads}
    assert verdicts == dict.fromkeys(verdicts, GOOD)


def test_constant_lead_is_flat_with_or_without_rate() -> None:
    assert quality(lead(np.full(5000, 7, dtype=np.int64))) == FLAT
    assert quality(lead(np.full(5000, 7, dtype=np.int64), rate=None)) == FLAT


def test_under_005_mv_is_flat_only_when_gain_is_known() -> None:
    real = load_signal("mortara_pydicom_12lead.json").lead("II")
    assert real is not None
    # Scaled to 0.04 mV peak to peak at 1000 counts per mV: 40 counts.
    span = int(real.samples.max() - real.samples.min())
    tiny = (real.samples - real.samples.min()) * 40 // span
    assert quality(LeadSignal("II", tiny, 1000.0, 1000.0)) == FLAT
    assert quality(LeadSignal("II", tiny, 1000.0, 100.0)) != FLAT  # 0.4 mV
    assert quality(LeadSignal("II", tiny, 1000.0, None)) != FLAT


def test_saturated_lead_is_clipped() -> None:
    real = load_signal("mortara_pydicom_12lead.json").lead("II")
    assert real is not None
    # A 4 mV baseline swing (a moving electrode) drives the amplifier into its rail.
    swing = np.round(3200 * np.sin(np.linspace(0, np.pi, real.samples.size))).astype(np.int64)
    rail = int(real.samples.max()) + 2000
    clipped = np.minimum(real.samples + swing, rail)
    assert quality(LeadSignal("II", clipped, 1000.0, 800.0)) == CLIPPED


def test_a_peak_touching_its_extreme_briefly_is_not_clipping() -> None:
    real = load_signal("mortara_pydicom_12lead.json").lead("II")
    assert real is not None
    samples = real.samples.copy()
    peak = int(np.argmax(samples))
    samples[peak : peak + 30] = samples[peak]  # 30 ms at the maximum: under the 50 ms rule
    assert quality(LeadSignal("II", samples, 1000.0, 800.0)) == GOOD
    samples[peak : peak + 60] = samples[peak]  # 60 ms: a saturated amplifier
    assert quality(LeadSignal("II", samples, 1000.0, 800.0)) == CLIPPED


@pytest.mark.parametrize("rate", [125.0, 250.0, 360.0, 500.0, 1000.0])
def test_white_noise_is_noisy(rate: float) -> None:
    rng = np.random.default_rng(int(rate))
    noise = np.round(rng.normal(0, 300, int(10 * rate))).astype(np.int64)
    assert quality(lead(noise, rate=rate, gain=1000.0)) == NOISY


def test_ecg_buried_in_noise_is_noisy() -> None:
    real = load_signal("mortara_pydicom_12lead.json").lead("II")
    assert real is not None
    rng = np.random.default_rng(7)
    swamped = real.samples + np.round(rng.normal(0, 2000, real.samples.size)).astype(np.int64)
    assert quality(LeadSignal("II", swamped, 1000.0, 800.0)) == NOISY


def test_without_rate_only_flat_is_decided() -> None:
    real = load_signal("mortara_pydicom_12lead.json").lead("II")
    assert real is not None
    assert quality(LeadSignal("II", real.samples, None, 800.0)) is None


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros(0, dtype=np.int64),
        np.array([5], dtype=np.int64),
        np.array([1, 2], dtype=np.int64),
        np.array([-(2**31), 2**31 - 1] * 100, dtype=np.int64),
        np.r_[np.zeros(500, dtype=np.int64), np.full(500, 1000, dtype=np.int64)],
    ],
    ids=["empty", "one", "two", "int32-extremes", "step"],
)
@pytest.mark.parametrize("rate", [None, 0.5, 500.0])
def test_hostile_signals_never_raise(samples: npt.NDArray[np.int64], rate: float | None) -> None:
    assert quality(lead(samples, rate=rate)) in (None, GOOD, FLAT, CLIPPED, NOISY)


def test_step_is_clipped() -> None:
    # Half the lead at its minimum and half at its maximum: a saturated signal, not an ECG.
    step = np.r_[np.zeros(500, dtype=np.int64), np.full(500, 1000, dtype=np.int64)]
    assert quality(lead(step)) == CLIPPED

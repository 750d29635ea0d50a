"""Amplitude: min, max, mean and RMS against exact pure-Python sums, on made-up and real leads."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg_graphql.insights.amplitude import amplitude
from ecg_graphql.insights.signals import LeadSignal
from tests.harness import load_signal


def lead(values: list[int]) -> LeadSignal:
    return LeadSignal("I", np.asarray(values, dtype=np.int64), 500.0, None)


def test_small_signal() -> None:
    result = amplitude(lead([1, -1, 3]))
    assert (result.min, result.max) == (-1, 3)
    assert result.mean == pytest.approx(1.0)
    assert result.rms == pytest.approx(math.sqrt(11 / 3))
    assert type(result.min) is int
    assert type(result.mean) is float


def test_int32_extremes_are_exact() -> None:
    values = [-(2**31), 2**31 - 1] * 1000
    result = amplitude(lead(values))
    assert (result.min, result.max) == (-(2**31), 2**31 - 1)
    assert result.mean == pytest.approx(-0.5)
    assert result.rms == pytest.approx(math.sqrt(math.fsum(v * v for v in values) / len(values)))


@pytest.mark.parametrize("name", ["mortara_pydicom_12lead.json", "ptb_s0010_wfdb.json"])
def test_real_leads_match_pure_python(name: str) -> None:
    for one in load_signal(name).leads:
        values = one.samples.tolist()
        result = amplitude(one)
        assert (result.min, result.max) == (min(values), max(values))
        assert result.mean == pytest.approx(math.fsum(values) / len(values), rel=1e-12)
        expected_rms = math.sqrt(math.fsum(v * v for v in values) / len(values))
        assert result.rms == pytest.approx(expected_rms, rel=1e-12)


def test_empty_lead_is_refused() -> None:
    with pytest.raises(ValueError, match="no samples"):
        amplitude(lead([]))

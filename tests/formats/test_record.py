"""The renderers' input refuses what no renderer could draw honestly."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ecg_graphql.formats.record import EcgRecord, RecordLead

UTC_DATE = datetime(2024, 5, 1, tzinfo=UTC)
LEAD = RecordLead("I", np.array([1, 2], dtype=np.int32), 100.0)


def test_a_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        EcgRecord(id="x", date=datetime(2024, 5, 1), sampling_rate=500.0, leads=(LEAD,))


@pytest.mark.parametrize("rate", [0.0, -1.0, float("nan"), float("inf")])
def test_a_bad_sampling_rate_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="sampling_rate"):
        EcgRecord(id="x", date=UTC_DATE, sampling_rate=rate, leads=(LEAD,))


def test_unknown_measurement_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown measurements"):
        EcgRecord(id="x", date=UTC_DATE, sampling_rate=500.0, leads=(LEAD,),
                  measurements={"heartrate": 60.0})  # fmt: skip


def test_leads_must_be_integer_vectors_with_a_positive_gain() -> None:
    with pytest.raises(ValueError, match="integer"):
        RecordLead("I", np.array([1.5]), 100.0)
    with pytest.raises(ValueError, match="integer"):
        RecordLead("I", np.zeros((2, 2), dtype=np.int32), 100.0)
    with pytest.raises(ValueError, match="units_per_mv"):
        RecordLead("I", np.array([1], dtype=np.int32), 0.0)
    with pytest.raises(ValueError, match="at least one lead"):
        EcgRecord(id="x", date=UTC_DATE, sampling_rate=None, leads=())

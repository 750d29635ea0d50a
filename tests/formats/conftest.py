"""Real recordings from tests/data as renderer input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from ecg_graphql.formats.record import EcgRecord, RecordLead
from tests.harness import TEST_DATA

# Gains from tests/data/README.md: Mortara 1.25 uV per count, MIT-BIH 200 counts per mV.
MORTARA_UNITS_PER_MV = 800.0
MITDB_UNITS_PER_MV = 200.0


def _record(name: str, units_per_mv: float | None, ecg_id: str) -> EcgRecord:
    data: dict[str, Any] = json.loads((TEST_DATA / name).read_text())
    date = datetime.fromisoformat(data["date"] or "2020-01-01T00:00:00").replace(tzinfo=UTC)
    return EcgRecord(
        id=ecg_id,
        date=date,
        sampling_rate=float(data["samplingRate"]),
        leads=tuple(
            RecordLead(lead["name"], np.asarray(lead["signal"], dtype=np.int32), units_per_mv)
            for lead in data["leads"]
        ),
        zero_crossings={lead["name"]: 7 for lead in data["leads"]},
    )


@pytest.fixture(scope="session")
def mortara() -> EcgRecord:
    """Mortara ELI 250 resting 12-lead, 10 s at 1 kHz."""
    return _record("mortara_pydicom_12lead.json", MORTARA_UNITS_PER_MV, "mortara-12lead")


@pytest.fixture(scope="session")
def mitdb() -> EcgRecord:
    """MIT-BIH record 100, II and V5, 5 min at 360 Hz."""
    return _record("mitdb100_wfdb_centered.json", MITDB_UNITS_PER_MV, "mitdb-100")


@pytest.fixture(scope="session")
def mitdb_r_peaks() -> list[int]:
    """Cardiologist-annotated R peaks of MIT-BIH 100 (0-based sample indices)."""
    annotations = json.loads((TEST_DATA / "mitdb100_wfdb_centered.annotations.json").read_text())
    peaks: list[int] = annotations["rPeakSamples0Based"]
    return peaks

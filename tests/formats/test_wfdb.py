"""The WFDB export, read back by the wfdb package: samples, rate, gain, names and date."""

from __future__ import annotations

import dataclasses
import io
import warnings
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    # wfdb 4.3.1 calls DataFrame.set_index(inplace=True) at import, deprecated by pandas 3.1.
    warnings.filterwarnings("ignore", message="The inplace keyword", module="wfdb")
    import wfdb

from ecg_graphql.formats.errors import SamplingRateRequired
from ecg_graphql.formats.record import EcgRecord, RecordLead
from ecg_graphql.formats.wfdb import record_name, render_wfdb_zip


def _read(record: EcgRecord, folder: Path) -> wfdb.Record:
    archive = zipfile.ZipFile(io.BytesIO(render_wfdb_zip(record)))
    name = record_name(record.id)
    assert sorted(archive.namelist()) == [f"{name}.dat", f"{name}.hea"]
    archive.extractall(folder)
    return wfdb.rdrecord(str(folder / name), physical=False)


def test_mortara_reads_back_exactly(mortara: EcgRecord, tmp_path: Path) -> None:
    back = _read(mortara, tmp_path)
    assert back.fs == 1000
    assert back.fmt == ["16"] * 12
    assert back.adc_gain == [800.0] * 12
    assert back.baseline == [0] * 12
    assert back.units == ["mV"] * 12
    assert back.sig_name == [lead.name for lead in mortara.leads]
    assert back.base_datetime == datetime(2013, 1, 25, 10, 59, 19)
    for column, lead in enumerate(mortara.leads):
        assert np.array_equal(back.d_signal[:, column], lead.samples), lead.name
    # Our checksums are WFDB's (signed 16-bit; wfdb-python computes them unsigned).
    assert [c % 65536 for c in back.checksum] == back.calc_checksum()
    physical = wfdb.rdrecord(str(tmp_path / record_name(mortara.id))).p_signal
    assert physical[:, 0] == pytest.approx(mortara.leads[0].samples / 800.0)


def test_mitdb_reads_back_exactly(mitdb: EcgRecord, tmp_path: Path) -> None:
    back = _read(mitdb, tmp_path)
    assert back.fs == 360
    assert back.sig_len == 108_000
    assert back.adc_gain == [200.0, 200.0]
    assert back.sig_name == ["II", "V5"]
    for column, lead in enumerate(mitdb.leads):
        assert np.array_equal(back.d_signal[:, column], lead.samples)


def test_date_is_written_in_utc_with_its_fraction(mitdb: EcgRecord, tmp_path: Path) -> None:
    local = datetime(2024, 5, 1, 1, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    back = _read(dataclasses.replace(mitdb, date=local), tmp_path)
    assert back.base_datetime == datetime(2024, 4, 30, 23, 30, 15, 250000)


def test_samples_beyond_16_bits_use_format_32(tmp_path: Path) -> None:
    samples = np.array([0, 40_000, -2_000_000_000, 2_000_000_000, -32768], dtype=np.int64)
    record = EcgRecord(
        id="big", date=datetime(2024, 5, 1, tzinfo=UTC), sampling_rate=500.0,
        leads=(RecordLead("I", samples, 1000.0),),
    )  # fmt: skip
    back = _read(record, tmp_path)
    assert back.fmt == ["32"]
    assert np.array_equal(back.d_signal[:, 0], samples)


def test_shorter_leads_are_padded_with_the_invalid_value(tmp_path: Path) -> None:
    record = EcgRecord(
        id="ragged", date=datetime(2024, 5, 1, tzinfo=UTC), sampling_rate=500.0,
        leads=(
            RecordLead("I", np.array([1, 2, 3, 4], dtype=np.int32), 100.0),
            RecordLead("II", np.array([5, 6], dtype=np.int32), None),
        ),
    )  # fmt: skip
    back = _read(record, tmp_path)
    assert back.d_signal[:, 0].tolist() == [1, 2, 3, 4]
    assert back.d_signal[:, 1].tolist() == [5, 6, -32768, -32768]
    # Unknown gain is WFDB's "uncalibrated" 0, which WFDB reads as its default 200.
    assert back.adc_gain == [100.0, 200.0]


def test_odd_ids_give_a_valid_record_name_and_keep_the_id_in_a_comment(
    mortara: EcgRecord, tmp_path: Path
) -> None:
    record = dataclasses.replace(mortara, id="a/b c%\nd\u00e9" + "x" * 128)
    name = record_name(record.id)
    assert name.startswith("a_b_c__d_")
    assert len(name) <= 64
    back = _read(record, tmp_path)
    assert back.record_name == name
    assert '# ecg-graphql id "a/b c%\\nd\\u00e9' in (tmp_path / f"{name}.hea").read_text()
    assert record_name("///") == "ecg"


def test_without_sampling_rate_wfdb_is_refused(mortara: EcgRecord) -> None:
    with pytest.raises(SamplingRateRequired):
        render_wfdb_zip(dataclasses.replace(mortara, sampling_rate=None))


def test_zip_is_deterministic(mortara: EcgRecord) -> None:
    assert render_wfdb_zip(mortara) == render_wfdb_zip(mortara)

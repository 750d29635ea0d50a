"""The import readers against the reference readers (pydicom, wfdb) on real files, on files
written by the reference writers, and on our own FHIR and WFDB exports (round trips)."""

from __future__ import annotations

import copy
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.waveforms.numpy_handler import multiplex_array

with warnings.catch_warnings():
    # wfdb 4.3.1 calls DataFrame.set_index(inplace=True) at import, deprecated by pandas 3.1.
    warnings.filterwarnings("ignore", message="The inplace keyword", module="wfdb")
    import wfdb

from ecg_graphql.formats.fhir import render_fhir
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg, UnreadableFile
from ecg_graphql.formats.readers.registry import read_files
from ecg_graphql.formats.record import EcgRecord, RecordLead
from ecg_graphql.formats.wfdb import render_wfdb_zip
from tests.harness import TEST_DATA

DICOM = TEST_DATA / "dicom" / "waveform_ecg.dcm"
WFDB = TEST_DATA / "wfdb"
LIMIT = 64 * 1024 * 1024


def _read(*paths: Path) -> ParsedEcg:
    return read_files([InputFile(i, p.name, p.read_bytes()) for i, p in enumerate(paths)], LIMIT)


def test_mortara_dicom_equals_the_recording() -> None:
    parsed = _read(DICOM)
    expected = json.loads((TEST_DATA / "mortara_pydicom_12lead.json").read_text())
    assert parsed.format == "DICOM"
    assert parsed.sampling_rate == 1000.0
    assert parsed.date == datetime(2013, 1, 25, 10, 59, 19)  # no offset in the file: UTC
    assert [lead.name for lead in parsed.leads] == [lead["name"] for lead in expected["leads"]]
    for lead, reference in zip(parsed.leads, expected["leads"], strict=True):
        assert lead.samples.tolist() == reference["signal"], lead.name
        assert lead.units_per_mv == 800.0


def test_dicom_matches_pydicom_with_baseline_and_time_zone(tmp_path: Path) -> None:
    """A file written by pydicom with a channel baseline and a UTC offset: samples are
    pydicom's raw values plus baseline / sensitivity, the time is converted to UTC."""
    ds = pydicom.dcmread(DICOM)
    group = ds.WaveformSequence[0]
    channel = group.ChannelDefinitionSequence[0]
    channel.ChannelBaseline = 12.5  # uV: 10 counts of 1.25 uV
    ds.TimezoneOffsetFromUTC = "+0200"
    ds.AcquisitionDateTime = "20130125105919"
    path = tmp_path / "written.dcm"
    ds.save_as(path)
    parsed = _read(path)
    raw = multiplex_array(pydicom.dcmread(path), 0, as_raw=True)
    physical = multiplex_array(pydicom.dcmread(path), 0, as_raw=False)
    assert parsed.leads[0].samples.tolist() == (raw[:, 0].astype(np.int64) + 10).tolist()
    # pydicom's scaled value is exactly our sample over our gain (in mV, sensitivity in uV).
    gain = parsed.leads[0].units_per_mv
    assert gain == 800.0
    np.testing.assert_allclose(parsed.leads[0].samples / gain, physical[:, 0] / 1000, rtol=1e-12)
    for column, lead in enumerate(parsed.leads[1:], start=1):
        assert lead.samples.tolist() == raw[:, column].tolist()
    assert parsed.date is not None
    assert parsed.date.astimezone(UTC) == datetime(2013, 1, 25, 8, 59, 19, tzinfo=UTC)


def _physionet(name: str) -> wfdb.Record:
    return wfdb.rdrecord(str(WFDB / name), physical=False)


@pytest.mark.parametrize("name", ["v102s", "3000003_0003", "100_3chan"])
def test_wfdb_records_match_rdrecord(name: str) -> None:
    parsed = _read(WFDB / f"{name}.hea", WFDB / f"{name}.dat")
    reference = _physionet(name)
    ecg = [i for i, unit in enumerate(reference.units) if unit == "mV"]
    assert [lead.name for lead in parsed.leads] == [reference.sig_name[i] for i in ecg]
    assert parsed.sampling_rate == reference.fs
    for lead, i in zip(parsed.leads, ecg, strict=True):
        expected = reference.d_signal[:, i].astype(np.int64) - reference.baseline[i]
        assert lead.samples.tolist() == expected.tolist(), lead.name
        assert lead.units_per_mv == reference.adc_gain[i]


def test_wfdb_drops_signals_that_are_not_in_volts() -> None:
    parsed = _read(WFDB / "v102s.hea", WFDB / "v102s.dat")
    assert [lead.name for lead in parsed.leads] == ["II", "V"]  # PLETH and RESP left out


@pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
def test_wfdb_written_by_wrsamp(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    digital = rng.integers(-2000, 2000, size=(1501, 3)).astype(np.int64)
    wfdb.wrsamp(
        "written",
        fs=257.5,
        units=["mV", "uV", "mV"],
        sig_name=["I", "V1", "ABP"],
        d_signal=digital,
        fmt=["16", "212", "16"],
        adc_gain=[1000.0, 3.5, 123.456],
        baseline=[-40, 7, 0],
        base_date=datetime(2021, 6, 1).date(),
        base_time=datetime(2021, 6, 1, 13, 14, 15).time(),
        write_dir=str(tmp_path),
    )
    # One signal file per format: the header names three.
    parsed = _read(tmp_path / "written.hea", *sorted(tmp_path.glob("written_*.dat")))
    reference = wfdb.rdrecord(str(tmp_path / "written"), physical=False)
    assert parsed.sampling_rate == 257.5
    assert parsed.date == datetime(2021, 6, 1, 13, 14, 15)
    for i, lead in enumerate(parsed.leads):
        expected = reference.d_signal[:, i].astype(np.int64) - reference.baseline[i]
        assert lead.samples.tolist() == expected.tolist()
    # uV per count converted to counts per mV.
    assert [lead.units_per_mv for lead in parsed.leads] == [1000.0, 3500.0, 123.456]


@pytest.fixture
def record() -> EcgRecord:
    rng = np.random.default_rng(4)
    return EcgRecord(
        id="round-trip",
        date=datetime(2024, 2, 3, 4, 5, 6, 789000, tzinfo=UTC),
        sampling_rate=362.5,
        leads=(
            RecordLead("I", rng.integers(-40000, 40000, 900), 1234.5),
            RecordLead("aVR", rng.integers(-300, 300, 900), 800.0),
            RecordLead("X", rng.integers(-(2**31) + 1, 2**31 - 1, 900), 0.37),
        ),
    )


def _same(parsed: ParsedEcg, record: EcgRecord) -> None:
    assert parsed.sampling_rate == record.sampling_rate
    assert parsed.date is not None
    assert parsed.date.astimezone(UTC) == record.date
    for lead, original in zip(parsed.leads, record.leads, strict=True):
        assert lead.name == original.name
        assert lead.samples.tolist() == original.samples.tolist()
        assert lead.units_per_mv == original.units_per_mv


def test_fhir_export_round_trip(record: EcgRecord) -> None:
    parsed = read_files([InputFile(0, "ecg.json", render_fhir(record))], LIMIT)
    assert parsed.format == "FHIR Observation"
    _same(parsed, record)


def test_wfdb_export_round_trip(record: EcgRecord) -> None:
    parsed = read_files([InputFile(0, "ecg.zip", render_wfdb_zip(record))], LIMIT)
    assert parsed.format == "WFDB"
    _same(parsed, record)


def test_every_unused_or_broken_file_is_named() -> None:
    files = [
        InputFile(0, "a.dcm", DICOM.read_bytes()),
        InputFile(1, "empty", b""),
        InputFile(2, "b.dcm", DICOM.read_bytes()),
    ]
    with pytest.raises(UnreadableFile) as caught:
        read_files(files, LIMIT)
    assert [index for index, _ in caught.value.problems] == [1, 2]


def test_dicom_copy_is_the_wheels_file() -> None:
    shipped = Path(pydicom.data.get_testdata_file("waveform_ecg.dcm"))  # type: ignore[arg-type]
    assert DICOM.read_bytes() == shipped.read_bytes()
    assert copy.copy(DICOM.name) == "waveform_ecg.dcm"

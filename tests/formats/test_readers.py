"""The import readers against the reference readers (pydicom, wfdb) on real files, on files
written by the reference writers, and on our own FHIR and WFDB exports (round trips)."""

from __future__ import annotations

import copy
import json
import warnings
from datetime import UTC, date, datetime, time
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


# --- Files of the other formats, each against a reference this service did not compute ---

ECG_TOOLKIT = {
    "dicom": TEST_DATA / "dicom" / "ecgtoolkit_example.dcm",
    "hl7": TEST_DATA / "hl7_aecg" / "ecgtoolkit_example.xml",
    "scp": TEST_DATA / "scp_ecg" / "ecgtoolkit_example.scp",
}
PHILIPS = sorted((TEST_DATA / "philips").glob("*.[xX][mM][lL]"))


def _pydicom_rhythm(path: Path) -> dict[str, list[int]]:
    """The ECG Toolkit example's rhythm leads as pydicom's multiplex_array reads them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file's UIDs have a doubled dot
        ds = pydicom.dcmread(path)
    group = ds.WaveformSequence[0]
    assert group.MultiplexGroupLabel == "RHYTHM"
    raw = multiplex_array(ds, 0, as_raw=True)
    names = [ch.ChannelSourceSequence[0].CodeMeaning for ch in group.ChannelDefinitionSequence]
    return {name.removeprefix("Lead "): raw[:, i].tolist() for i, name in enumerate(names)}


def test_dicom_with_padding_value_zero_keeps_zero_samples() -> None:
    # The ECG Toolkit writes Waveform Padding Value 0: a 0 uV sample is a sample, as pydicom's
    # multiplex_array gives it, not a gap (ecgdatakit alone made them NaN and the file failed).
    reference = _pydicom_rhythm(ECG_TOOLKIT["dicom"])
    parsed = _read(ECG_TOOLKIT["dicom"])
    assert parsed.format == "DICOM"
    assert parsed.sampling_rate == 500.0
    assert parsed.date == datetime(2002, 11, 22, 9, 10, 0)
    assert {lead.name: lead.samples.tolist() for lead in parsed.leads} == reference
    assert sum(row.count(0) for row in reference.values()) > 1000  # zeros are really there
    assert {lead.units_per_mv for lead in parsed.leads} == {400.0}  # 2.5 uV per count


@pytest.mark.parametrize("kind", ["hl7", "scp"])
def test_same_ecg_as_aecg_and_scp_equals_pydicom_of_its_dicom(kind: str) -> None:
    # The ECG Toolkit ships one 12-lead ECG (the HL7 aECG release's example) as HL7 aECG, as
    # SCP-ECG (default Huffman table, second differences) and as DICOM; pydicom reads the DICOM.
    reference = _pydicom_rhythm(ECG_TOOLKIT["dicom"])
    parsed = _read(ECG_TOOLKIT[kind])
    assert parsed.format == {"hl7": "HL7 aECG", "scp": "SCP-ECG"}[kind]
    assert parsed.sampling_rate == 500.0
    assert parsed.date == datetime(2002, 11, 22, 9, 10, 0)
    assert sorted(lead.name for lead in parsed.leads) == sorted(reference)
    for lead in parsed.leads:
        assert lead.samples.tolist() == reference[lead.name], lead.name
        assert lead.units_per_mv == 400.0


def test_hl7_aecg_equals_the_values_the_file_states() -> None:
    # Decoded here from the XML itself: each lead's digits + origin / scale, 1 / increment.
    from defusedxml import ElementTree  # type: ignore[import-untyped]

    ns = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
    root = ElementTree.parse(ECG_TOOLKIT["hl7"]).getroot()
    rhythm = root.find("h:component/h:series", ns)
    assert rhythm is not None
    expected: dict[str, tuple[list[int], float]] = {}
    increment = None
    for seq in rhythm.iterfind("h:component/h:sequenceSet/h:component/h:sequence", ns):
        code = seq.find("h:code", ns)
        value = seq.find("h:value", ns)
        assert code is not None
        assert value is not None
        if code.get("code") == "TIME_ABSOLUTE":
            step = value.find("h:increment", ns)
            assert step is not None
            assert step.get("unit") == "s"
            increment = float(step.get("value", "nan"))
            continue
        origin, scale, digits = (
            value.find(f"h:{tag}", ns) for tag in ("origin", "scale", "digits")
        )
        assert origin is not None
        assert scale is not None
        assert digits is not None
        assert origin.get("unit") == scale.get("unit") == "uV"
        zero = float(origin.get("value", "nan")) / float(scale.get("value", "nan"))
        samples = [int(d) + round(zero) for d in (digits.text or "").split()]
        lead = code.get("code", "").removeprefix("MDC_ECG_LEAD_").replace("AV", "aV")
        expected[lead] = (samples, 1000.0 / float(scale.get("value", "nan")))
    assert increment is not None
    assert len(expected) == 12
    parsed = _read(ECG_TOOLKIT["hl7"])
    assert parsed.sampling_rate == 1.0 / increment
    assert {lead.name: (lead.samples.tolist(), lead.units_per_mv) for lead in parsed.leads} == (
        expected
    )


def test_scp_ecg_states_what_its_source_says() -> None:
    # The file's description (ecg-contec examples/README.md): 12 leads, 5000 samples each,
    # 2000 us sample interval, 2500 nV per count.
    parsed = _read(ECG_TOOLKIT["scp"])
    assert len(parsed.leads) == 12
    assert {lead.samples.size for lead in parsed.leads} == {5000}
    assert parsed.sampling_rate == 1e6 / 2000
    assert {lead.units_per_mv for lead in parsed.leads} == {1e6 / 2500}


@pytest.mark.parametrize("path", PHILIPS, ids=lambda p: p.name)
def test_philips_xml_equals_sierraecg(path: Path) -> None:
    # sierraecg is an independent reader of the format (its own XLI decoder).
    import sierraecg
    from defusedxml import ElementTree

    reference = sierraecg.read_file(str(path))
    parsed = _read(path)
    assert parsed.format == "Philips XML"
    assert [lead.name for lead in parsed.leads] == [lead.label for lead in reference.leads]
    for lead, ref in zip(parsed.leads, reference.leads, strict=True):
        assert lead.samples.tolist() == np.asarray(ref.samples).tolist(), lead.name
        assert parsed.sampling_rate == float(ref.sampling_freq)
    # Gain and date as the file states them (documentinfo/dataacquisition, signalcharacteristics).
    root = ElementTree.parse(path).getroot()
    tag = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
    acquisition = root.find(f"{tag}dataacquisition")
    assert acquisition is not None
    when = f"{acquisition.get('date')} {acquisition.get('time')}"
    assert parsed.date == datetime.strptime(when, "%Y-%m-%d %H:%M:%S")
    chars = acquisition.find(f"{tag}signalcharacteristics")
    assert chars is not None
    resolution = chars.find(f"{tag}signalresolution")
    if resolution is None:
        resolution = chars.find(f"{tag}resolution")
    assert resolution is not None
    assert resolution.text is not None
    assert {lead.units_per_mv for lead in parsed.leads} == {1000.0 / float(resolution.text)}


@pytest.mark.parametrize(("rate", "record_seconds"), [(250.0, 1.0), (256.5, 2.0)])
def test_edf_written_by_edfio(tmp_path: Path, rate: float, record_seconds: float) -> None:
    # edfio writes the file and reads it back: samples are its digital values plus the zero of
    # the physical range in counts (rounded), gain 1 / resolution, rate and start as stated.
    import edfio

    rng = np.random.default_rng(20260)
    n = int(rate * 10)
    signals = [
        edfio.EdfSignal(
            rng.normal(0, 0.5, n),
            sampling_frequency=rate,
            label="ECG I",
            physical_dimension="mV",
            physical_range=(-5, 5),
        ),
        edfio.EdfSignal(
            rng.normal(200, 300, n).clip(-2000, 3000),
            sampling_frequency=rate,
            label="II",
            physical_dimension="uV",
            physical_range=(-2000, 3000),
            digital_range=(-2048, 2047),
        ),
        edfio.EdfSignal(
            rng.normal(36, 0.1, n),
            sampling_frequency=rate,
            label="Temp",
            physical_dimension="degC",
            physical_range=(30, 40),
            digital_range=(0, 1000),
        ),
    ]
    path = tmp_path / "ecg.edf"
    edfio.Edf(
        signals,
        starttime=time(13, 14, 15),
        data_record_duration=record_seconds,
        recording=edfio.Recording(startdate=date(2021, 3, 4)),
    ).write(path)
    reference = edfio.read_edf(path)
    parsed = _read(path)
    assert parsed.format == "EDF"
    assert parsed.sampling_rate == reference.signals[0].sampling_frequency == rate
    assert parsed.date == datetime.combine(reference.startdate, reference.starttime)
    assert [lead.name for lead in parsed.leads] == ["I", "II"]  # degC is not a lead
    for lead, ref in zip(parsed.leads, reference.signals[:2], strict=True):
        resolution = (ref.physical_max - ref.physical_min) / (ref.digital_max - ref.digital_min)
        zero = ref.physical_min / resolution - ref.digital_min
        assert lead.samples.tolist() == (ref.digital.astype(np.int64) + round(zero)).tolist()
        to_mv = {"mV": 1.0, "uV": 1000.0}[ref.physical_dimension]
        assert lead.units_per_mv == pytest.approx(to_mv / resolution, rel=1e-12)
        # Within half a count of edfio's physical values once scaled back.
        assert lead.units_per_mv is not None
        physical = lead.samples / lead.units_per_mv * to_mv
        assert np.abs(physical - ref.data).max() <= resolution / 2 + 1e-9

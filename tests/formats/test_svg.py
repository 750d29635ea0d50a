"""The SVG page: valid XML at physical size, and paper scale read from its own geometry
(grid pitch, 25 mm/s along the time axis, 10 mm/mV by the calibration pulse and by real R waves)."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET  # parses our own output only
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ecg_graphql.formats import paper
from ecg_graphql.formats.paper import Layout
from ecg_graphql.formats.record import EcgRecord, RecordLead
from ecg_graphql.formats.svg import render_svg
from tests.browser import artifact, chromium

NS = {"svg": "http://www.w3.org/2000/svg"}
_TOKEN = re.compile(r"[MLlVvH]|-?(?:\d+\.?\d*|\.\d+)")


def _parse(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own renderer's output, not untrusted input


def _subpaths(d: str) -> list[list[tuple[float, float]]]:
    """Absolute points of each subpath of the commands the renderer writes."""
    tokens = _TOKEN.findall(d)
    paths: list[list[tuple[float, float]]] = []
    x = y = 0.0
    i = 0
    while i < len(tokens):
        command = tokens[i]
        i += 1
        if command == "M":
            x, y = float(tokens[i]), float(tokens[i + 1])
            i += 2
            paths.append([(x, y)])
            continue
        if command in "Ll":
            dx, dy = float(tokens[i]), float(tokens[i + 1])
            i += 2
            x, y = (dx, dy) if command == "L" else (x + dx, y + dy)
        elif command in "Vv":
            value = float(tokens[i])
            i += 1
            y = value if command == "V" else y + value
        elif command == "H":
            x = float(tokens[i])
            i += 1
        else:  # pragma: no cover - the renderer writes no other command
            raise AssertionError(command)
        paths[-1].append((x, y))
    return paths


def _traces(root: ET.Element) -> list[ET.Element]:
    return root.findall("svg:g[@id='traces']/svg:path", NS)


def _points(path: ET.Element) -> np.ndarray:
    (points,) = _subpaths(path.attrib["d"])
    return np.array(points)


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_svg_is_xml_at_physical_a4_size(mortara: EcgRecord) -> None:
    root = _parse(render_svg(mortara))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["width"] == "297mm"
    assert root.attrib["height"] == "210mm"
    # One user unit is one millimetre: every length below is read in mm.
    assert root.attrib["viewBox"] == "0 0 297 210"


def test_grid_is_1_mm_with_5_mm_major_lines(mortara: EcgRecord) -> None:
    root = _parse(render_svg(mortara))
    minor = _subpaths(root.find("svg:g/svg:path[@id='grid-minor']", NS).attrib["d"])  # type: ignore[union-attr]
    major = _subpaths(root.find("svg:g/svg:path[@id='grid-major']", NS).attrib["d"])  # type: ignore[union-attr]
    vertical_minor = sorted(line[0][0] for line in minor if line[0][0] == line[1][0])
    vertical_major = sorted(line[0][0] for line in major if line[0][0] == line[1][0])
    horizontal_major = sorted(line[0][1] for line in major if line[0][1] == line[1][1])
    assert set(np.round(np.diff(vertical_major), 6)) == {5.0}
    assert set(np.round(np.diff(horizontal_major), 6)) == {5.0}
    every = sorted(vertical_minor + vertical_major)
    assert set(np.round(np.diff(every), 6)) == {1.0}
    assert not set(vertical_minor) & set(vertical_major)


def test_calibration_pulse_is_10_mm_tall_and_0_2_s_wide(mortara: EcgRecord) -> None:
    root = _parse(render_svg(mortara))
    pulses = root.findall("svg:g[@id='calibration']/svg:path", NS)
    assert len(pulses) == 4  # one per row: 3 rows of 4 leads and the rhythm strip
    for pulse in pulses:
        (points,) = _subpaths(pulse.attrib["d"])
        ys = [y for _, y in points]
        baseline = ys[0]
        assert max(ys) == baseline
        assert baseline - min(ys) == pytest.approx(10.0)  # 1 mV at 10 mm/mV
        top = [x for x, y in points if y == min(ys)]
        assert max(top) - min(top) == pytest.approx(5.0)  # 0.2 s at 25 mm/s


def test_r_waves_sit_at_25_mm_per_second_and_10_mm_per_mv(
    mitdb: EcgRecord, mitdb_r_peaks: list[int]
) -> None:
    """Each annotated R wave of MIT-BIH 100's lead II in the rhythm strip is drawn at
    x = start + 25 mm/s * t and y = baseline - 10 mm/mV * value, to the drawing's 0.1 mm."""
    root = _parse(render_svg(mitdb))
    rhythm = [p for p in _traces(root) if p.attrib["data-row"] == "3"]
    assert [p.attrib["data-lead"] for p in rhythm] == ["II"]
    points = _points(rhythm[0])
    calibration = root.find("svg:g[@id='calibration']/svg:path[@data-row='3']", NS)
    assert calibration is not None
    (pulse,) = _subpaths(calibration.attrib["d"])
    baseline = pulse[0][1]
    start = pulse[-1][0]  # the trace starts where the calibration pulse ends
    assert points[0, 0] == pytest.approx(start)

    samples = mitdb.leads[0].samples
    rate = mitdb.sampling_rate
    assert rate is not None
    peaks = [r for r in mitdb_r_peaks if 20 <= r < 10 * rate - 20]
    assert len(peaks) >= 10
    for r in peaks:
        k = r - 20 + int(np.argmax(samples[r - 20 : r + 20]))  # the R wave's top sample
        x = start + 25.0 * k / rate
        near = points[np.abs(points[:, 0] - x) <= 1.0]
        top = near[np.argmin(near[:, 1])]
        assert top[0] == pytest.approx(x, abs=0.1), r
        expected_y = baseline - 10.0 * float(samples[k]) / 200.0  # MIT-BIH: 200 counts per mV
        assert top[1] == pytest.approx(expected_y, abs=0.051), r
    # 10 s of the 5 min recording: the strip ends 250 mm after it starts.
    last = start + 25.0 * (10 * rate - 1) / rate  # the last sample of the first 10 s
    assert points[-1, 0] == pytest.approx(np.floor(last * 10) / 10, abs=1e-6)
    assert "Showing the first 10 s of 300 s." in " ".join(_texts(root))


def test_standard_layout_places_the_twelve_leads_and_a_lead_ii_rhythm_strip(
    mortara: EcgRecord,
) -> None:
    root = _parse(render_svg(mortara, Layout.STANDARD))
    placed = {(p.attrib["data-row"], p.attrib["data-column"]): p for p in _traces(root)}
    assert {key: p.attrib["data-lead"] for key, p in placed.items()} == {
        ("0", "0"): "I", ("0", "1"): "aVR", ("0", "2"): "V1", ("0", "3"): "V4",
        ("1", "0"): "II", ("1", "1"): "aVL", ("1", "2"): "V2", ("1", "3"): "V5",
        ("2", "0"): "III", ("2", "1"): "aVF", ("2", "2"): "V3", ("2", "3"): "V6",
        ("3", "0"): "II",
    }  # fmt: skip
    # Each column is the next 2.5 s (62.5 mm) of the same 10 s.
    for (_row, column), path in placed.items():
        if _row == "3":
            continue
        xs = _points(path)[:, 0]
        assert xs.min() == pytest.approx(26.0 + 62.5 * int(column), abs=0.1)
        assert xs.max() == pytest.approx(26.0 + 62.5 * (int(column) + 1), abs=0.2)
    texts = root.iter("{http://www.w3.org/2000/svg}text")
    labels = [t.text or "" for t in texts if t.get("class") == "label"]
    assert sorted(labels) == sorted([*paper.STANDARD_LEADS, "II"])


@pytest.mark.parametrize(
    ("layout", "rows", "columns"), [(Layout.SIX_BY_TWO, 6, 2), (Layout.TWELVE_BY_ONE, 12, 1)]
)
def test_other_layouts(mortara: EcgRecord, layout: Layout, rows: int, columns: int) -> None:
    root = _parse(render_svg(mortara, layout))
    traces = _traces(root)
    assert len(traces) == 12
    assert {int(p.attrib["data-row"]) for p in traces} == set(range(rows))
    assert {int(p.attrib["data-column"]) for p in traces} == set(range(columns))
    assert len(root.findall("svg:g[@id='calibration']/svg:path", NS)) == rows
    assert f"Layout {layout.value}" in " ".join(_texts(root))


def test_drawn_at_paper_resolution_small_and_keeping_every_peak(mortara: EcgRecord) -> None:
    """10 s of 12 leads at 1 kHz: at most two points per 0.1 mm column, the extremes kept."""
    svg = render_svg(mortara)
    assert len(svg) < 300_000, f"STANDARD SVG of a 10 s 12-lead at 1 kHz is {len(svg)} bytes"
    root = _parse(svg)
    for path in _traces(root):
        points = _points(path)
        columns = np.round(points[:, 0] * 10).astype(int)
        assert np.bincount(columns - columns.min()).max() <= 2
    lead_i = next(p for p in _traces(root) if p.attrib["data-lead"] == "I")
    points = _points(lead_i)
    window = mortara.leads[0].samples[:2500]  # lead I's cell: the first 2.5 s
    baseline = 40.0 + 20.0
    assert points[:, 1].min() == pytest.approx(baseline - window.max() / 80.0, abs=0.051)
    assert points[:, 1].max() == pytest.approx(baseline - window.min() / 80.0, abs=0.051)
    assert len(render_svg(mortara, Layout.TWELVE_BY_ONE)) < 300_000


def test_header_shows_id_date_rate_and_zero_crossings(mortara: EcgRecord) -> None:
    text = " ".join(_texts(_parse(render_svg(mortara))))
    assert "ECG mortara-12lead" in text
    assert "2013-01-25 10:59:19+00:00" in text
    assert "Sampling rate 1000 Hz" in text
    assert "Zero crossings: I 7" in text
    assert "25 mm/s" in text
    assert "10 mm/mV" in text


def test_header_shows_measurements_when_there_are_some(mortara: EcgRecord) -> None:
    record = dataclasses.replace(
        mortara,
        measurements={"heart_rate": 61.2, "qrs_duration": 92.0, "qt_interval": None,
                      "qrs_axis": -30.0, "rhythm": "sinus"},
    )  # fmt: skip
    text = " ".join(_texts(_parse(render_svg(record))))
    assert "HR 61 /min" in text
    assert "QRS 92 ms" in text
    assert "QT —" in text
    assert "QRS axis -30°" in text
    assert "Rhythm sinus" in text
    assert "Zero crossings" not in text


def test_unknown_gain_is_fitted_and_said(mitdb: EcgRecord) -> None:
    record = dataclasses.replace(
        mitdb, leads=tuple(dataclasses.replace(lead, units_per_mv=None) for lead in mitdb.leads)
    )
    root = _parse(render_svg(record))
    traces = _traces(root)
    assert {p.attrib["data-fitted"] for p in traces} == {"true"}
    text = " ".join(_texts(root))
    assert "Gain unknown for II, V5 (*): amplitude fitted, 10 mm = " in text
    assert "gain unknown" in text  # the footer does not claim 10 mm/mV
    assert "II*" in text
    assert root.findall("svg:g[@id='calibration']/svg:path", NS) == []  # no 1 mV to show
    # Fitted: the largest excursion stays within its row (40 mm pitch).
    rhythm = _points(next(p for p in traces if p.attrib["data-row"] == "3"))
    assert np.ptp(rhythm[:, 1]) <= 40.0


def test_unknown_sampling_rate_spreads_the_record_and_says_time_is_not_to_scale(
    mitdb: EcgRecord,
) -> None:
    record = dataclasses.replace(mitdb, sampling_rate=None)
    root = _parse(render_svg(record))
    text = " ".join(_texts(root))
    assert "Sampling rate unknown" in text
    assert "time not to scale" in text
    assert "25 mm/s" not in text
    rhythm = _points(next(p for p in _traces(root) if p.attrib["data-row"] == "3"))
    assert rhythm[0, 0] == pytest.approx(26.0)
    # All 108 000 samples on the 250 mm: the last one in the column before 276 mm.
    assert rhythm[-1, 0] == pytest.approx(275.9, abs=1e-6)


def test_hostile_id_and_lead_names_stay_text() -> None:
    record = EcgRecord(
        id='<script>alert(1)</script> & "x" \x01 中文',
        date=datetime(2024, 5, 1, tzinfo=UTC),
        sampling_rate=500.0,
        leads=(RecordLead("<b>odd</b>", np.array([0, 100, -100, 0], dtype=np.int16), 100.0),),
    )
    svg = render_svg(record)
    root = _parse(svg)
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    assert b"<script>" not in svg
    assert '<script>alert(1)</script> & "x" \ufffd 中文' in " ".join(_texts(root))
    assert _traces(root)[0].attrib["data-lead"] == "<b>odd</b>"


def test_short_and_nonstandard_recordings_render() -> None:
    record = EcgRecord(
        id="tiny",
        date=datetime(2024, 5, 1, tzinfo=UTC),
        sampling_rate=125.0,
        leads=(
            RecordLead("PLETH", np.array([5, -5, 5], dtype=np.int32), None),
            RecordLead("II", np.array([], dtype=np.int32), 200.0),
        ),
    )
    root = _parse(render_svg(record))
    leads = [p.attrib["data-lead"] for p in _traces(root)]
    assert "PLETH" in leads
    # 125 Hz: one sample per 0.2 mm, each drawn where it is.
    pleth = _points(next(p for p in _traces(root) if p.attrib["data-lead"] == "PLETH"))
    assert len(pleth) == 3
    assert np.diff(pleth[:, 0]).tolist() == pytest.approx([0.2, 0.2])


def test_svg_renders_in_chromium_at_its_physical_size(mortara: EcgRecord, tmp_path: Path) -> None:
    path = tmp_path / "standard.svg"
    path.write_bytes(render_svg(mortara))
    with chromium(tmp_path / "profile") as browser:
        page = browser.context.new_page()
        page.set_viewport_size({"width": 1200, "height": 850})
        page.goto(path.as_uri())
        box = page.locator("svg").bounding_box()
        assert box is not None
        # CSS: 96 px per inch, 25.4 mm per inch.
        assert box["width"] == pytest.approx(297 / 25.4 * 96, abs=1)
        assert box["height"] == pytest.approx(210 / 25.4 * 96, abs=1)
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('#traces path')]"
            ".map(p => p.getTotalLength() > 0).filter(Boolean).length"
        )
        assert drawn == 13
        page.screenshot(path=artifact("svg-standard-mortara.png"))
        assert all(r.url.startswith("file://") for r in browser.requests)

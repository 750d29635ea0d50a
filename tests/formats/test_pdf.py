"""The PDF page: one A4 landscape page with the same content as the SVG, read back by pypdf."""

from __future__ import annotations

import dataclasses
import io
import re

import numpy as np
import pytest
from pypdf import PdfReader

from ecg_graphql.formats.paper import Layout, layout_page
from ecg_graphql.formats.pdf import render_pdf
from ecg_graphql.formats.record import EcgRecord

A4_LANDSCAPE_PT = (297 / 25.4 * 72, 210 / 25.4 * 72)


def _reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


@pytest.mark.parametrize("layout", list(Layout))
def test_one_a4_landscape_page_with_the_header_and_labels(
    mortara: EcgRecord, layout: Layout
) -> None:
    data = render_pdf(mortara, layout)
    assert data.startswith(b"%PDF-")
    reader = _reader(data)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx(A4_LANDSCAPE_PT, abs=0.01)
    text = reader.pages[0].extract_text()
    assert "ECG mortara-12lead" in text
    assert "Sampling rate 1000 Hz" in text
    assert "25 mm/s" in text
    assert "10 mm/mV" in text
    assert f"Layout {layout.value}" in text
    for lead in ("aVR", "V6"):
        assert re.search(rf"\b{lead}\b", text), lead
    assert len(data) < 300_000, f"{layout.value} PDF is {len(data)} bytes"


def test_pdf_draws_the_same_trace_points_as_the_page_geometry(mortara: EcgRecord) -> None:
    """Every trace point of the shared geometry appears as a path point in the content stream,
    in mm scaled to points by the page's own transform."""
    page = layout_page(mortara)
    reader = _reader(render_pdf(mortara))
    content = reader.pages[0].get_contents()
    assert content is not None
    stream = content.get_data().decode("latin-1")
    assert re.search(r"2\.834646 0 0 -2\.834646 0 595\.2756 cm", stream), "mm, y-down transform"
    assert "16 40 265 160 re W* n" in stream, "traces clipped to the grid"
    moves = re.findall(r"(-?[\d.]+) (-?[\d.]+) m\b", stream)
    starts = {(round(float(x), 1), round(float(y), 1)) for x, y in moves}
    for trace in page.traces:
        x, y = trace.points[0] / 10
        assert (round(float(x), 1), round(float(y), 1)) in starts, trace.lead
    lines = len(re.findall(r"[\d.] l\b", stream))
    assert lines >= sum(len(t.points) - 1 for t in page.traces)


def test_pdf_is_deterministic(mortara: EcgRecord) -> None:
    assert render_pdf(mortara) == render_pdf(mortara)


def test_characters_helvetica_cannot_show_are_printed_as_code_points(mortara: EcgRecord) -> None:
    record = dataclasses.replace(mortara, id="Bäcker-中")
    text = _reader(render_pdf(record)).pages[0].extract_text()
    assert "ECG Bäcker-<U+4E2D>" in text


def test_unknown_gain_and_rate_are_said_on_paper(mitdb: EcgRecord) -> None:
    record = dataclasses.replace(
        mitdb,
        sampling_rate=None,
        leads=tuple(dataclasses.replace(lead, units_per_mv=None) for lead in mitdb.leads),
    )
    text = _reader(render_pdf(record)).pages[0].extract_text()
    assert "Sampling rate unknown" in text
    assert "Gain unknown for II, V5" in text
    assert "time not to scale" in text
    assert np.all([t.fitted for t in layout_page(record).traces])

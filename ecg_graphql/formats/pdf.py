"""The ECG page as a printable A4 landscape PDF, drawn from the same `paper.layout_page` as the
SVG (so both show the same grid, traces and text at 25 mm/s and 10 mm/mV)."""

from __future__ import annotations

import io

from reportlab.lib.colors import HexColor
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from ecg_graphql.formats.paper import DMM_PER_MM, Layout, Page, Text, layout_page
from ecg_graphql.formats.record import EcgRecord
from ecg_graphql.formats.svg import MAJOR_COLOUR, MINOR_COLOUR, TRACE_WIDTH_MM

MEDIA_TYPE = "application/pdf"


def render_pdf(record: EcgRecord, layout: Layout = Layout.STANDARD) -> bytes:
    """The page of `record` in `layout` as a one-page A4 landscape PDF."""
    return draw(layout_page(record, layout))


def draw(page: Page) -> bytes:
    """A PDF of a computed page (deterministic: the same page gives the same bytes)."""
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=(page.width * mm, page.height * mm), pageCompression=1, invariant=1
    )
    canvas.setTitle(_latin(page.title))
    canvas.setCreator("ecg-graphql")

    canvas.saveState()
    # From here on, drawing units are mm with y pointing down, as in the page geometry.
    canvas.translate(0, page.height * mm)
    canvas.scale(mm, -mm)
    canvas.setLineCap(1)
    canvas.setLineJoin(1)
    x, y, w, h = page.grid
    _grid(canvas, page.minor_x, page.minor_y, page.grid, MINOR_COLOUR, 0.06)
    _grid(canvas, page.major_x, page.major_y, page.grid, MAJOR_COLOUR, 0.15)

    canvas.setStrokeColor(HexColor("#000000"))
    canvas.setLineWidth(TRACE_WIDTH_MM)
    for polyline in page.calibrations:
        path = canvas.beginPath()
        path.moveTo(*polyline[0])
        for point in polyline[1:]:
            path.lineTo(*point)
        canvas.drawPath(path, stroke=1, fill=0)
    if page.separators:
        canvas.setLineWidth(0.2)
        for sx, y0, y1 in page.separators:
            canvas.line(sx, y0, sx, y1)
        canvas.setLineWidth(TRACE_WIDTH_MM)

    canvas.saveState()
    clip = canvas.beginPath()
    clip.rect(x, y, w, h)
    canvas.clipPath(clip, stroke=0, fill=0)
    for trace in page.traces:
        if len(trace.points) == 0:
            continue
        points = (trace.points / DMM_PER_MM).tolist()
        path = canvas.beginPath()
        path.moveTo(*points[0])
        for px, py in points[1:]:
            path.lineTo(px, py)
        canvas.drawPath(path, stroke=1, fill=0)
    canvas.restoreState()
    canvas.restoreState()

    for text in page.texts:
        _text(canvas, text, page.height)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _grid(
    canvas: Canvas,
    xs: tuple[float, ...],
    ys: tuple[float, ...],
    grid: tuple[float, float, float, float],
    colour: str,
    width: float,
) -> None:
    x, y, w, h = grid
    canvas.setStrokeColor(HexColor(colour))
    canvas.setLineWidth(width)
    canvas.lines([(gx, y, gx, y + h) for gx in xs] + [(x, gy, x + w, gy) for gy in ys])


def _text(canvas: Canvas, text: Text, height: float) -> None:
    # Text is drawn in the unflipped page (points, y up), at the same mm position.
    canvas.setFillColor(HexColor("#000000"))
    canvas.setFont("Helvetica-Bold" if text.bold else "Helvetica", text.size * mm)
    draw = canvas.drawRightString if text.anchor == "end" else canvas.drawString
    draw(text.x * mm, (height - text.y) * mm, _latin(text.text))


def _latin(text: str) -> str:
    """Helvetica's encoding (WinAnsi) cannot show every character: the others print as U+XXXX,
    so an id stays readable and unambiguous on paper."""
    out = []
    for char in text:
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            out.append(f"<U+{ord(char):04X}>")
        else:
            out.append(char if char.isprintable() else f"<U+{ord(char):04X}>")
    return "".join(out)

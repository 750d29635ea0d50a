"""The ECG page as SVG: physical size in mm (`width="297mm"`, one user unit = 1 mm), drawn
from `paper.layout_page`, so it prints at 25 mm/s and 10 mm/mV."""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ecg_graphql.formats.paper import DMM_PER_MM, Layout, Page, Text, layout_page
from ecg_graphql.formats.record import EcgRecord

MEDIA_TYPE = "image/svg+xml"

MINOR_COLOUR = "#f4c6c6"
MAJOR_COLOUR = "#e08a8a"
TRACE_WIDTH_MM = 0.25

# Characters XML 1.0 cannot carry (an id or lead name may contain them): shown as U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def render_svg(record: EcgRecord, layout: Layout = Layout.STANDARD) -> bytes:
    """The page of `record` in `layout` as a UTF-8 SVG document."""
    return draw(layout_page(record, layout)).encode()


def draw(page: Page) -> str:
    """An SVG document of a computed page."""
    x, y, w, h = page.grid
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_mm(page.width)}mm" '
        f'height="{_mm(page.height)}mm" viewBox="0 0 {_mm(page.width)} {_mm(page.height)}" '
        'font-family="Helvetica, Arial, sans-serif">\n',
        f"<title>{_text(page.title)}</title>\n",
        f'<rect width="{_mm(page.width)}" height="{_mm(page.height)}" fill="#fff"/>\n',
        '<clipPath id="paper">'
        f'<rect x="{_mm(x)}" y="{_mm(y)}" width="{_mm(w)}" height="{_mm(h)}"/></clipPath>\n',
        '<g id="grid" fill="none">\n',
        _grid_path("grid-minor", page.minor_x, page.minor_y, page, MINOR_COLOUR, 0.06),
        _grid_path("grid-major", page.major_x, page.major_y, page, MAJOR_COLOUR, 0.15),
        "</g>\n",
        f'<g id="calibration" fill="none" stroke="#000" stroke-width="{TRACE_WIDTH_MM}">\n',
    ]
    for row, polyline in enumerate(page.calibrations):
        d = "M" + "L".join(f"{_mm(px)} {_mm(py)}" for px, py in polyline)
        out.append(f'<path class="calibration" data-row="{row}" d="{d}"/>\n')
    out.append("</g>\n")
    if page.separators:
        d = "".join(f"M{_mm(sx)} {_mm(y0)}V{_mm(y1)}" for sx, y0, y1 in page.separators)
        out.append(f'<path id="separators" fill="none" stroke="#000" stroke-width=".2" d="{d}"/>\n')
    out.append(
        f'<g id="traces" clip-path="url(#paper)" fill="none" stroke="#000" '
        f'stroke-width="{TRACE_WIDTH_MM}" stroke-linejoin="round" stroke-linecap="round">\n'
    )
    for trace in page.traces:
        if len(trace.points) == 0:
            continue
        out.append(
            f"<path data-lead={quoteattr(_clean(trace.lead))} data-row=\"{trace.row}\" "
            f'data-column="{trace.column}" data-fitted="{str(trace.fitted).lower()}" '
            f'd="{_polyline(trace.points)}"/>\n'
        )
    # xml:space keeps the runs of spaces that separate the header fields.
    out.append("</g>\n<g id=\"text\" fill=\"#000\" xml:space=\"preserve\">\n")
    out.extend(_text_element(text) for text in page.texts)
    out.append("</g>\n</svg>\n")
    return "".join(out)


def _grid_path(
    name: str, xs: tuple[float, ...], ys: tuple[float, ...], page: Page, colour: str, width: float
) -> str:
    x, y, w, h = page.grid
    d = "".join(f"M{_mm(gx)} {_mm(y)}V{_mm(y + h)}" for gx in xs) + "".join(
        f"M{_mm(x)} {_mm(gy)}H{_mm(x + w)}" for gy in ys
    )
    return f'<path id="{name}" stroke="{colour}" stroke-width="{width}" d="{d}"/>\n'


def _polyline(points: np.ndarray) -> str:
    """Absolute start, then relative steps: `l dx dy`, or `v dy` within a column."""
    deltas = np.diff(points, axis=0)
    parts = [f"M{_dmm(int(points[0, 0]))} {_dmm(int(points[0, 1]))}"]
    for dx, dy in deltas.tolist():
        if dx == 0:
            parts.append(f"v{_dmm(dy)}")
        elif dy < 0:
            parts.append(f"l{_dmm(dx)}{_dmm(dy)}")
        else:
            parts.append(f"l{_dmm(dx)} {_dmm(dy)}")
    return "".join(parts)


def _dmm(value: int) -> str:
    """Tenths of a millimetre written in mm: 12 -> 1.2, -5 -> -.5, 30 -> 3."""
    sign = "-" if value < 0 else ""
    whole, tenth = divmod(abs(value), DMM_PER_MM)
    if tenth == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole if whole else ''}.{tenth}"


def _mm(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _text(text: str) -> str:
    return escape(_clean(text))


def _text_element(text: Text) -> str:
    weight = ' font-weight="bold"' if text.bold else ""
    anchor = ' text-anchor="end"' if text.anchor == "end" else ""
    return (
        f'<text class="{text.role}" x="{_mm(text.x)}" y="{_mm(text.y)}" '
        f'font-size="{_mm(text.size)}"{weight}{anchor}>{_text(text.text)}</text>\n'
    )

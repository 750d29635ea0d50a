"""Every export format, listed explicitly (no discovery): what the routes look up by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ecg_graphql.formats import fhir, pdf, svg, wfdb
from ecg_graphql.formats.paper import PAGE_SECONDS, Layout
from ecg_graphql.formats.record import EcgRecord


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One format: its name (as in the GraphQL `ExportFormat` enum), file suffix, media type,
    and the pure function that writes it (`layout` only matters to the images)."""

    name: str
    suffix: str  # export.<suffix>
    media_type: str
    render: Callable[[EcgRecord, Layout], bytes]
    # Seconds of signal the format shows (a plot page); None: every sample.
    shows_seconds: float | None = None


FORMATS: Mapping[str, ExportFormat] = {
    "SVG": ExportFormat("SVG", "svg", svg.MEDIA_TYPE, svg.render_svg, PAGE_SECONDS),
    "PDF": ExportFormat("PDF", "pdf", pdf.MEDIA_TYPE, pdf.render_pdf, PAGE_SECONDS),
    "FHIR": ExportFormat(
        "FHIR", "fhir.json", fhir.MEDIA_TYPE, lambda record, _layout: fhir.render_fhir(record)
    ),
    "WFDB": ExportFormat(
        "WFDB", "wfdb.zip", wfdb.MEDIA_TYPE, lambda record, _layout: wfdb.render_wfdb_zip(record)
    ),
}

"""Exports of a stored ECG: the owner's ECG read (whole, or the seconds a plot page shows),
handed to a format of the registry as an `EcgRecord`, and written off the event loop
(rendering a 12-lead page or a FHIR document is CPU work of tens of milliseconds)."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from ecg_graphql.ecgs.service import StoredEcg, get_ecg, read_signal
from ecg_graphql.formats.errors import TooLongToExport
from ecg_graphql.formats.paper import Layout
from ecg_graphql.formats.record import MEASUREMENT_UNITS, EcgRecord, Measurement, RecordLead
from ecg_graphql.formats.registry import FORMATS, ExportFormat
from ecg_graphql.formats.wfdb import record_name
from ecg_graphql.insights.runner import AnalysisStatus
from ecg_graphql.insights.signals import EcgSignal

# Exports of every sample (FHIR, WFDB) are built in memory, some 30 bytes a sample at the
# peak (the samples as int64, their text or packed copy, the compressed file): 4 M samples
# (12 leads of 5.5 min at 1 kHz; MIT-BIH's 30 min x 2 leads is 1.3 M) stay near 120 MB.
MAX_EXPORT_SAMPLES = 4_000_000


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A written export: its bytes, media type and a safe file name (letters, digits, `_`)."""

    content: bytes
    media_type: str
    filename: str


async def export_ecg(
    *, owner_id: ObjectId, ecg_id: str, format_name: str, layout: Layout = Layout.STANDARD
) -> ExportFile | None:
    """The owner's ECG `ecg_id` written in `format_name` (a key of `FORMATS`), or None when the
    owner has no such ECG. Raises the format's refusal (`SamplingRateRequired` for FHIR and
    WFDB of an ECG without sampling rate, `TooLongToExport` for a file of every sample past
    `MAX_EXPORT_SAMPLES`)."""
    export_format = FORMATS[format_name]
    document = await get_ecg(owner_id=owner_id, ecg_id=ecg_id)
    if document is None:
        return None
    shown = export_format.shows_seconds
    total = sum(lead.number_of_samples for lead in document.leads)
    if shown is None and total > MAX_EXPORT_SAMPLES:
        raise TooLongToExport(export_format.name, total, MAX_EXPORT_SAMPLES)
    rate = document.sampling_rate
    # A plot page shows its first seconds: read those only, not a whole Holter recording.
    limit = None if shown is None or rate is None else math.ceil(shown * rate) + 1
    signal = await read_signal(document, limit=limit)
    content = await asyncio.to_thread(_render, export_format, document, signal, layout)
    return ExportFile(
        content=content,
        media_type=export_format.media_type,
        filename=f"{record_name(document.ecg_id)}.{export_format.suffix}",
    )


def _render(
    export_format: ExportFormat, document: StoredEcg, signal: EcgSignal, layout: Layout
) -> bytes:
    return export_format.render(to_record(document, signal), layout)


def to_record(document: StoredEcg, signal: EcgSignal) -> EcgRecord:
    """The renderers' view of a stored ECG: its samples, gains, date and rate, the
    measurements once they are computed (as the `measurements` field shows them), and the
    zero crossings the page header shows until then."""
    return EcgRecord(
        id=document.ecg_id,
        date=document.date,
        sampling_rate=document.sampling_rate,
        leads=tuple(
            RecordLead(lead.name, lead.samples, lead.units_per_mv) for lead in signal.leads
        ),
        measurements=_measurements(document),
        zero_crossings=_zero_crossings(document),
        recorded_samples=max(lead.number_of_samples for lead in document.leads),
    )


def _measurements(document: StoredEcg) -> dict[str, Measurement] | None:
    if document.analysis_status is not AnalysisStatus.DONE:
        return None
    record = document.analyses.get("measurements")
    value: Any = None if record is None else record.get("value")
    if not isinstance(value, dict):
        return None
    return {key: value.get(key) for key in MEASUREMENT_UNITS}


def _zero_crossings(document: StoredEcg) -> dict[str, int]:
    record = document.insights.get("zero_crossings")
    values = record.get("values") if record is not None else None
    if not isinstance(values, list):
        return {}
    return {
        lead.name: int(count)
        for lead, count in zip(document.leads, values, strict=False)
        if isinstance(count, int)
    }

"""GraphQL types of ECGs: inputs, the stored ECG with its leads and insights, results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.ecgs.exports import ExportFormatName, export_url
from ecg_graphql.api.ecgs.insights import (
    LeadQuality,
    Measurements,
    ecg_result,
    lead_insights,
)
from ecg_graphql.api.errors import EcgAlreadyExistsError, ValidationError
from ecg_graphql.api.scalars import Samples
from ecg_graphql.ecgs import service as ecgs
from ecg_graphql.ecgs.service import StoredEcg
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from ecg_graphql.formats.paper import Layout
from ecg_graphql.insights.runner import AnalysisStatus
from ecg_graphql.insights.stored import stored_ints


@strawberry.type
class Lead:
    """One lead of an ECG."""

    name: str
    number_of_samples: int
    units_per_mv: float | None = strawberry.field(
        name="unitsPerMillivolt",
        description="Signal counts per mV: the lead's value, else the ECG's, else null (unknown).",
    )
    _document: strawberry.Private[StoredEcg]
    _index: strawberry.Private[int]

    @strawberry.field(
        description="Samples [offset, offset+limit); limit defaults to the rest, at most 1,000,000."
    )
    async def signal(self, info: Info, offset: int = 0, limit: int | None = None) -> Samples:
        ecgs.check_slice(offset, limit)
        samples = await info.context.slices.load(
            ecgs.SliceRequest(self._document, self._index, offset, limit)
        )
        return Samples(samples.tolist())


@strawberry.type
class LeadInsight:
    """What the analyses found in one lead (fields filled by api/ecgs/insights.py)."""

    lead: str
    zero_crossings: int
    min: int | None = strawberry.field(description="In the signal's own integer units.")
    max: int | None = strawberry.field(description="In the signal's own integer units.")
    mean: float | None
    rms: float | None
    quality: LeadQuality | None


@strawberry.type
class Ecg:
    """An uploaded ECG."""

    id: strawberry.ID
    date: datetime
    created_at: datetime
    sampling_rate: float | None
    leads: list[Lead]
    insights: list[LeadInsight]
    analysis_status: AnalysisStatus
    _document: strawberry.Private[StoredEcg]

    @strawberry.field(description="Null without samplingRate, or while not DONE.")
    def measurements(self) -> Measurements | None:
        value = ecg_result(self._document, "measurements")
        if self.analysis_status is not AnalysisStatus.DONE or not isinstance(value, dict):
            return None
        return Measurements.from_stored(value)

    @strawberry.field(
        description="0-based sample index of each detected beat (QRS), ascending; [] without "
        "samplingRate or until measured; offset and limit count beats, as for Lead.signal."
    )
    def beats(self, offset: int = 0, limit: int | None = None) -> list[int]:
        ecgs.check_slice(offset, limit)
        stored = stored_ints(ecg_result(self._document, "beats"))
        if stored is None:
            return []
        end = len(stored) if limit is None else offset + limit
        beats: list[int] = stored[offset:end].tolist()
        return beats

    @strawberry.field(
        description="Relative URL of this ECG's file in `format` (`layout` for SVG and PDF), "
        "with a link token valid 5 minutes for this ECG's files only (README, plots and exports)."
    )
    async def export_url(
        self,
        info: Info,
        format: ExportFormatName,
        layout: Layout = Layout.STANDARD,  # the GraphQL enum PlotLayout (api/ecgs/exports.py)
    ) -> str:
        return await export_url(
            info, ecg_id=self._document.ecg_id, export_format=format, layout=layout
        )

    @classmethod
    def from_document(cls, doc: StoredEcg) -> Ecg:
        """The GraphQL view of a stored ECG."""
        return cls(
            id=strawberry.ID(doc.ecg_id),
            date=doc.date,
            created_at=doc.created_at,
            sampling_rate=doc.sampling_rate,
            leads=[
                Lead(
                    name=m.name,
                    number_of_samples=m.number_of_samples,
                    units_per_mv=m.units_per_mv,
                    _document=doc,
                    _index=i,
                )
                for i, m in enumerate(doc.leads)
            ],
            # A lead's insight appears once its zero crossings (a non-null field) are known:
            # a chunked upload's ECG has none until its background analysis ran.
            insights=[
                LeadInsight(lead=m.name, **values)  # type: ignore[arg-type]
                for m, values in zip(doc.leads, lead_insights(doc), strict=True)
                if values.get("zero_crossings") is not None
            ],
            analysis_status=doc.analysis_status,
            _document=doc,
        )


@strawberry.input
class LeadInput:
    """One lead of an upload."""

    name: str
    number_of_samples: int | None = None
    signal: Samples
    units_per_mv: float | None = strawberry.field(
        default=None, name="unitsPerMillivolt", description="Overrides the ECG's value."
    )


@strawberry.input
class EcgInput:
    """An ECG to upload; `id` is generated when absent."""

    id: strawberry.ID | None = None
    date: datetime
    sampling_rate: float | None = None
    leads: list[LeadInput]
    units_per_mv: float | None = strawberry.field(
        default=None,
        name="unitsPerMillivolt",
        description="Signal counts per mV (ADC gain) of every lead; > 0, <= 1,000,000.",
    )

    def to_upload(self) -> EcgUpload:
        """The service's form of the input (samples still untrusted)."""
        return EcgUpload(
            id=None if self.id is None else str(self.id),
            date=self.date,
            sampling_rate=self.sampling_rate,
            leads=[
                LeadUpload(
                    name=lead.name,
                    number_of_samples=lead.number_of_samples,
                    signal=lead.signal,
                    units_per_mv=lead.units_per_mv,
                )
                for lead in self.leads
            ],
            units_per_mv=self.units_per_mv,
        )


UploadEcgResult = Annotated[
    Ecg | EcgAlreadyExistsError | ValidationError, strawberry.union("UploadEcgResult")
]

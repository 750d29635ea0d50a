"""GraphQL types of ECGs: inputs, the stored ECG with its leads and insights, results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.ecgs.insights import lead_insight_values
from ecg_graphql.api.errors import EcgAlreadyExistsError, ValidationError
from ecg_graphql.api.scalars import Samples
from ecg_graphql.ecgs import service as ecgs
from ecg_graphql.ecgs.service import StoredEcg
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload


@strawberry.type
class Lead:
    """One lead of an ECG."""

    name: str
    number_of_samples: int
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


@strawberry.type
class Ecg:
    """An uploaded ECG."""

    id: strawberry.ID
    date: datetime
    created_at: datetime
    sampling_rate: float | None
    leads: list[Lead]
    insights: list[LeadInsight]

    @classmethod
    def from_document(cls, doc: StoredEcg) -> Ecg:
        """The GraphQL view of a stored ECG."""
        return cls(
            id=strawberry.ID(doc.ecg_id),
            date=doc.date,
            created_at=doc.created_at,
            sampling_rate=doc.sampling_rate,
            leads=[
                Lead(name=m.name, number_of_samples=m.number_of_samples, _document=doc, _index=i)
                for i, m in enumerate(doc.leads)
            ],
            insights=[
                LeadInsight(lead=m.name, **lead_insight_values(doc, i))  # type: ignore[arg-type]
                for i, m in enumerate(doc.leads)
            ],
        )


@strawberry.input
class LeadInput:
    """One lead of an upload."""

    name: str
    number_of_samples: int | None = None
    signal: Samples


@strawberry.input
class EcgInput:
    """An ECG to upload; `id` is generated when absent."""

    id: strawberry.ID | None = None
    date: datetime
    sampling_rate: float | None = None
    leads: list[LeadInput]

    def to_upload(self) -> EcgUpload:
        """The service's form of the input (samples still untrusted)."""
        return EcgUpload(
            id=None if self.id is None else str(self.id),
            date=self.date,
            sampling_rate=self.sampling_rate,
            leads=[
                LeadUpload(
                    name=lead.name, number_of_samples=lead.number_of_samples, signal=lead.signal
                )
                for lead in self.leads
            ],
        )


UploadEcgResult = Annotated[
    Ecg | EcgAlreadyExistsError | ValidationError, strawberry.union("UploadEcgResult")
]

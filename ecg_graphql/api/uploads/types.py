"""GraphQL types of chunked uploads: the inputs, the open upload, the result unions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from ecg_graphql.api.errors import EcgAlreadyExistsError, ValidationError
from ecg_graphql.ecgs.large import LargeLead, LargeUpload, OpenUpload


@strawberry.type
class EcgUpload:
    """An open chunked upload: chunk `seq` carries samples [seq * chunkSamples,
    (seq + 1) * chunkSamples) of every lead."""

    upload_id: strawberry.ID
    chunk_samples: int
    chunk_count: int
    received_chunks: list[int]
    expires_at: datetime = strawberry.field(description="24 h after the last chunk arrived.")

    @classmethod
    def from_open(cls, upload: OpenUpload) -> EcgUpload:
        """The GraphQL form of an open upload."""
        return cls(
            upload_id=strawberry.ID(str(upload.upload_id)),
            chunk_samples=upload.chunk_samples,
            chunk_count=upload.chunk_count,
            received_chunks=upload.received_chunks,
            expires_at=upload.expires_at,
        )


@strawberry.input
class LargeLeadInput:
    """One lead of a chunked upload: its name and how many samples it will have."""

    name: str
    number_of_samples: int
    units_per_mv: float | None = strawberry.field(
        default=None, name="unitsPerMillivolt", description="Overrides the ECG's value."
    )


@strawberry.input
class StartEcgUploadInput:
    """An ECG to upload in chunks (up to 100,000,000 samples); `id` generated when absent."""

    id: strawberry.ID | None = None
    date: datetime
    sampling_rate: float | None = None
    units_per_mv: float | None = strawberry.field(
        default=None, name="unitsPerMillivolt", description="Signal counts per mV of every lead."
    )
    leads: list[LargeLeadInput]

    def to_upload(self) -> LargeUpload:
        """The service's form of the input."""
        return LargeUpload(
            id=None if self.id is None else str(self.id),
            date=self.date,
            sampling_rate=self.sampling_rate,
            units_per_mv=self.units_per_mv,
            leads=[
                LargeLead(lead.name, lead.number_of_samples, lead.units_per_mv)
                for lead in self.leads
            ],
        )


StartEcgUploadResult = Annotated[
    EcgUpload | EcgAlreadyExistsError | ValidationError, strawberry.union("StartEcgUploadResult")
]
AppendEcgChunkResult = Annotated[
    EcgUpload | ValidationError, strawberry.union("AppendEcgChunkResult")
]

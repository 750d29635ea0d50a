"""Chunked uploads of large ECGs; expected failures become union members (MutationResult,
by the map in api/errors.py)."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.ecgs.types import Ecg, UploadEcgResult
from ecg_graphql.api.extensions import MutationResult
from ecg_graphql.api.permissions import IsUser
from ecg_graphql.api.scalars import Samples
from ecg_graphql.api.uploads.types import (
    AppendEcgChunkResult,
    EcgUpload,
    StartEcgUploadInput,
    StartEcgUploadResult,
)
from ecg_graphql.ecgs import large


@strawberry.type
class UploadMutations:
    """Writes of chunked uploads."""

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description="Open a chunked upload of a large ECG (USER).",
    )
    async def start_ecg_upload(
        self, info: Info, input: StartEcgUploadInput
    ) -> StartEcgUploadResult:
        _, owner_id = await info.context.require_user()
        upload = await large.start_upload(
            owner_id=owner_id,
            upload=input.to_upload(),
            max_body_bytes=info.context.services.settings.max_body_bytes,
        )
        return EcgUpload.from_open(upload)

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description="Send chunk `seq` (0-based) of every lead, in lead order ([] once ended).",
    )
    async def append_ecg_chunk(
        self, info: Info, upload_id: strawberry.ID, seq: int, leads: list[Samples]
    ) -> AppendEcgChunkResult:
        _, owner_id = await info.context.require_user()
        upload = await large.append_chunk(
            owner_id=owner_id, upload_id=str(upload_id), seq=seq, leads=list(leads)
        )
        return EcgUpload.from_open(upload)

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description="Make the uploaded ECG visible; analysed in the background (PENDING).",
    )
    async def finish_ecg_upload(self, info: Info, upload_id: strawberry.ID) -> UploadEcgResult:
        _, owner_id = await info.context.require_user()
        doc = await large.finish_upload(owner_id=owner_id, upload_id=str(upload_id))
        return Ecg.from_document(doc)

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description="Remove your open upload and its samples; false when there is none.",
    )
    async def abort_ecg_upload(self, info: Info, upload_id: strawberry.ID) -> bool:
        _, owner_id = await info.context.require_user()
        return await large.abort_upload(owner_id=owner_id, upload_id=str(upload_id))

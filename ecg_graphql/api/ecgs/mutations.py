"""Uploading and deleting the caller's ECGs; expected failures become union members
(MutationResult, by the map in api/errors.py)."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.ecgs.types import Ecg, EcgInput, UploadEcgResult
from ecg_graphql.api.extensions import MutationResult
from ecg_graphql.api.permissions import IsUser
from ecg_graphql.ecgs import service as ecgs


@strawberry.type
class EcgMutations:
    """Writes of ECGs."""

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description="Upload an ECG (USER).",
    )
    async def upload_ecg(self, info: Info, input: EcgInput) -> UploadEcgResult:
        _, owner_id = await info.context.require_user()
        doc = await ecgs.upload_ecg(owner_id=owner_id, upload=input.to_upload())
        return Ecg.from_document(doc)

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description="Delete your ECG; false when it does not exist or is not yours.",
    )
    async def delete_ecg(self, info: Info, id: strawberry.ID) -> bool:
        _, owner_id = await info.context.require_user()
        return await ecgs.delete_ecg(owner_id=owner_id, ecg_id=str(id))

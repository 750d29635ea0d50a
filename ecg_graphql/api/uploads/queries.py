"""Reads of the caller's open uploads (ownership is a filter in the service)."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.permissions import IsUser
from ecg_graphql.api.uploads.types import EcgUpload
from ecg_graphql.ecgs import large


@strawberry.type
class UploadQueries:
    """Reads of chunked uploads."""

    @strawberry.field(
        permission_classes=[IsUser],
        description="Your open upload with this id (which chunks arrived); null otherwise.",
    )
    async def ecg_upload(self, info: Info, upload_id: strawberry.ID) -> EcgUpload | None:
        _, owner_id = await info.context.require_user()
        upload = await large.get_upload(owner_id=owner_id, upload_id=str(upload_id))
        return None if upload is None else EcgUpload.from_open(upload)

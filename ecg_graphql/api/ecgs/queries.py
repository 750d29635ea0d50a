"""Reads of the caller's ECGs (ownership is a filter in the service)."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.ecgs.types import Ecg
from ecg_graphql.api.pagination import Connection, Edge
from ecg_graphql.api.permissions import IsUser
from ecg_graphql.ecgs import service as ecgs

# Module level: listing pages are kept per view (ecgs/page_cache.py).
ECG_EDGE = Edge.view(Ecg.from_document, ecgs.encode_ecg_cursor)


@strawberry.type
class EcgQueries:
    """Reads of ECGs."""

    @strawberry.field(
        permission_classes=[IsUser],
        description="Your ECG with this id; null when it does not exist or is not yours.",
    )
    async def ecg(self, info: Info, id: strawberry.ID) -> Ecg | None:
        _, owner_id = await info.context.require_user()
        doc = await ecgs.get_ecg(owner_id=owner_id, ecg_id=str(id))
        return None if doc is None else Ecg.from_document(doc)

    @strawberry.field(
        permission_classes=[IsUser],
        description="Your ECGs, newest date first (ties: newest upload first); first 1-100.",
    )
    async def ecgs(self, info: Info, first: int = 20, after: str | None = None) -> Connection[Ecg]:
        _, owner_id = await info.context.require_user()
        page, total = await ecgs.list_ecgs(
            owner_id=owner_id, first=first, after=after, view=ECG_EDGE
        )

        async def count() -> int:  # read with the page: one lookup serves both
            return total

        return Connection.of_edges(page, count)

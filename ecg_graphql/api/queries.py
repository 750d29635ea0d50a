"""Query resolvers."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.errors import bad_input
from ecg_graphql.api.permissions import IsAdmin, IsAuthenticated, IsUser
from ecg_graphql.api.types import (
    Ecg,
    EcgConnection,
    EcgEdge,
    PageInfo,
    User,
    UserConnection,
    UserEdge,
)
from ecg_graphql.auth import service as auth
from ecg_graphql.ecgs import service as ecgs
from ecg_graphql.errors import InvalidArgument


@strawberry.type
class Query:
    """Reads."""

    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in user.")
    async def me(self, info: Info) -> User:
        user, _ = await info.context.require_user()
        return User.from_document(user)

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
    async def ecgs(self, info: Info, first: int = 20, after: str | None = None) -> EcgConnection:
        _, owner_id = await info.context.require_user()
        try:
            page = await ecgs.list_ecgs(owner_id=owner_id, first=first, after=after)
        except InvalidArgument as error:
            raise bad_input(error) from None
        edges = [
            EcgEdge(cursor=ecgs.encode_cursor(doc), node=Ecg.from_document(doc))
            for doc in page.items
        ]
        return EcgConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            _owner_id=owner_id,
        )

    @strawberry.field(
        permission_classes=[IsAdmin], description="Registered users, oldest first; first 1-100."
    )
    async def users(self, info: Info, first: int = 20, after: str | None = None) -> UserConnection:
        try:
            page = await auth.list_users(first=first, after=after)
        except InvalidArgument as error:
            raise bad_input(error) from None
        edges = [
            UserEdge(cursor=auth.encode_user_cursor(doc), node=User.from_document(doc))
            for doc in page.items
        ]
        return UserConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

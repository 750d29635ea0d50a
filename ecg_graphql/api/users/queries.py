"""Reads of users: the caller, and the listing for admins."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.pagination import Connection
from ecg_graphql.api.permissions import IsAdmin, IsAuthenticated
from ecg_graphql.api.users.types import User
from ecg_graphql.auth import service as auth


@strawberry.type
class UserQueries:
    """Reads of users."""

    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in user.")
    async def me(self, info: Info) -> User:
        user, _ = await info.context.require_user()
        return User.from_document(user)

    @strawberry.field(
        permission_classes=[IsAdmin], description="Registered users, oldest first; first 1-100."
    )
    async def users(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[User]:
        page = await auth.list_users(first=first, after=after)
        return Connection.of(
            page, node=User.from_document, cursor=auth.encode_user_cursor, count=auth.count_users
        )

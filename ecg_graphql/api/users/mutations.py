"""Sign-in, sessions and registration; expected failures become union members
(MutationResult, by the map in api/errors.py)."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.extensions import MutationResult
from ecg_graphql.api.permissions import IsAdmin
from ecg_graphql.api.users.types import (
    AuthPayload,
    CreateUserInput,
    CreateUserResult,
    LoginResult,
    RefreshResult,
    User,
)
from ecg_graphql.auth import service as auth


@strawberry.type
class UserMutations:
    """Writes of users and sessions."""

    @strawberry.mutation(
        extensions=[MutationResult()],
        description="Exchange a username and password for a token pair.",
    )
    async def login(self, info: Info, username: str, password: str) -> LoginResult:
        session = await auth.login(
            username=username,
            password=password,
            address=info.context.client_address,
            config=info.context.services.auth,
        )
        return AuthPayload.from_session(session)

    @strawberry.mutation(
        extensions=[MutationResult()],
        description="Exchange a refresh token for a new pair; the old one stops working.",
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> RefreshResult:
        session = await auth.refresh(refresh_token=refresh_token, config=info.context.services.auth)
        return AuthPayload.from_session(session)

    @strawberry.mutation(
        extensions=[MutationResult()],
        description="Revoke a refresh token and its family. Always true.",
    )
    async def logout(self, info: Info, refresh_token: str) -> bool:
        await auth.logout(refresh_token=refresh_token)
        return True

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsAdmin],
        description="Register a user (ADMIN).",
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserResult:
        user = await auth.create_user(
            username=input.username,
            password=input.password,
            role=input.role.value,
            bcrypt_rounds=info.context.services.settings.bcrypt_rounds,
        )
        return User.from_document(user)

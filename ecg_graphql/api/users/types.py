"""GraphQL types of users and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from ecg_graphql.api.errors import (
    InvalidCredentialsError,
    InvalidTokenError,
    UsernameTakenError,
    ValidationError,
)
from ecg_graphql.auth.roles import Role
from ecg_graphql.auth.service import Session
from ecg_graphql.db.documents import UserDocument

strawberry.enum(Role)


@strawberry.type
class User:
    """A registered user."""

    id: strawberry.ID
    username: str
    role: Role
    created_at: datetime

    @classmethod
    def from_document(cls, doc: UserDocument) -> User:
        """The GraphQL view of a stored user."""
        return cls(
            id=strawberry.ID(str(doc.id)),
            username=doc.username,
            role=Role(doc.role),
            created_at=doc.created_at,
        )


@strawberry.type
class AuthPayload:
    """A new token pair; send `accessToken` as `Authorization: Bearer <token>`."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: User

    @classmethod
    def from_session(cls, session: Session) -> AuthPayload:
        """The GraphQL view of an issued session."""
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            token_type="Bearer",  # noqa: S106  (a token type, not a secret)
            expires_in=session.expires_in,
            user=User.from_document(session.user),
        )


@strawberry.input
class CreateUserInput:
    """A user to register."""

    username: str
    password: str
    role: Role = Role.USER


LoginResult = Annotated[
    AuthPayload | InvalidCredentialsError | ValidationError, strawberry.union("LoginResult")
]
RefreshResult = Annotated[AuthPayload | InvalidTokenError, strawberry.union("RefreshResult")]
CreateUserResult = Annotated[
    User | UsernameTakenError | ValidationError, strawberry.union("CreateUserResult")
]

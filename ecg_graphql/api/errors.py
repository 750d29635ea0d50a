"""Errors of the GraphQL layer: the codes, the error types of the result unions, and the one
map from domain exceptions to union members (expected outcomes) and to codes (the rest)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from ecg_graphql.auth.errors import InvalidCredentials, InvalidToken, UsernameTaken
from ecg_graphql.ecgs.errors import EcgAlreadyExists
from ecg_graphql.errors import (
    DomainError,
    FieldIssue,
    InvalidArgument,
    RateLimited,
    StorageFull,
    ValidationFailed,
)

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
RATE_LIMITED = "RATE_LIMITED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

# Domain exceptions that are not a result of the operation: top-level errors with a code.
TOP_LEVEL_CODES: dict[type[DomainError], str] = {
    InvalidArgument: BAD_USER_INPUT,
    RateLimited: RATE_LIMITED,
    StorageFull: INSUFFICIENT_STORAGE,
}


@strawberry.interface
class Error:
    """An expected failure of a mutation."""

    message: str


@strawberry.type
class FieldError:
    """One broken rule; `field` is the dotted input path, e.g. "leads.2.numberOfSamples"."""

    field: str
    message: str


@strawberry.type
class ValidationError(Error):
    """The input broke one or more rules; all are listed and nothing was changed."""

    fields: list[FieldError]

    @classmethod
    def from_issues(cls, issues: list[FieldIssue]) -> ValidationError:
        """The GraphQL form of a service's ValidationFailed."""
        return cls(
            message="Input is invalid.",
            fields=[FieldError(field=i.field, message=i.message) for i in issues],
        )


@strawberry.type
class InvalidCredentialsError(Error):
    """Unknown username or wrong password (deliberately not told apart)."""


@strawberry.type
class InvalidTokenError(Error):
    """The refresh token is unknown, expired, already used or revoked."""


@strawberry.type
class UsernameTakenError(Error):
    """The username exists already (compared case-insensitively)."""

    username: str


@strawberry.type
class EcgAlreadyExistsError(Error):
    """You already have an ECG with this id; nothing was overwritten."""

    id: strawberry.ID


def union_member(error: DomainError) -> Error | None:
    """The result-union member for an expected outcome, or None when it is not one."""
    if isinstance(error, ValidationFailed):
        return ValidationError.from_issues(error.issues)
    if isinstance(error, InvalidCredentials):
        return InvalidCredentialsError(message=str(error))
    if isinstance(error, InvalidToken):
        return InvalidTokenError(message=str(error))
    if isinstance(error, UsernameTaken):
        return UsernameTakenError(message=str(error), username=error.username)
    if isinstance(error, EcgAlreadyExists):
        return EcgAlreadyExistsError(message=str(error), id=strawberry.ID(error.ecg_id))
    return None


def top_level_code(error: BaseException | None) -> str | None:
    """The code of a domain exception that surfaces as a top-level error, else None."""
    for kind, code in TOP_LEVEL_CODES.items():
        if isinstance(error, kind):
            return code
    return None


def coded_error(message: str, code: str, **extensions: object) -> GraphQLError:
    """A top-level GraphQL error carrying `extensions.code`."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def unauthenticated() -> GraphQLError:
    """The error for a missing, malformed, expired or wrong-type token."""
    return coded_error("Authentication required.", UNAUTHENTICATED)

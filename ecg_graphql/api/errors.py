"""Error codes of top-level GraphQL errors, and the one place domain errors are translated."""

from __future__ import annotations

from graphql import GraphQLError

from ecg_graphql.errors import InvalidArgument, RateLimited

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
RATE_LIMITED = "RATE_LIMITED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


def coded_error(message: str, code: str, **extensions: object) -> GraphQLError:
    """A top-level GraphQL error carrying `extensions.code`."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def unauthenticated() -> GraphQLError:
    """The error for a missing, malformed, expired or wrong-type token."""
    return coded_error("Authentication required.", UNAUTHENTICATED)


def bad_input(error: InvalidArgument) -> GraphQLError:
    """An out-of-range query argument."""
    return coded_error(str(error), BAD_USER_INPUT)


def rate_limited(error: RateLimited) -> GraphQLError:
    """Too many failed logins; `retryAfter` is in seconds."""
    return coded_error(str(error), RATE_LIMITED, retryAfter=error.retry_after)

"""Custom scalars: DateTime (UTC, always with offset) and Samples (raw, never raising)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NewType

import strawberry
from graphql import ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition

# The raw value of one lead's samples, checked by ecgs.validation (so it can be any JSON).
Samples = NewType("Samples", object)

MAX_DATETIME_LENGTH = 64


def serialize_datetime(value: datetime) -> str:
    """ISO-8601 with offset; a naive value is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def parse_datetime(value: object) -> datetime:
    """ISO-8601 string; without offset means UTC, a bare date means midnight UTC."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_DATETIME_LENGTH:
        raise ValueError("DateTime must be an ISO-8601 string.")
    try:
        parsed = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise ValueError("DateTime must be an ISO-8601 string.") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_samples_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
    # Any literal goes through untouched; validation reports what is wrong with it.
    return value_from_ast_untyped(node, variables)


def _identity(value: object) -> object:
    return value


SCALAR_MAP: dict[object, ScalarDefinition] = {
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "ISO-8601 date-time; without offset means UTC, a bare date means midnight UTC; "
            "returned with offset."
        ),
        serialize=serialize_datetime,
        parse_value=parse_datetime,
    ),
    Samples: strawberry.scalar(
        name="Samples",
        description="One lead's samples: a JSON array of integers in the int32 range.",
        serialize=_identity,
        parse_value=_identity,
        parse_literal=_parse_samples_literal,
    ),
}

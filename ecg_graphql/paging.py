"""Listings: the page-size rule and the one opaque cursor codec every listing uses."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from bson import ObjectId

from ecg_graphql.errors import InvalidArgument

MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 256
T = TypeVar("T")
CursorKey = int | ObjectId


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing, in the listing's order."""

    items: list[T]
    has_next_page: bool

    @classmethod
    def of(cls, rows: list[T], first: int) -> Page[T]:
        """The page from `first + 1` fetched rows: the extra row only says more follow."""
        return cls(items=rows[:first], has_next_page=len(rows) > first)


def check_page_size(first: int) -> None:
    """Page sizes are 1 to 100 (InvalidArgument otherwise)."""
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"first must be between 1 and {MAX_PAGE_SIZE}.")


def encode_cursor(*keys: CursorKey) -> str:
    """An opaque cursor for the sort keys of the row a page ends with."""
    values = [str(k) if isinstance(k, ObjectId) else k for k in keys]
    raw = json.dumps(values, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str, *kinds: type[CursorKey]) -> tuple[CursorKey, ...]:
    """The sort keys of a cursor from `encode_cursor`, checked against `kinds`
    (InvalidArgument for anything else: cursors come from clients)."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        values = json.loads(base64.b64decode(cursor.encode("ascii"), altchars=b"-_", validate=True))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError
        return tuple(_key(value, kind) for value, kind in zip(values, kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidArgument("Invalid cursor.") from None


def _key(value: object, kind: type[CursorKey]) -> CursorKey:
    if kind is ObjectId and isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    # bool is an int subclass but never a sort key.
    if kind is int and type(value) is int:
        return value
    raise ValueError

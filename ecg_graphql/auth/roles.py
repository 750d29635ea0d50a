"""Roles: the one definition (the GraphQL enum is this class)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do: ADMIN registers users; USER sends and reads their own ECGs."""

    ADMIN = "ADMIN"
    USER = "USER"

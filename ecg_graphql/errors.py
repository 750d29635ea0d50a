"""Domain exceptions shared by the services; the API maps them in one place (api/errors.py)."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """An expected outcome that is not success; its message is safe to show to the caller."""


@dataclass(frozen=True, slots=True)
class FieldIssue:
    """One violated rule: `field` is the dotted input path, e.g. "leads.2.numberOfSamples"."""

    field: str
    message: str


class ValidationFailed(DomainError):
    """The input broke one or more rules; every violation is listed, nothing was stored."""

    def __init__(self, issues: list[FieldIssue]) -> None:
        super().__init__("Input is invalid.")
        self.issues = issues


class InvalidArgument(DomainError):
    """A query argument (page size, cursor, slice bounds) is out of range."""


class RateLimited(DomainError):
    """Too many failed attempts; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed login attempts; try again later.")
        self.retry_after = retry_after


class StorageFull(DomainError):
    """The database's disk is (nearly) full: the write was refused before anything was stored."""

    def __init__(self) -> None:
        super().__init__("The database's disk is full; nothing was stored. Try again later.")

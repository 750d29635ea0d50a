"""Expected outcomes of authentication and user management."""

from __future__ import annotations

from ecg_graphql.errors import DomainError


class InvalidCredentials(DomainError):
    """Unknown user or wrong password: deliberately one indistinguishable outcome."""

    def __init__(self) -> None:
        super().__init__("Invalid username or password.")


class InvalidToken(DomainError):
    """A refresh token that is unknown, expired, used or revoked."""

    def __init__(self) -> None:
        super().__init__("Invalid or expired refresh token.")


class Unauthenticated(DomainError):
    """No valid access token accompanies the request."""


class UsernameTaken(DomainError):
    """Another user already has this username (compared case-insensitively)."""

    def __init__(self, username: str) -> None:
        super().__init__(f"Username {username!r} is already taken.")
        self.username = username

"""Permission classes: who may call a field. Ownership is a filter in the services instead."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from ecg_graphql.api.context import Info
from ecg_graphql.api.errors import FORBIDDEN, UNAUTHENTICATED, unauthenticated
from ecg_graphql.auth.roles import Role


class IsAuthenticated(BasePermission):
    """Any signed-in user."""

    message = "Authentication required."
    error_extensions = {"code": UNAUTHENTICATED}  # noqa: RUF012  (Strawberry reads it)

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        """True when the request carries a valid access token of an existing user."""
        return await info.context.current_user() is not None


class _HasRole(BasePermission):
    role: ClassVar[Role]
    message = "You are not allowed to do this."
    error_extensions = {"code": FORBIDDEN}  # noqa: RUF012  (Strawberry reads it)

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        """UNAUTHENTICATED without a valid token; FORBIDDEN for any other role."""
        user = await info.context.current_user()
        if user is None:
            raise unauthenticated()
        return user.role == self.role


class IsAdmin(_HasRole):
    """Only ADMIN: registering and listing users."""

    role = Role.ADMIN


class IsUser(_HasRole):
    """Only USER: sending and reading one's own ECGs (an ADMIN never does)."""

    role = Role.USER

"""Per-request context: the app's services, the bearer token and the lazily loaded caller."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import strawberry
from bson import ObjectId
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from ecg_graphql.api.errors import unauthenticated
from ecg_graphql.auth import service as auth
from ecg_graphql.auth.service import AuthConfig
from ecg_graphql.config import Settings
from ecg_graphql.db.documents import UserDocument
from ecg_graphql.ecgs.service import SliceRequest, read_slices


@dataclass
class AppServices:
    """What resolvers need from the application, built once at start-up."""

    settings: Settings
    auth: AuthConfig


@dataclass
class Context(BaseContext):
    """Request-scoped state; the caller is loaded from the database at most once."""

    services: AppServices
    token: str | None
    client_address: str
    # Filled by the audit extensions: result types of mutations, user of a fresh login.
    audit_results: list[str] = field(default_factory=list, init=False)
    audit_user_id: str | None = field(default=None, init=False)
    _user: UserDocument | None = field(default=None, init=False)
    _loaded: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        super().__init__()
        # Per request: every `signal` field of one query batched into one read per ECG.
        self.slices: DataLoader[SliceRequest, npt.NDArray[np.int64]] = DataLoader(
            load_fn=read_slices, cache=False
        )

    async def current_user(self) -> UserDocument | None:
        """The authenticated caller (role as stored, not as claimed), or None."""
        if not self._loaded:
            if self.token:
                self._user = await auth.authenticate(
                    self.token, secret=self.services.auth.jwt_secret
                )
            self._loaded = True
        return self._user

    async def require_user(self) -> tuple[UserDocument, ObjectId]:
        """The caller and their id; UNAUTHENTICATED when there is none."""
        user = await self.current_user()
        if user is None or user.id is None:
            raise unauthenticated()
        return user, user.id

    def audit_user(self) -> str | None:
        """For the audit line: the caller, or the user a login in this request signed in."""
        return str(self._user.id) if self._user is not None else self.audit_user_id


Info: TypeAlias = strawberry.Info[Context, None]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_address(
    peer: str | None,
    forwarded_for: str | None,
    trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
) -> str:
    """The client's address: the peer, or the first untrusted hop of X-Forwarded-For
    when the peer is a trusted proxy (read right to left, so clients cannot spoof it)."""
    address = peer or "unknown"
    if not trusted or not forwarded_for or not _is_trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")][:32]):
        if not hop:
            continue
        if not _is_trusted(hop, trusted):
            return hop[:64]
        address = hop
    return address


def _is_trusted(
    address: str, trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)

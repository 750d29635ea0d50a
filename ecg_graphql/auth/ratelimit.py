"""Failed-login limits per username and per client address, shared by every replica (MongoDB).

Each attempt first claims a slot (one row per key), then counts the rows in the window,
its own included: parallel guesses cannot all read the same low count, so at most
`limit` password checks happen per key and window, however the requests interleave.
A failed attempt's rows stay as the failure record; a success removes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from bson import ObjectId

from ecg_graphql.db import auth_store
from ecg_graphql.db.documents import LoginFailureDocument, utcnow
from ecg_graphql.errors import RateLimited


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures each key may have inside the sliding window."""

    per_user: int
    per_address: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed login attempt: the rows counting it against the username and the address."""

    user_key: str
    row_ids: tuple[ObjectId, ...]


def user_key(username_key: str) -> str:
    """The counter key of a (case-folded) username."""
    return f"user:{username_key}"


def address_key(address: str) -> str:
    """The counter key of a client address."""
    return f"addr:{address}"


async def claim_attempt(*, username_key: str, address: str, limits: LoginLimits) -> Attempt:
    """Count this attempt against both keys; RateLimited (and nothing counted) past a limit."""
    now = utcnow()
    window = timedelta(seconds=limits.window_seconds)
    keys = {user_key(username_key): limits.per_user, address_key(address): limits.per_address}
    rows = [LoginFailureDocument(key=key, at=now, expires_at=now + window) for key in keys]
    row_ids = await auth_store.insert_login_failures(rows)
    attempt = Attempt(user_key=user_key(username_key), row_ids=row_ids)
    recent = await auth_store.recent_login_failures(list(keys), now - window)
    retry_after = 0.0
    for key, limit in keys.items():
        times = [row.at for row in recent if row.key == key]
        if len(times) > limit:
            # Free again once enough of the oldest have left the window.
            frees_at = times[len(times) - limit - 1] + window
            retry_after = max(retry_after, (frees_at - now).total_seconds(), 1.0)
    if retry_after > 0:
        await auth_store.delete_login_failures(attempt.row_ids)
        raise RateLimited(math.ceil(retry_after))
    return attempt


async def succeeded(attempt: Attempt) -> None:
    """A successful login: forget this attempt and the username's earlier failures."""
    await auth_store.delete_login_failures(attempt.row_ids, key=attempt.user_key)

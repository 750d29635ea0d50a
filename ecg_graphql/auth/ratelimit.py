"""Failed-login limits per username and per client address, shared by every replica (MongoDB)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from beanie import SortDirection

from ecg_graphql.db.documents import LoginFailureDocument, utcnow
from ecg_graphql.errors import RateLimited


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many failures each key may have inside the sliding window."""

    per_user: int
    per_address: int
    window_seconds: int


def user_key(username_key: str) -> str:
    """The counter key of a (case-folded) username."""
    return f"user:{username_key}"


def address_key(address: str) -> str:
    """The counter key of a client address."""
    return f"addr:{address}"


async def check_login_allowed(*, username_key: str, address: str, limits: LoginLimits) -> bool:
    """Raise RateLimited when either counter is full; True when the user has past failures."""
    now = utcnow()
    since = now - timedelta(seconds=limits.window_seconds)
    keys = {user_key(username_key): limits.per_user, address_key(address): limits.per_address}
    rows = (
        await LoginFailureDocument.find(
            {"key": {"$in": list(keys)}, "at": {"$gte": since}}
        )
        .sort([("at", SortDirection.ASCENDING)])
        .to_list()
    )
    retry_after = 0.0
    user_failures = 0
    for key, limit in keys.items():
        times = [row.at for row in rows if row.key == key]
        if key.startswith("user:"):
            user_failures = len(times)
        if len(times) >= limit:
            # The window frees a slot when the (len - limit + 1)-th oldest failure expires.
            expires = times[len(times) - limit] + timedelta(seconds=limits.window_seconds)
            retry_after = max(retry_after, (expires - now).total_seconds())
    if retry_after > 0:
        raise RateLimited(max(1, math.ceil(retry_after)))
    return user_failures > 0


async def record_login_failure(*, username_key: str, address: str, window_seconds: int) -> None:
    """Count one failed login against the username and the address."""
    now = utcnow()
    expires = now + timedelta(seconds=window_seconds)
    await LoginFailureDocument.insert_many(
        [
            LoginFailureDocument(key=user_key(username_key), at=now, expires_at=expires),
            LoginFailureDocument(key=address_key(address), at=now, expires_at=expires),
        ]
    )


async def clear_user_failures(*, username_key: str) -> None:
    """Forget a username's failures after a successful login."""
    await LoginFailureDocument.find({"key": user_key(username_key)}).delete()

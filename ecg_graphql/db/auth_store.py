"""Users, refresh tokens and login failures in MongoDB.

Reads that run on every request go through the raw driver: `Document.get` builds a pydantic
adapter on every call (~0.5 ms), more than the query itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import SortDirection
from bson import ObjectId
from pymongo import ReturnDocument

from ecg_graphql.db.documents import LoginFailureDocument, RefreshTokenDocument, UserDocument


async def find_user(user_id: ObjectId) -> UserDocument | None:
    """The user with this id."""
    raw = await UserDocument.get_pymongo_collection().find_one({"_id": user_id})
    return None if raw is None else UserDocument.model_validate(raw)


async def find_user_by_key(username_key: str) -> UserDocument | None:
    """The user with this case-folded username."""
    return await UserDocument.find_one({"username_key": username_key})


async def any_user_with_role(role: str) -> bool:
    """Whether some user has this role."""
    return await UserDocument.find_one({"role": role}) is not None


async def page_users(*, after: ObjectId | None, limit: int) -> list[UserDocument]:
    """Up to `limit` users in registration (id) order, after `after`."""
    query: dict[str, Any] = {} if after is None else {"_id": {"$gt": after}}
    return (
        await UserDocument.find(query)
        .sort([("_id", SortDirection.ASCENDING)])
        .limit(limit)
        .to_list()
    )


async def count_users() -> int:
    """How many users exist."""
    return await UserDocument.find({}).count()


async def claim_refresh_token(token_hash: str, now: datetime) -> dict[str, Any] | None:
    """Mark an unused, unrevoked token used (atomically); the token as it was, or None."""
    claimed: (
        dict[str, Any] | None
    ) = await RefreshTokenDocument.get_pymongo_collection().find_one_and_update(
        {"token_hash": token_hash, "used_at": None, "revoked": False},
        {"$set": {"used_at": now}},
        return_document=ReturnDocument.BEFORE,
    )
    return claimed


async def find_refresh_family(token_hash: str) -> tuple[str, bool] | None:
    """The family of a stored token and whether it is revoked, or None."""
    found = await RefreshTokenDocument.get_pymongo_collection().find_one(
        {"token_hash": token_hash}, {"family_id": 1, "revoked": 1}
    )
    return None if found is None else (found["family_id"], bool(found.get("revoked")))


async def family_revoked(family_id: str) -> bool:
    """Whether any token of the family has been revoked."""
    found = await RefreshTokenDocument.get_pymongo_collection().find_one(
        {"family_id": family_id, "revoked": True}, {"_id": 1}
    )
    return found is not None


async def revoke_family(family_id: str) -> None:
    """Revoke every refresh token of a family."""
    await RefreshTokenDocument.get_pymongo_collection().update_many(
        {"family_id": family_id}, {"$set": {"revoked": True}}
    )


async def insert_login_failures(rows: list[LoginFailureDocument]) -> tuple[ObjectId, ...]:
    """Store failure rows in one command; their ids."""
    result = await LoginFailureDocument.get_pymongo_collection().insert_many(
        [row.model_dump(exclude={"id", "revision_id"}) for row in rows]
    )
    return tuple(result.inserted_ids)


async def recent_login_failures(keys: list[str], since: datetime) -> list[LoginFailureDocument]:
    """Failure rows of these keys since `since`, oldest first."""
    return (
        await LoginFailureDocument.find({"key": {"$in": keys}, "at": {"$gte": since}})
        .sort([("at", SortDirection.ASCENDING)])
        .to_list()
    )


async def delete_login_failures(row_ids: tuple[ObjectId, ...], *, key: str | None = None) -> None:
    """Remove these failure rows (and every row of `key`, when given)."""
    query: dict[str, Any] = {"_id": {"$in": list(row_ids)}}
    if key is not None:
        query = {"$or": [query, {"key": key}]}
    await LoginFailureDocument.get_pymongo_collection().delete_many(query)

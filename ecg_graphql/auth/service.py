"""Users and sessions: create and list users, log in, rotate refresh tokens, log out."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from ecg_graphql.auth import passwords, ratelimit, tokens
from ecg_graphql.auth.errors import InvalidCredentials, InvalidToken, UsernameTaken
from ecg_graphql.auth.roles import Role
from ecg_graphql.db import auth_store
from ecg_graphql.db.documents import RefreshTokenDocument, UserDocument, as_object_id, utcnow
from ecg_graphql.errors import FieldIssue, ValidationFailed
from ecg_graphql.paging import Page, check_page_size, decode_cursor, encode_cursor

logger = logging.getLogger(__name__)

USERNAME = re.compile(r"[A-Za-z0-9._-]{3,32}")


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What the auth service needs from the settings."""

    jwt_secret: str
    access_token_minutes: int
    refresh_token_days: int
    bcrypt_rounds: int
    limits: ratelimit.LoginLimits
    dummy_hash: bytes


@dataclass(frozen=True, slots=True)
class Session:
    """A freshly issued token pair."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: UserDocument


def username_key(username: str) -> str:
    """The case-insensitive identity of a username."""
    return username.casefold()


def _username_issue(username: str) -> FieldIssue | None:
    if not USERNAME.fullmatch(username):
        return FieldIssue(
            "username", "Username must be 3 to 32 letters, digits, '.', '_' or '-'."
        )
    return None


def _utf8_length(text: str) -> int | None:
    """Length in UTF-8 bytes, or None for text that has no UTF-8 form (lone surrogates)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _password_issue(password: str, *, field: str = "password") -> FieldIssue | None:
    size = _utf8_length(password)
    if size is None:
        return FieldIssue(field, "Password must be valid Unicode text.")
    if len(password) < passwords.MIN_PASSWORD_CHARS:
        return FieldIssue(field, "Password must be at least 8 characters.")
    if size > passwords.MAX_PASSWORD_BYTES:
        return FieldIssue(field, "Password must be at most 72 bytes in UTF-8.")
    return None


def validate_new_user(username: str, password: str, role: str) -> None:
    """Raise ValidationFailed listing every broken rule of a new user."""
    issues = [i for i in (_username_issue(username), _password_issue(password)) if i]
    if role not in Role.__members__:
        issues.append(FieldIssue("role", "Role must be ADMIN or USER."))
    if issues:
        raise ValidationFailed(issues)


async def create_user(
    *, username: str, password: str, role: str, bcrypt_rounds: int
) -> UserDocument:
    """Register a user; UsernameTaken when the name exists in any letter case (races included)."""
    validate_new_user(username, password, role)
    key = username_key(username)
    if await auth_store.find_user_by_key(key):
        raise UsernameTaken(username)
    user = UserDocument(
        username=username,
        username_key=key,
        password_hash=await passwords.hash_password(password, bcrypt_rounds),
        role=role,
    )
    try:
        await user.insert()
    except DuplicateKeyError:  # the unique index decides races
        raise UsernameTaken(username) from None
    return user


def encode_user_cursor(user: UserDocument) -> str:
    """An opaque cursor just after `user` in the listing."""
    assert user.id is not None  # noqa: S101  (stored users have ids)
    return encode_cursor(user.id)


async def list_users(*, first: int, after: str | None) -> Page[UserDocument]:
    """Users in registration order."""
    check_page_size(first)
    after_id = None if after is None else decode_cursor(after, ObjectId)[0]
    assert after_id is None or isinstance(after_id, ObjectId)  # noqa: S101  (decoded as one)
    return Page.of(await auth_store.page_users(after=after_id, limit=first + 1), first)


async def count_users() -> int:
    """How many users exist."""
    return await auth_store.count_users()


async def get_user(user_id: str) -> UserDocument | None:
    """The user with this id, or None."""
    oid = as_object_id(user_id)
    return None if oid is None else await auth_store.find_user(oid)


async def authenticate(token: str, *, secret: str) -> UserDocument | None:
    """The user behind a valid access token, or None; the role comes from the stored user."""
    claims = tokens.decode_access_token(token, secret=secret)
    if claims is None:
        return None
    return await get_user(claims.user_id)


async def _issue_session(user: UserDocument, config: AuthConfig, family_id: str) -> Session:
    refresh = tokens.new_refresh_token()
    await RefreshTokenDocument(
        token_hash=tokens.hash_refresh_token(refresh),
        family_id=family_id,
        user_id=user.id,
        expires_at=utcnow() + timedelta(days=config.refresh_token_days),
    ).insert()
    access = tokens.issue_access_token(
        user_id=str(user.id),
        role=user.role,
        secret=config.jwt_secret,
        minutes=config.access_token_minutes,
    )
    return Session(access, refresh, config.access_token_minutes * 60, user)


async def login(*, username: str, password: str, address: str, config: AuthConfig) -> Session:
    """A new session, or InvalidCredentials (same answer and timing for unknown users).

    Raises ValidationFailed for malformed input and RateLimited past the failure limits.
    """
    issues = [i for i in (_username_issue(username),) if i]
    size = _utf8_length(password)
    if not password:
        issues.append(FieldIssue("password", "Password is required."))
    elif size is None:
        issues.append(FieldIssue("password", "Password must be valid Unicode text."))
    elif size > passwords.MAX_PASSWORD_BYTES:
        issues.append(FieldIssue("password", "Password must be at most 72 bytes in UTF-8."))
    if issues:
        raise ValidationFailed(issues)

    key = username_key(username)
    attempt = await ratelimit.claim_attempt(
        username_key=key, address=address, limits=config.limits
    )
    user = await auth_store.find_user_by_key(key)
    valid = await passwords.verify_password(
        password, user.password_hash if user else config.dummy_hash
    )
    if user is None or not valid:
        raise InvalidCredentials  # the claimed attempt stays as the failure record
    await ratelimit.succeeded(attempt)
    return await _issue_session(user, config, family_id=secrets.token_hex(16))


async def refresh(*, refresh_token: str, config: AuthConfig) -> Session:
    """Rotate: the presented token is spent and a new pair issued in the same family.

    Presenting a spent token revokes its whole family (it was stolen or replayed).
    """
    if not 0 < len(refresh_token) <= tokens.MAX_TOKEN_LENGTH:
        raise InvalidToken
    token_hash = tokens.hash_refresh_token(refresh_token)
    now = utcnow()
    claimed = await auth_store.claim_refresh_token(token_hash, now)
    if claimed is None:
        spent = await auth_store.find_refresh_family(token_hash)
        if spent is not None and not spent[1]:
            await auth_store.revoke_family(spent[0])
            logger.warning("refresh token reuse: family revoked")
        raise InvalidToken
    expires_at: datetime = claimed["expires_at"]
    if expires_at.replace(tzinfo=expires_at.tzinfo or UTC) <= now:
        raise InvalidToken
    user = await auth_store.find_user(claimed["user_id"])
    if user is None:
        raise InvalidToken
    session = await _issue_session(user, config, family_id=claimed["family_id"])
    # A concurrent reuse may have revoked the family after our claim: then the new pair dies too.
    if await auth_store.family_revoked(claimed["family_id"]):
        await auth_store.revoke_family(claimed["family_id"])
        raise InvalidToken
    return session


async def logout(*, refresh_token: str) -> None:
    """Revoke the family of `refresh_token`, if it is one of ours; silent otherwise."""
    if not 0 < len(refresh_token) <= tokens.MAX_TOKEN_LENGTH:
        return
    found = await auth_store.find_refresh_family(tokens.hash_refresh_token(refresh_token))
    if found is not None:
        await auth_store.revoke_family(found[0])


@dataclass(frozen=True, slots=True)
class AdminBootstrap:
    """What the first-admin step did; `generated_password` is shown once, never stored."""

    created: bool
    generated_password: str | None = None


async def ensure_first_admin(
    *, username: str | None, password: str | None, bcrypt_rounds: int
) -> AdminBootstrap:
    """Create the first admin.

    With a username and password: create that admin unless the username exists (never
    overwritten). With neither: create `admin` with a random password if no admin exists.
    """
    if username is not None and password is not None:
        try:
            await create_user(
                username=username, password=password, role=Role.ADMIN, bcrypt_rounds=bcrypt_rounds
            )
        except UsernameTaken:  # never overwrite an existing user
            return AdminBootstrap(created=False)
        return AdminBootstrap(created=True)
    if await auth_store.any_user_with_role(Role.ADMIN):
        return AdminBootstrap(created=False)
    generated = secrets.token_urlsafe(18)
    try:
        await create_user(
            username="admin", password=generated, role=Role.ADMIN, bcrypt_rounds=bcrypt_rounds
        )
    except UsernameTaken:
        return AdminBootstrap(created=False)
    return AdminBootstrap(created=True, generated_password=generated)

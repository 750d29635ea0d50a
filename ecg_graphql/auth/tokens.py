"""Access tokens (JWT HS256, algorithm pinned), export link tokens, opaque refresh tokens.

A link token is signed with the same secret as an access token but carries another `type` and
another audience, so neither ever passes for the other: `decode_access_token` refuses a link
token on its audience and `decode_link_token` refuses an access token on its audience."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ISSUER = "ecg-graphql"
AUDIENCE = "ecg-graphql"
ALGORITHM = "HS256"
ACCESS = "access"
REQUIRED_CLAIMS = ("sub", "role", "type", "iss", "aud", "iat", "exp", "jti")
MAX_TOKEN_LENGTH = 4096

LINK = "export-link"
LINK_AUDIENCE = "ecg-graphql/exports"
LINK_TOKEN_SECONDS = 300
LINK_REQUIRED_CLAIMS = ("sub", "ecg", "type", "iss", "aud", "iat", "exp", "jti")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims the service relies on."""

    user_id: str
    role: str


def issue_access_token(*, user_id: str, role: str, secret: str, minutes: int) -> str:
    """A signed access token for `user_id`, valid `minutes` minutes."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "role": role,
        "type": ACCESS,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessClaims | None:
    """The claims of a valid access token, or None for any defect (never raises)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("type") != ACCESS:
        return None
    sub, role = claims.get("sub"), claims.get("role")
    if not isinstance(sub, str) or not isinstance(role, str):
        return None
    return AccessClaims(user_id=sub, role=role)


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a verified link token grants: the files of ECG `ecg_id` of owner `user_id`."""

    user_id: str
    ecg_id: str


def issue_link_token(
    *, user_id: str, ecg_id: str, secret: str, seconds: int = LINK_TOKEN_SECONDS
) -> str:
    """A signed token for the export files of one ECG of `user_id`, valid `seconds` seconds;
    any format and layout of that ECG, reusable until it expires."""
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "ecg": ecg_id,
        "type": LINK,
        "iss": ISSUER,
        "aud": LINK_AUDIENCE,
        "iat": now,
        "exp": now + timedelta(seconds=seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_link_token(token: str, *, secret: str) -> LinkClaims | None:
    """The claims of a valid link token, or None for any defect (never raises)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=LINK_AUDIENCE,
            issuer=ISSUER,
            options={"require": list(LINK_REQUIRED_CLAIMS)},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("type") != LINK:
        return None
    sub, ecg_id = claims.get("sub"), claims.get("ecg")
    if not isinstance(sub, str) or not isinstance(ecg_id, str):
        return None
    return LinkClaims(user_id=sub, ecg_id=ecg_id)


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token: its SHA-256 (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

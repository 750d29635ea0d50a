"""Access tokens (JWT HS256, algorithm pinned) and opaque refresh tokens."""

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


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token: its SHA-256 (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

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


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a verified link token grants: the files of ECG `ecg_id` of owner `user_id`."""

    user_id: str
    ecg_id: str


def _issue(
    *, kind: str, audience: str, subject: str, extra: dict[str, str], secret: str, seconds: int
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject,
        **extra,
        "type": kind,
        "iss": ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + timedelta(seconds=seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _decode(
    token: str, *, kind: str, audience: str, required: tuple[str, ...], secret: str
) -> dict[str, str] | None:
    """The string claims `required` of a valid token of this kind, or None (never raises)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            options={"require": list(required)},
        )
    except jwt.PyJWTError:
        return None
    if claims.get("type") != kind:
        return None
    names = [name for name in required if name not in ("iat", "exp")]
    if not all(isinstance(claims.get(name), str) for name in names):
        return None
    return {name: claims[name] for name in names}


def issue_access_token(*, user_id: str, role: str, secret: str, minutes: int) -> str:
    """A signed access token for `user_id`, valid `minutes` minutes."""
    return _issue(
        kind=ACCESS,
        audience=AUDIENCE,
        subject=user_id,
        extra={"role": role},
        secret=secret,
        seconds=minutes * 60,
    )


def decode_access_token(token: str, *, secret: str) -> AccessClaims | None:
    """The claims of a valid access token, or None for any defect (never raises)."""
    claims = _decode(
        token, kind=ACCESS, audience=AUDIENCE, required=REQUIRED_CLAIMS, secret=secret
    )
    return None if claims is None else AccessClaims(user_id=claims["sub"], role=claims["role"])


def issue_link_token(
    *, user_id: str, ecg_id: str, secret: str, seconds: int = LINK_TOKEN_SECONDS
) -> str:
    """A signed token for the export files of one ECG of `user_id`, valid `seconds` seconds;
    any format and layout of that ECG, reusable until it expires."""
    return _issue(
        kind=LINK,
        audience=LINK_AUDIENCE,
        subject=user_id,
        extra={"ecg": ecg_id},
        secret=secret,
        seconds=seconds,
    )


def decode_link_token(token: str, *, secret: str) -> LinkClaims | None:
    """The claims of a valid link token, or None for any defect (never raises)."""
    claims = _decode(
        token, kind=LINK, audience=LINK_AUDIENCE, required=LINK_REQUIRED_CLAIMS, secret=secret
    )
    return None if claims is None else LinkClaims(user_id=claims["sub"], ecg_id=claims["ecg"])


def new_refresh_token() -> str:
    """An opaque, unguessable refresh token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token: its SHA-256 (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

"""Hand-made tokens for the token tests: claims and JWS pieces built without the service."""

from __future__ import annotations

import base64
import time
from typing import Any


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS uses it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_claims(user_id: str, **overrides: Any) -> dict[str, Any]:
    """The claims of a valid access token for `user_id`, with `overrides` applied."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "role": "USER",
        "type": "access",
        "iss": "ecg-graphql",
        "aud": "ecg-graphql",
        "iat": now,
        "exp": now + 900,
        "jti": "0123456789abcdef",
    }
    claims.update(overrides)
    return claims

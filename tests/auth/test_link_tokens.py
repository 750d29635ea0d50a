"""Export link tokens: signed with the service secret, bound to one owner and one ECG, valid 5
minutes, and never interchangeable with access tokens in either direction."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt

from ecg_graphql.auth import tokens
from ecg_graphql.auth.tokens import (
    LinkClaims,
    decode_access_token,
    decode_link_token,
    issue_access_token,
    issue_link_token,
)
from tests.forge import b64url

SECRET = "unit-test-secret-" + "s" * 47
OTHER_SECRET = "another-secret-" + "o" * 49
USER_ID = "65f0c0ffee0000000000abcd"
ECG_ID = "ecg/with %odd ✓ id"


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="ecg-graphql/exports", issuer="ecg-graphql"
    )
    return claims


def _link_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": USER_ID,
        "ecg": ECG_ID,
        "type": "export-link",
        "iss": "ecg-graphql",
        "aud": "ecg-graphql/exports",
        "iat": now,
        "exp": now + 300,
        "jti": "0123456789abcdef",
    }
    claims.update(overrides)
    return claims


def test_link_token_names_owner_and_ecg_and_lives_five_minutes() -> None:
    before = int(time.time())
    token = issue_link_token(user_id=USER_ID, ecg_id=ECG_ID, secret=SECRET)
    claims = _claims(token)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert claims["sub"] == USER_ID
    assert claims["ecg"] == ECG_ID
    assert claims["type"] == "export-link"
    assert before + 300 <= claims["exp"] <= int(time.time()) + 300
    assert decode_link_token(token, secret=SECRET) == LinkClaims(USER_ID, ECG_ID)
    # Reusable until it expires: decoding does not use it up.
    assert decode_link_token(token, secret=SECRET) == LinkClaims(USER_ID, ECG_ID)


def test_link_and_access_tokens_never_pass_for_each_other() -> None:
    link = issue_link_token(user_id=USER_ID, ecg_id=ECG_ID, secret=SECRET)
    access = issue_access_token(user_id=USER_ID, role="USER", secret=SECRET, minutes=15)
    assert decode_access_token(link, secret=SECRET) is None
    assert decode_link_token(access, secret=SECRET) is None
    # Neither the audience alone nor the type alone lets one through as the other.
    access_aud = jwt.encode(_link_claims(aud="ecg-graphql", role="USER"), SECRET, "HS256")
    assert decode_access_token(access_aud, secret=SECRET) is None
    assert decode_link_token(access_aud, secret=SECRET) is None
    link_typed_access = jwt.encode(_link_claims(type="access"), SECRET, "HS256")
    assert decode_link_token(link_typed_access, secret=SECRET) is None


def test_expired_tampered_foreign_and_incomplete_link_tokens_are_refused() -> None:
    expired = issue_link_token(user_id=USER_ID, ecg_id=ECG_ID, secret=SECRET, seconds=-1)
    assert decode_link_token(expired, secret=SECRET) is None
    foreign = issue_link_token(user_id=USER_ID, ecg_id=ECG_ID, secret=OTHER_SECRET)
    assert decode_link_token(foreign, secret=SECRET) is None

    good = issue_link_token(user_id=USER_ID, ecg_id=ECG_ID, secret=SECRET)
    header, _payload, signature = good.split(".")
    other_payload = b64url(json.dumps(_link_claims(ecg="another")).encode())
    assert decode_link_token(f"{header}.{other_payload}.{signature}", secret=SECRET) is None
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert decode_link_token(f"{header}.{_payload}.{flipped}", secret=SECRET) is None
    none_alg = b64url(b'{"alg":"none","typ":"JWT"}') + "." + _payload + "."
    assert decode_link_token(none_alg, secret=SECRET) is None

    for missing in ("sub", "ecg", "type", "exp", "jti", "iat"):
        claims = _link_claims()
        del claims[missing]
        assert decode_link_token(jwt.encode(claims, SECRET, "HS256"), secret=SECRET) is None
    not_text = jwt.encode(_link_claims(ecg=42), SECRET, "HS256")
    assert decode_link_token(not_text, secret=SECRET) is None
    assert decode_link_token("x" * (tokens.MAX_TOKEN_LENGTH + 1), secret=SECRET) is None
    assert decode_link_token("", secret=SECRET) is None
    assert decode_link_token("not.a.token", secret=SECRET) is None

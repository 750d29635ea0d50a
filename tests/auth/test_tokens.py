"""Access tokens (JWT HS256, algorithm pinned, every claim required) and refresh tokens."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from ecg_graphql.auth import tokens
from ecg_graphql.auth.tokens import AccessClaims, decode_access_token, issue_access_token
from tests.forge import access_claims, b64url

# 64 bytes: long enough for HS512 too, so algorithm tests fail on the algorithm alone.
SECRET = "unit-test-secret-" + "s" * 47
OTHER_SECRET = "another-secret-" + "o" * 49
USER_ID = "65f0c0ffee0000000000abcd"
CLAIMS = ("sub", "role", "type", "iss", "aud", "iat", "exp", "jti")



def good_claims(**overrides: Any) -> dict[str, Any]:
    """Claims a valid access token carries, with `overrides` applied."""
    return access_claims(USER_ID, **overrides)


def sign(claims: dict[str, Any], *, secret: str = SECRET, algorithm: str = "HS256") -> str:
    """A token over `claims`, signed by pyjwt (an independent encoder)."""
    return jwt.encode(claims, secret, algorithm=algorithm)


def decoded(token: str) -> dict[str, Any]:
    """The verified claims of a token issued by the service."""
    claims: dict[str, Any] = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="ecg-graphql", issuer="ecg-graphql"
    )
    return claims


def test_issued_token_carries_exactly_the_contract_claims() -> None:
    before = int(time.time())
    token = issue_access_token(user_id=USER_ID, role="ADMIN", secret=SECRET, minutes=15)
    after = int(time.time())

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = decoded(token)
    assert set(claims) == set(CLAIMS)
    assert claims["sub"] == USER_ID
    assert claims["role"] == "ADMIN"
    assert claims["type"] == "access"
    assert claims["iss"] == "ecg-graphql"
    assert claims["aud"] == "ecg-graphql"
    assert before <= claims["iat"] <= after
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert isinstance(claims["jti"], str)
    assert claims["jti"]


def test_each_issued_token_has_its_own_jti() -> None:
    jtis = {
        decoded(issue_access_token(user_id=USER_ID, role="USER", secret=SECRET, minutes=15))["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


def test_issued_token_round_trips_through_decode() -> None:
    token = issue_access_token(user_id=USER_ID, role="USER", secret=SECRET, minutes=15)
    assert decode_access_token(token, secret=SECRET) == AccessClaims(user_id=USER_ID, role="USER")


def test_decode_accepts_a_correct_token_from_an_independent_encoder() -> None:
    # Guards the rejection tests below: they fail on their one defect, not on the helper.
    assert decode_access_token(sign(good_claims()), secret=SECRET) == AccessClaims(
        user_id=USER_ID, role="USER"
    )


def test_decode_rejects_expired_token() -> None:
    now = int(time.time())
    token = sign(good_claims(iat=now - 3600, exp=now - 60))
    assert decode_access_token(token, secret=SECRET) is None


def test_decode_rejects_token_issued_already_expired_by_the_service() -> None:
    token = issue_access_token(user_id=USER_ID, role="USER", secret=SECRET, minutes=-1)
    assert decode_access_token(token, secret=SECRET) is None


def test_decode_rejects_wrong_signature() -> None:
    token = sign(good_claims(), secret=OTHER_SECRET)
    assert decode_access_token(token, secret=SECRET) is None


def test_decode_rejects_tampered_payload() -> None:
    header, _, signature = sign(good_claims()).split(".")
    forged_payload = b64url(json.dumps(good_claims(role="ADMIN")).encode())
    assert decode_access_token(f"{header}.{forged_payload}.{signature}", secret=SECRET) is None


def test_decode_rejects_alg_none() -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(good_claims()).encode())
    assert decode_access_token(f"{header}.{payload}.", secret=SECRET) is None


@pytest.mark.parametrize("alg_name", ["none", "None", "NONE"])
def test_decode_rejects_alg_none_spellings(alg_name: str) -> None:
    header = b64url(json.dumps({"alg": alg_name}).encode())
    payload = b64url(json.dumps(good_claims()).encode())
    assert decode_access_token(f"{header}.{payload}.", secret=SECRET) is None


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_decode_rejects_other_algorithm_with_the_right_secret(algorithm: str) -> None:
    token = sign(good_claims(), algorithm=algorithm)
    assert decode_access_token(token, secret=SECRET) is None


def test_decode_rejects_wrong_audience() -> None:
    assert decode_access_token(sign(good_claims(aud="other-service")), secret=SECRET) is None


def test_decode_rejects_wrong_issuer() -> None:
    assert decode_access_token(sign(good_claims(iss="someone-else")), secret=SECRET) is None


@pytest.mark.parametrize("claim", CLAIMS)
def test_decode_rejects_token_missing_a_required_claim(claim: str) -> None:
    claims = good_claims()
    del claims[claim]
    assert decode_access_token(sign(claims), secret=SECRET) is None


@pytest.mark.parametrize("token_type", ["refresh", "ACCESS", "", "id"])
def test_decode_rejects_other_token_type(token_type: str) -> None:
    assert decode_access_token(sign(good_claims(type=token_type)), secret=SECRET) is None


@pytest.mark.parametrize("claim", ["sub", "role"])
def test_decode_rejects_non_string_identity_claims(claim: str) -> None:
    assert decode_access_token(sign(good_claims(**{claim: 12345})), secret=SECRET) is None


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "Bearer x", "\x00" * 10])
def test_decode_rejects_garbage(garbage: str) -> None:
    assert decode_access_token(garbage, secret=SECRET) is None


def test_decode_rejects_oversized_token() -> None:
    token = sign(good_claims(pad="p" * (tokens.MAX_TOKEN_LENGTH + 1)))
    assert decode_access_token(token, secret=SECRET) is None


def test_refresh_token_is_random_and_long() -> None:
    issued = {tokens.new_refresh_token() for _ in range(20)}
    assert len(issued) == 20
    # 256 bits of randomness in unpadded base64url is 43 characters.
    assert all(len(t) >= 43 for t in issued)


def test_refresh_token_hash_is_not_the_token() -> None:
    token = tokens.new_refresh_token()
    stored = tokens.hash_refresh_token(token)
    assert stored != token
    assert token not in stored
    assert tokens.hash_refresh_token(token) == stored  # deterministic: lookups work
    assert tokens.hash_refresh_token(tokens.new_refresh_token()) != stored

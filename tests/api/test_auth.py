"""Authentication over HTTP: token failures, stored roles, login, refresh rotation, logout."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from ecg_graphql.db.documents import UserDocument
from tests.forge import access_claims, b64url
from tests.harness import JWT_SECRET, LOGIN, Api

ME = "{ me { id username role } }"
USERS = "{ users { totalCount edges { node { username } } } }"
REFRESH = """
mutation Refresh($t: String!) {
  refreshToken(refreshToken: $t) {
    __typename
    ... on AuthPayload { accessToken refreshToken tokenType expiresIn user { id username role } }
    ... on InvalidTokenError { message }
  }
}
"""
LOGOUT = "mutation Logout($t: String!) { logout(refreshToken: $t) }"



def claims_for(user_id: str, **overrides: Any) -> dict[str, Any]:
    """The claims of a valid access token for `user_id`, with `overrides` applied."""
    return access_claims(user_id, **overrides)


def forge(claims: dict[str, Any], *, secret: str = JWT_SECRET, algorithm: str = "HS256") -> str:
    """A token signed outside the service (pyjwt, as an attacker or a test would)."""
    return jwt.encode(claims, secret, algorithm=algorithm)


def alg_none(claims: dict[str, Any]) -> str:
    """An unsigned token, crafted by hand: header {"alg":"none"}, claims, empty signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def assert_unauthenticated(body: dict[str, Any]) -> None:
    """A top-level UNAUTHENTICATED error and no data."""
    assert body["data"] is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"], body


def assert_forbidden(body: dict[str, Any]) -> None:
    """A top-level FORBIDDEN error and no data."""
    assert body["data"] is None, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body


async def refresh(api: Api, token: str) -> dict[str, Any]:
    """The refreshToken result (any union member)."""
    body = await api.gql(REFRESH, {"t": token})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["refreshToken"]
    return result


async def logout(api: Api, token: str) -> dict[str, Any]:
    """The whole logout response body."""
    return await api.gql(LOGOUT, {"t": token})


async def login_body(api: Api, username: str, password: str) -> dict[str, Any]:
    """The whole login response body."""
    return await api.gql(LOGIN, {"u": username, "p": password})


async def stored_user(username: str) -> UserDocument:
    """The Beanie document of `username`, read straight from the database."""
    user = await UserDocument.find_one({"username_key": username.casefold()})
    assert user is not None
    return user


# --- access tokens on `me` -------------------------------------------------------------------


async def test_me_with_a_valid_token(api: Api) -> None:
    user_id = await api.create_user("alice")
    token = (await api.login("alice", "password-123"))["accessToken"]
    body = await api.gql(ME, token=token)
    assert body == {"data": {"me": {"id": user_id, "username": "alice", "role": "USER"}}}


async def test_me_without_authorization_header(api: Api) -> None:
    assert_unauthenticated(await api.gql(ME))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "bearer-token",
    ],
)
async def test_me_with_malformed_authorization_header(api: Api, header: str) -> None:
    await api.user_token("alice")  # a real user exists, so only the header is at fault
    assert_unauthenticated(await api.gql(ME, headers={"authorization": header}))


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "x" * 5000, "eyJhbGciOi.J9.x"])
async def test_me_with_garbage_token(api: Api, garbage: str) -> None:
    assert_unauthenticated(await api.gql(ME, token=garbage))


TokenMaker = Callable[[str], str]

BAD_TOKENS: dict[str, TokenMaker] = {
    "expired": lambda uid: forge(
        claims_for(uid, iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    ),
    "wrong-signature": lambda uid: forge(claims_for(uid), secret="wrong-secret-" + "z" * 32),
    "alg-none": lambda uid: alg_none(claims_for(uid)),
    "alg-none-admin-claim": lambda uid: alg_none(claims_for(uid, role="ADMIN")),
    "HS384-right-secret": lambda uid: forge(claims_for(uid), algorithm="HS384"),
    "wrong-audience": lambda uid: forge(claims_for(uid, aud="another-api")),
    "wrong-issuer": lambda uid: forge(claims_for(uid, iss="someone-else")),
    "no-type": lambda uid: forge({k: v for k, v in claims_for(uid).items() if k != "type"}),
    "no-jti": lambda uid: forge({k: v for k, v in claims_for(uid).items() if k != "jti"}),
    "type-refresh": lambda uid: forge(claims_for(uid, type="refresh")),
    "sub-not-an-id": lambda uid: forge(claims_for("not-an-object-id")),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_me_with_bad_access_token(api: Api, kind: str) -> None:
    user_id = await api.create_user("alice")
    # Sanity: the same claims, correctly signed, are accepted, so the defect alone is rejected.
    assert (await api.gql(ME, token=forge(claims_for(user_id))))["data"]["me"]["id"] == user_id
    assert_unauthenticated(await api.gql(ME, token=BAD_TOKENS[kind](user_id)))


async def test_refresh_token_used_as_access_token(api: Api) -> None:
    await api.create_user("alice")
    payload = await api.login("alice", "password-123")
    assert_unauthenticated(await api.gql(ME, token=payload["refreshToken"]))


async def test_token_of_a_deleted_user(api: Api) -> None:
    await api.create_user("alice")
    session = await api.login("alice", "password-123")
    token = session["accessToken"]
    assert (await api.gql(ME, token=token))["data"]["me"]["username"] == "alice"
    await (await stored_user("alice")).delete()
    assert_unauthenticated(await api.gql(ME, token=token))
    assert (await refresh(api, session["refreshToken"]))["__typename"] == "InvalidTokenError"


# --- the stored role decides, not the claim --------------------------------------------------


async def test_user_promoted_in_database_is_admin_with_old_token(api: Api) -> None:
    token = await api.user_token("alice")
    assert_forbidden(await api.gql(USERS, token=token))

    user = await stored_user("alice")
    user.role = "ADMIN"
    await user.save()

    body = await api.gql(USERS, token=token)
    assert "errors" not in body, body
    assert body["data"]["users"]["totalCount"] == 2
    assert (await api.gql(ME, token=token))["data"]["me"]["role"] == "ADMIN"


async def test_admin_demoted_in_database_is_forbidden_with_old_token(api: Api) -> None:
    await api.create_user("boss", role="ADMIN")
    token = (await api.login("boss", "password-123"))["accessToken"]
    assert "errors" not in await api.gql(USERS, token=token)

    user = await stored_user("boss")
    user.role = "USER"
    await user.save()

    assert_forbidden(await api.gql(USERS, token=token))
    assert (await api.gql(ME, token=token))["data"]["me"]["role"] == "USER"


async def test_admin_role_claim_on_a_stored_user_is_forbidden(api: Api) -> None:
    user_id = await api.create_user("alice")
    token = forge(claims_for(user_id, role="ADMIN"))  # correctly signed, role claim lies
    assert_forbidden(await api.gql(USERS, token=token))


# --- login -----------------------------------------------------------------------------------


async def test_login_success_returns_a_bearer_pair(api: Api) -> None:
    user_id = await api.create_user("alice")
    body = await login_body(api, "alice", "password-123")
    payload = body["data"]["login"]
    assert payload["__typename"] == "AuthPayload"
    assert payload["tokenType"] == "Bearer"
    assert payload["expiresIn"] == 15 * 60
    assert payload["user"] == {"id": user_id, "username": "alice", "role": "USER"}
    assert payload["refreshToken"]
    assert payload["refreshToken"] != payload["accessToken"]
    claims = jwt.decode(
        payload["accessToken"],
        JWT_SECRET,
        algorithms=["HS256"],
        audience="ecg-graphql",
        issuer="ecg-graphql",
    )
    assert claims["sub"] == user_id
    assert claims["exp"] - claims["iat"] == payload["expiresIn"]
    me = await api.gql(ME, token=payload["accessToken"])
    assert me["data"]["me"]["id"] == user_id


async def test_login_is_case_insensitive_on_username(api: Api) -> None:
    user_id = await api.create_user("Alice")
    payload = await api.login("aLICE", "password-123")
    assert payload["user"]["id"] == user_id
    assert payload["user"]["username"] == "Alice"


async def test_login_unknown_user_and_wrong_password_are_identical(api: Api) -> None:
    await api.create_user("alice")
    wrong_password = await login_body(api, "alice", "password-124")
    unknown_user = await login_body(api, "nobody", "password-123")
    assert wrong_password["data"]["login"]["__typename"] == "InvalidCredentialsError"
    assert wrong_password == unknown_user


@pytest.mark.parametrize("username", ["ab", "a" * 33, "has space", "nul\x00byte", ""])
async def test_login_malformed_username_is_a_validation_error(api: Api, username: str) -> None:
    result = (await login_body(api, username, "password-123"))["data"]["login"]
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["username"]


@pytest.mark.parametrize(
    "password", ["é" * 37, "x" * 73, ""], ids=["74-bytes", "73-ascii", "empty"]
)
async def test_login_bad_password_shape_is_a_validation_error(api: Api, password: str) -> None:
    await api.create_user("alice")
    result = (await login_body(api, "alice", password))["data"]["login"]
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["password"]


# --- refresh tokens --------------------------------------------------------------------------


async def test_refresh_rotates_and_the_new_pair_works(api: Api) -> None:
    user_id = await api.create_user("alice")
    first = await api.login("alice", "password-123")

    second = await refresh(api, first["refreshToken"])
    assert second["__typename"] == "AuthPayload"
    assert second["tokenType"] == "Bearer"
    assert second["expiresIn"] == 15 * 60
    assert second["user"]["id"] == user_id
    assert second["refreshToken"] != first["refreshToken"]
    assert (await api.gql(ME, token=second["accessToken"]))["data"]["me"]["id"] == user_id

    third = await refresh(api, second["refreshToken"])
    assert third["__typename"] == "AuthPayload"
    assert (await api.gql(ME, token=third["accessToken"]))["data"]["me"]["id"] == user_id


async def test_old_refresh_token_stops_working_after_rotation(api: Api) -> None:
    await api.create_user("alice")
    first = await api.login("alice", "password-123")
    assert (await refresh(api, first["refreshToken"]))["__typename"] == "AuthPayload"
    assert (await refresh(api, first["refreshToken"]))["__typename"] == "InvalidTokenError"


async def test_reusing_a_spent_refresh_token_revokes_its_family(api: Api) -> None:
    await api.create_user("alice")
    stolen = (await api.login("alice", "password-123"))["refreshToken"]
    other_session = (await api.login("alice", "password-123"))["refreshToken"]
    legitimate = await refresh(api, stolen)
    assert legitimate["__typename"] == "AuthPayload"

    assert (await refresh(api, stolen))["__typename"] == "InvalidTokenError"
    # The pair issued by the legitimate rotation dies with its family...
    assert (await refresh(api, legitimate["refreshToken"]))["__typename"] == "InvalidTokenError"
    # ...but another login of the same user is a different family and lives on.
    assert (await refresh(api, other_session))["__typename"] == "AuthPayload"


@pytest.mark.parametrize(
    "token",
    ["", "unknown-token", "A" * 43, "x" * 200_000, "\x00", '{"$gt": ""}'],
    ids=["empty", "unknown", "token-shaped", "huge", "nul", "operator-json"],
)
async def test_refresh_with_invalid_token(api: Api, token: str) -> None:
    result = await refresh(api, token)
    assert result == {"__typename": "InvalidTokenError", "message": result["message"]}
    assert result["message"]


# --- logout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["unknown-token", "", "garbage\x00\u2603", "x" * 200_000],
    ids=["unknown", "empty", "garbage", "huge"],
)
async def test_logout_answers_true_for_any_token(api: Api, token: str) -> None:
    assert await logout(api, token) == {"data": {"logout": True}}


async def test_logout_answers_true_and_revokes_a_valid_token(api: Api) -> None:
    await api.create_user("alice")
    session = await api.login("alice", "password-123")
    assert await logout(api, session["refreshToken"]) == {"data": {"logout": True}}
    assert (await refresh(api, session["refreshToken"]))["__typename"] == "InvalidTokenError"
    # Same answer the second time: logout is no oracle.
    assert await logout(api, session["refreshToken"]) == {"data": {"logout": True}}


async def test_logout_with_a_spent_token_revokes_the_family(api: Api) -> None:
    await api.create_user("alice")
    first = await api.login("alice", "password-123")
    other_session = await api.login("alice", "password-123")
    second = await refresh(api, first["refreshToken"])
    assert second["__typename"] == "AuthPayload"

    assert await logout(api, first["refreshToken"]) == {"data": {"logout": True}}
    assert (await refresh(api, second["refreshToken"]))["__typename"] == "InvalidTokenError"
    assert (await refresh(api, other_session["refreshToken"]))["__typename"] == "AuthPayload"

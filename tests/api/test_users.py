"""User management over HTTP: createUser and users (ADMIN), username/password rules, bootstrap."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.harness import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    CREATE_USER,
    LOGIN,
    Api,
    error_codes,
    running_app,
)
from tests.harness import test_settings as make_settings  # a "test_" name would be collected

USERS_PAGE = """
query Users($first: Int!, $after: String) {
  users(first: $first, after: $after) {
    totalCount
    edges { cursor node { id username role createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
USERS_DEFAULT = "{ users { totalCount edges { node { username role } } } }"


async def create(api: Api, user_input: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """The whole createUser response body, sent as the admin unless another token is given."""
    return await api.gql(
        CREATE_USER,
        {"input": user_input},
        token=token if token is not None else await api.admin_token(),
    )


async def create_result(api: Api, username: str, password: str = "password-123") -> dict[str, Any]:
    """The createUser union member for a USER with these credentials."""
    body = await create(api, {"username": username, "password": password})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["createUser"]
    return result


# --- createUser ------------------------------------------------------------------------------


async def test_create_user_defaults_to_role_user(api: Api) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    body = await create(api, {"username": "alice", "password": "password-123"})
    result = body["data"]["createUser"]
    assert result["__typename"] == "User"
    assert result["username"] == "alice"
    assert result["role"] == "USER"
    assert result["id"]
    created = datetime.fromisoformat(result["createdAt"])
    assert created.tzinfo is not None
    assert before <= created <= datetime.now(UTC) + timedelta(seconds=5)


async def test_create_admin_user_who_can_then_administer(api: Api) -> None:
    body = await create(api, {"username": "boss", "password": "password-123", "role": "ADMIN"})
    assert body["data"]["createUser"]["role"] == "ADMIN"
    token = (await api.login("boss", "password-123"))["accessToken"]
    again = await create(api, {"username": "carol", "password": "password-123"}, token=token)
    assert again["data"]["createUser"]["__typename"] == "User"


async def test_create_user_as_user_is_forbidden(api: Api) -> None:
    token = await api.user_token("alice")
    body = await create(api, {"username": "mallory", "password": "password-123"}, token=token)
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]
    # Nothing was created.
    listed = await api.gql(USERS_DEFAULT, token=await api.admin_token())
    assert [e["node"]["username"] for e in listed["data"]["users"]["edges"]] == [
        ADMIN_USERNAME,
        "alice",
    ]


async def test_create_user_unauthenticated(api: Api) -> None:
    body = await api.gql(
        CREATE_USER, {"input": {"username": "mallory", "password": "password-123"}}
    )
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 32, "A.b_c-9", "___", "1.2", "Ab-Cd.Ef_01"],
)
async def test_valid_usernames_are_accepted(api: Api, username: str) -> None:
    result = await create_result(api, username)
    assert result["__typename"] == "User"
    assert result["username"] == username
    assert (await api.login(username, "password-123"))["user"]["id"] == result["id"]


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "",
        "has space",
        "user@example",
        "josé",
        "nul\x00byte",
        "smile\U0001f600",
        "tab\tname",
        "slash/name",
        "ＡＢＣ",  # noqa: RUF001  (fullwidth letters: the point of the test)
    ],
    ids=[
        "2-chars",
        "33-chars",
        "empty",
        "space",
        "at",
        "accented",
        "nul",
        "emoji",
        "tab",
        "slash",
        "fullwidth",
    ],
)
async def test_invalid_usernames_are_rejected(api: Api, username: str) -> None:
    result = await create_result(api, username)
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["username"]
    assert all(f["message"] for f in result["fields"])


@pytest.mark.parametrize(
    "password",
    ["p" * 8, "é" * 36, "x" * 72, "€" * 24],
    ids=["8-chars", "72-bytes-2byte", "72-bytes-ascii", "72-bytes-3byte"],
)
async def test_valid_passwords_are_accepted(api: Api, password: str) -> None:
    result = await create_result(api, "alice", password)
    assert result["__typename"] == "User"
    assert (await api.login("alice", password))["user"]["id"] == result["id"]


@pytest.mark.parametrize(
    "password",
    ["p" * 7, "", "é" * 36 + "a", "x" * 73, "€" * 24 + "é"],
    ids=["7-chars", "empty", "73-bytes", "73-ascii", "74-bytes"],
)
async def test_invalid_passwords_are_rejected(api: Api, password: str) -> None:
    result = await create_result(api, "alice", password)
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["password"]


async def test_username_and_password_violations_are_reported_together(api: Api) -> None:
    result = await create_result(api, "a b", "short")
    assert result["__typename"] == "ValidationError"
    assert sorted(f["field"] for f in result["fields"]) == ["password", "username"]
    # Nothing stored.
    body = await api.gql(USERS_DEFAULT, token=await api.admin_token())
    assert body["data"]["users"]["totalCount"] == 1


async def test_duplicate_username_is_taken(api: Api) -> None:
    assert (await create_result(api, "alice"))["__typename"] == "User"
    again = await create_result(api, "alice", "another-password")
    assert again["__typename"] == "UsernameTakenError"
    assert again["username"] == "alice"
    assert again["message"]
    # The original password still works: nothing was overwritten.
    await api.login("alice", "password-123")


@pytest.mark.parametrize(("first", "second"), [("alice", "Alice"), ("Alice", "ALICE")])
async def test_duplicate_username_in_another_letter_case_is_taken(
    api: Api, first: str, second: str
) -> None:
    assert (await create_result(api, first))["__typename"] == "User"
    again = await create_result(api, second, "another-password")
    assert again["__typename"] == "UsernameTakenError"
    assert again["username"] == second


async def test_the_bootstrap_admin_name_is_taken_in_any_case(api: Api) -> None:
    again = await create_result(api, ADMIN_USERNAME.upper())
    assert again["__typename"] == "UsernameTakenError"


async def test_new_user_can_log_in(api: Api) -> None:
    created = await create_result(api, "alice", "s3cret-pass")
    payload = await api.login("alice", "s3cret-pass")
    assert payload["user"] == {"id": created["id"], "username": "alice", "role": "USER"}
    me = await api.gql("{ me { id role } }", token=payload["accessToken"])
    assert me == {"data": {"me": {"id": created["id"], "role": "USER"}}}


# --- users -----------------------------------------------------------------------------------


async def test_users_as_user_is_forbidden(api: Api) -> None:
    body = await api.gql(USERS_DEFAULT, token=await api.user_token("alice"))
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]


async def test_users_unauthenticated(api: Api) -> None:
    body = await api.gql(USERS_DEFAULT)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_users_lists_everyone_with_total_count(api: Api) -> None:
    await api.create_user("alice")
    await api.create_user("bob", role="ADMIN")
    body = await api.gql(USERS_DEFAULT, token=await api.admin_token())
    assert body == {
        "data": {
            "users": {
                "totalCount": 3,
                "edges": [
                    {"node": {"username": ADMIN_USERNAME, "role": "ADMIN"}},
                    {"node": {"username": "alice", "role": "USER"}},
                    {"node": {"username": "bob", "role": "ADMIN"}},
                ],
            }
        }
    }


async def test_users_paginates_in_creation_order(api: Api) -> None:
    names = ["u-one", "u-two", "u-three", "u-four"]
    ids = [await api.create_user(name) for name in names]
    token = await api.admin_token()

    seen: list[tuple[str, str]] = []
    pages: list[int] = []
    after: str | None = None
    while True:
        body = await api.gql(USERS_PAGE, {"first": 2, "after": after}, token=token)
        assert "errors" not in body, body
        users = body["data"]["users"]
        assert users["totalCount"] == 5
        edges = users["edges"]
        pages.append(len(edges))
        seen.extend((e["node"]["id"], e["node"]["username"]) for e in edges)
        # Read back from the database, dates still carry their offset.
        assert all(datetime.fromisoformat(e["node"]["createdAt"]).tzinfo for e in edges)
        assert users["pageInfo"]["endCursor"] == edges[-1]["cursor"]
        if not users["pageInfo"]["hasNextPage"]:
            break
        after = users["pageInfo"]["endCursor"]
        assert len(pages) < 5, "pagination does not terminate"

    assert pages == [2, 2, 1]
    assert [name for _, name in seen] == [ADMIN_USERNAME, *names]
    assert [uid for uid, _ in seen][1:] == ids


async def test_users_last_page_exactly_full(api: Api) -> None:
    await api.create_user("alice")
    body = await api.gql(USERS_PAGE, {"first": 2}, token=await api.admin_token())
    users = body["data"]["users"]
    assert len(users["edges"]) == 2
    assert users["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [0, -1, 101, 1000])
async def test_users_page_size_out_of_range(api: Api, first: int) -> None:
    body = await api.gql(USERS_PAGE, {"first": first}, token=await api.admin_token())
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_users_page_size_bounds_are_inclusive(api: Api) -> None:
    token = await api.admin_token()
    for first in (1, 100):
        body = await api.gql(USERS_PAGE, {"first": first}, token=token)
        assert "errors" not in body, body
        assert len(body["data"]["users"]["edges"]) == 1


@pytest.mark.parametrize(
    "after",
    ["garbage!!", "", "Zm9v", "x" * 10_000, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"],
    ids=["punctuation", "empty", "base64-not-an-id", "huge", "base64-zeros"],
)
async def test_users_garbage_cursor(api: Api, after: str) -> None:
    body = await api.gql(USERS_PAGE, {"first": 2, "after": after}, token=await api.admin_token())
    assert body["data"] is None
    assert error_codes(body) == ["BAD_USER_INPUT"]


# --- bootstrap admin -------------------------------------------------------------------------

GENERATED = re.compile(r"username 'admin', password '([^']+)'")


async def login_typename(api: Api, username: str, password: str) -> str:
    """The __typename of the login result."""
    body = await api.gql(LOGIN, {"u": username, "p": password})
    assert "errors" not in body, body
    typename: str = body["data"]["login"]["__typename"]
    return typename


async def test_configured_admin_password_is_never_overwritten(mongodb_url: str) -> None:
    first = make_settings(mongodb_url)
    async with running_app(first) as api:
        assert await login_typename(api, ADMIN_USERNAME, ADMIN_PASSWORD) == "AuthPayload"
        restarted = make_settings(
            mongodb_url, database=first.database, admin_password="a-different-password-9"
        )
        async with running_app(restarted) as again:
            assert await login_typename(again, ADMIN_USERNAME, ADMIN_PASSWORD) == "AuthPayload"
            assert (
                await login_typename(again, ADMIN_USERNAME, "a-different-password-9")
                == "InvalidCredentialsError"
            )
            body = await again.gql(USERS_DEFAULT, token=await again.admin_token())
            assert body["data"]["users"]["totalCount"] == 1


async def test_configured_admin_does_not_overwrite_a_user_of_that_name(mongodb_url: str) -> None:
    first = make_settings(mongodb_url)
    async with running_app(first) as api:
        await api.create_user("ops-admin", "user-password-1")
        restarted = make_settings(
            mongodb_url,
            database=first.database,
            admin_username="OPS-ADMIN",
            admin_password="takeover-password",
        )
        async with running_app(restarted) as again:
            payload = await again.login("ops-admin", "user-password-1")
            assert payload["user"]["role"] == "USER"
            assert (
                await login_typename(again, "OPS-ADMIN", "takeover-password")
                == "InvalidCredentialsError"
            )


async def test_first_admin_with_random_password_printed_once(
    mongodb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    settings = make_settings(mongodb_url, admin_username=None, admin_password=None)
    async with running_app(settings) as api:
        out = capsys.readouterr().out
        found = GENERATED.findall(out)
        assert len(found) == 1, out
        password = found[0]
        assert len(password) >= 16
        payload = await api.login("admin", password)
        assert payload["user"]["role"] == "ADMIN"

        restarted = make_settings(
            mongodb_url, database=settings.database, admin_username=None, admin_password=None
        )
        async with running_app(restarted) as again:
            assert password not in capsys.readouterr().out
            # Still the same admin and the same password after a restart.
            assert (await again.login("admin", password))["user"]["id"] == payload["user"]["id"]


async def test_no_password_printed_when_an_admin_exists(
    mongodb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = make_settings(mongodb_url)  # creates the configured admin root-admin
    async with running_app(first):
        capsys.readouterr()
        restarted = make_settings(
            mongodb_url, database=first.database, admin_username=None, admin_password=None
        )
        async with running_app(restarted) as again:
            out = capsys.readouterr().out
            assert "password" not in out.lower(), out
            body = await again.gql(USERS_DEFAULT, token=await again.admin_token())
            assert body["data"]["users"]["edges"] == [
                {"node": {"username": ADMIN_USERNAME, "role": "ADMIN"}}
            ]

"""Failed-login limits per username and per client address; no user-existence oracle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.harness import ADMIN_PASSWORD, ADMIN_USERNAME, LOGIN, Api, running_app
from tests.harness import test_settings as make_settings  # a "test_" name would be collected

PASSWORD = "password-123"


async def attempt(api: Api, username: str, password: str) -> dict[str, Any]:
    """The whole login response body."""
    return await api.gql(LOGIN, {"u": username, "p": password})


def typename(body: dict[str, Any]) -> str:
    """The login result's __typename, asserting there is no top-level error."""
    assert "errors" not in body, body
    name: str = body["data"]["login"]["__typename"]
    return name


def assert_rate_limited(body: dict[str, Any]) -> int:
    """A top-level RATE_LIMITED error with a positive integer retryAfter; returns it."""
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == "RATE_LIMITED", body
    retry_after = extensions["retryAfter"]
    assert isinstance(retry_after, int), body
    assert not isinstance(retry_after, bool)
    assert retry_after > 0, body
    return retry_after


async def fail(api: Api, username: str, times: int) -> None:
    """`times` failed logins for `username`, each answered as invalid credentials."""
    for _ in range(times):
        assert typename(await attempt(api, username, "wrong-password")) == (
            "InvalidCredentialsError"
        )


async def test_per_user_limit_blocks_even_the_right_password(mongodb_url: str) -> None:
    async with running_app(make_settings(mongodb_url, login_max_failures_per_user=3)) as api:
        await api.create_user("alice", PASSWORD)
        await fail(api, "alice", 3)
        retry_after = assert_rate_limited(await attempt(api, "alice", PASSWORD))
        assert retry_after <= 300  # the default window
        # Also in another letter case: the limit is on the user, not the spelling.
        assert_rate_limited(await attempt(api, "ALICE", PASSWORD))
        assert_rate_limited(await attempt(api, "alice", "wrong-password"))


async def test_per_user_limit_leaves_other_users_alone(mongodb_url: str) -> None:
    async with running_app(make_settings(mongodb_url, login_max_failures_per_user=3)) as api:
        await api.create_user("alice", PASSWORD)
        await api.create_user("bob", PASSWORD)
        await fail(api, "alice", 3)
        assert_rate_limited(await attempt(api, "alice", PASSWORD))
        assert typename(await attempt(api, "bob", PASSWORD)) == "AuthPayload"
        assert typename(await attempt(api, "bob", "wrong-password")) == "InvalidCredentialsError"
        assert typename(await attempt(api, ADMIN_USERNAME, ADMIN_PASSWORD)) == "AuthPayload"


async def test_per_user_limit_counts_unknown_usernames_too(mongodb_url: str) -> None:
    async with running_app(make_settings(mongodb_url, login_max_failures_per_user=3)) as api:
        await fail(api, "ghost", 3)
        assert_rate_limited(await attempt(api, "ghost", PASSWORD))


async def test_per_address_limit_blocks_other_usernames(mongodb_url: str) -> None:
    settings = make_settings(mongodb_url, login_max_failures_per_address=5)
    async with running_app(settings) as api:
        await api.create_user("alice", PASSWORD)
        for name in ("u-1", "u-2", "u-3", "u-4", "u-5"):
            await fail(api, name, 1)
        # A sixth username, existing, with the right password: the address is blocked.
        assert_rate_limited(await attempt(api, "alice", PASSWORD))
        assert_rate_limited(await attempt(api, "u-6", "wrong-password"))


async def test_success_before_the_limit_clears_the_users_counter(mongodb_url: str) -> None:
    async with running_app(make_settings(mongodb_url, login_max_failures_per_user=3)) as api:
        await api.create_user("alice", PASSWORD)
        await fail(api, "alice", 2)
        assert typename(await attempt(api, "alice", PASSWORD)) == "AuthPayload"
        # Without the reset these would be failures 3 and 4, and the next attempt blocked.
        await fail(api, "alice", 2)
        assert typename(await attempt(api, "alice", PASSWORD)) == "AuthPayload"


async def test_logins_are_allowed_again_after_the_window(mongodb_url: str) -> None:
    settings = make_settings(
        mongodb_url, login_max_failures_per_user=3, login_failure_window_seconds=2
    )
    async with running_app(settings) as api:
        await api.create_user("alice", PASSWORD)
        await fail(api, "alice", 3)
        retry_after = assert_rate_limited(await attempt(api, "alice", PASSWORD))
        assert retry_after <= 2
        await asyncio.sleep(2.5)
        assert typename(await attempt(api, "alice", PASSWORD)) == "AuthPayload"


async def test_unknown_user_and_wrong_password_look_alike(mongodb_url: str) -> None:
    # Limits high enough never to trigger. bcrypt cost 8 (about 20 ms a check, more than the
    # database round trips of a login) so skipping the hash for unknown users would show.
    settings = make_settings(
        mongodb_url,
        login_max_failures_per_user=1000,
        login_max_failures_per_address=1000,
        bcrypt_rounds=8,
    )
    async with running_app(settings) as api:
        await api.create_user("alice", PASSWORD)
        # Warm-up: connection pool, caches.
        await attempt(api, "alice", "wrong-password")
        await attempt(api, "nobody", "wrong-password")

        wrong: list[float] = []
        unknown: list[float] = []
        bodies: set[str] = set()
        for _ in range(10):  # interleaved, so drift hits both alike
            for username, times in (("alice", wrong), ("nobody", unknown)):
                start = time.perf_counter()
                response = await api.post(LOGIN, {"u": username, "p": "wrong-password"})
                times.append(time.perf_counter() - start)
                assert response.status_code == 200
                bodies.add(response.text)

        assert len(bodies) == 1, bodies
        assert '"InvalidCredentialsError"' in bodies.pop()
        # Fastest of each: load on the machine only ever adds time (medians of 10 were tipped
        # by stalls on a busy 2-core machine), while skipping the hash would halve the minimum.
        ratio = min(unknown) / min(wrong)
        assert 0.5 < ratio < 2, (ratio, wrong, unknown)


async def test_parallel_attempts_cannot_exceed_the_per_user_limit(mongodb_url: str) -> None:
    # An attacker does not wait for answers: a burst of guesses at once must not buy more
    # password checks than the limit allows.
    async with running_app(make_settings(mongodb_url, login_max_failures_per_user=3)) as api:
        await api.create_user("alice", PASSWORD)
        bodies = await asyncio.gather(*(attempt(api, "alice", f"guess-{i:04d}") for i in range(20)))
        checked = [b for b in bodies if b["data"] is not None]
        for body in checked:
            assert typename(body) == "InvalidCredentialsError"
        for body in bodies:
            if body["data"] is None:
                assert_rate_limited(body)
        assert len(checked) <= 3, f"{len(checked)} of 20 parallel guesses were checked"


async def test_rate_limited_answer_carries_retry_after_header(mongodb_url: str) -> None:
    async with running_app(make_settings(mongodb_url, login_max_failures_per_user=2)) as api:
        await fail(api, "carol", 2)
        response = await api.post(
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) "
            "{ __typename } }",
            {"u": "carol", "p": "wrong-password"},
        )
        retry_after = assert_rate_limited(response.json())
        assert response.headers["retry-after"] == str(retry_after)
        ok = await api.post("{ __typename }")
        assert "retry-after" not in ok.headers

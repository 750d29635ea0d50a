"""Database faults: SIGKILL the embedded database under a running app, then start it again.

While it is down every request fails fast with SERVICE_UNAVAILABLE; once it is back the app
recovers by itself; acknowledged uploads survive complete, and no ECG is ever half-visible.
These tests use their own database (the session one must not be killed).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests import harness
from tests.harness import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    LOGIN,
    PASSWORD,
    UPLOAD,
    Api,
    RestartableDatabase,
    load_recording,
    random_ecg,
    running_app,
)
from tests.reference import reference_zero_crossings

# The liveness bound: with the database down no request may take longer than this.
DOWN_ANSWER_SECONDS = 5.0
# How long the app may take to notice the database is back (no restart of the app).
RECOVERY_SECONDS = 20.0
# An upload in flight when the database dies may wait twice for server selection (its own
# write, then the clean-up of its chunks): bounded well above 2 x database_timeout_seconds.
IN_FLIGHT_SECONDS = 15.0
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"

READ_ECG = """
query Read($id: ID!) {
  ecg(id: $id) {
    id
    leads { name numberOfSamples signal }
    insights { lead zeroCrossings }
  }
}
"""

LIST_IDS = """
query List($after: String) {
  ecgs(first: 100, after: $after) {
    totalCount
    edges { node { id } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def fault_api(own_db: RestartableDatabase) -> AsyncIterator[Api]:
    """The app on our own database."""
    async with running_app(harness.test_settings(own_db.url)) as client:
        yield client
        if not own_db.is_running():
            # A failed test may leave it down; the harness drops the test database on exit.
            own_db.restart()


def assert_service_unavailable(response: httpx.Response) -> None:
    """A clear GraphQL error with code SERVICE_UNAVAILABLE and nothing internal in it."""
    assert response.status_code == 200, response.text
    body = response.json()
    errors = body.get("errors")
    assert errors, body
    codes = [error.get("extensions", {}).get("code") for error in errors]
    assert all(code == SERVICE_UNAVAILABLE for code in codes), body
    for error in errors:
        assert "stacktrace" not in error.get("extensions", {}), body
        assert "exception" not in error.get("extensions", {}), body
    text = response.text
    for leak in ("Traceback", 'File "', "pymongo", "ServerSelection", "127.0.0.1"):
        assert leak not in text, text


async def listed_ids(api: Api, token: str) -> list[str]:
    """Every ECG id the user can list, across pages."""
    return [node["id"] for node in await api.all_nodes(LIST_IDS, "ecgs", token)]


async def assert_complete(api: Api, token: str, sent: dict[str, Any]) -> None:
    """The stored ECG equals what was uploaded, sample for sample, with correct insights."""
    body = await api.gql(READ_ECG, {"id": sent["id"]}, token=token)
    assert "errors" not in body, body
    stored = body["data"]["ecg"]
    assert stored is not None, sent["id"]
    assert [lead["name"] for lead in stored["leads"]] == [lead["name"] for lead in sent["leads"]]
    for lead, sent_lead in zip(stored["leads"], sent["leads"], strict=True):
        assert lead["numberOfSamples"] == len(sent_lead["signal"]), (sent["id"], lead["name"])
        assert lead["signal"] == sent_lead["signal"], (sent["id"], lead["name"])
    assert stored["insights"] == [
        {"lead": lead["name"], "zeroCrossings": reference_zero_crossings(lead["signal"])}
        for lead in sent["leads"]
    ]


async def wait_until_ready(api: Api) -> None:
    """Poll /ready until the app says the database answers (the app is never restarted)."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        response = await asyncio.wait_for(api.http.get("/ready"), DOWN_ANSWER_SECONDS)
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the app did not recover after the database came back"
        await asyncio.sleep(0.2)


async def test_outage_fails_fast_then_recovers_with_acknowledged_uploads_intact(
    own_db: RestartableDatabase, fault_api: Api
) -> None:
    api = fault_api
    login = await api.sign_in("alice")
    token = login["accessToken"]
    admin_token = (await api.login(ADMIN_USERNAME, ADMIN_PASSWORD))["accessToken"]
    rng = random.Random(20240301)  # noqa: S311  (seeded test data, not a secret)
    # Small uploads last, so the kill comes right after the smallest acknowledged writes.
    sent = [{"id": "recording", **load_recording("bitalino_pyhrv_centered.json")}]
    sent.extend(
        random_ecg(rng, f"before-{i}", leads=rng.randint(1, 12), length=rng.randint(1, 300))
        for i in range(5)
    )
    for ecg in sent:
        await api.uploaded(ecg, token)

    own_db.kill()

    new_ecg = random_ecg(rng, "while-down", leads=2, length=100)
    requests: dict[str, tuple[str, dict[str, Any] | None, str | None]] = {
        "me": ("{ me { id username } }", None, token),
        "ecg": (READ_ECG, {"id": sent[0]["id"]}, token),
        "ecgs": (LIST_IDS, {"after": None}, token),
        "uploadEcg": (UPLOAD, {"input": new_ecg}, token),
        "login": (LOGIN, {"u": "alice", "p": PASSWORD}, None),
        "refreshToken": (
            "mutation R($t: String!) { refreshToken(refreshToken: $t) { __typename } }",
            {"t": login["refreshToken"]},
            None,
        ),
        "createUser": (
            'mutation { createUser(input: {username: "bob", password: "password-123"})'
            " { __typename } }",
            None,
            admin_token,
        ),
        "deleteEcg": ("mutation D($id: ID!) { deleteEcg(id: $id) }", {"id": "x"}, token),
    }

    async def bounded(query: str, variables: dict[str, Any] | None, bearer: str | None) -> Any:
        return await asyncio.wait_for(api.post(query, variables, token=bearer), DOWN_ANSWER_SECONDS)

    responses = await asyncio.gather(*(bounded(*request) for request in requests.values()))
    for name, response in zip(requests, responses, strict=True):
        assert isinstance(response, httpx.Response), name
        assert_service_unavailable(response)
    ready = await asyncio.wait_for(api.http.get("/ready"), DOWN_ANSWER_SECONDS)
    assert ready.status_code == 503, ready.text
    health = await asyncio.wait_for(api.http.get("/health"), DOWN_ANSWER_SECONDS)
    assert health.status_code == 200, health.text

    own_db.restart()
    await wait_until_ready(api)

    me = await api.gql("{ me { username } }", token=token)
    assert me == {"data": {"me": {"username": "alice"}}}
    assert sorted(await listed_ids(api, token)) == sorted(ecg["id"] for ecg in sent)
    for ecg in sent:
        await assert_complete(api, token, ecg)
    # Writes work again too, and the upload refused while down left nothing behind.
    await api.uploaded(new_ecg, token)
    await assert_complete(api, token, new_ecg)
    relogin = await api.gql(LOGIN, {"u": "alice", "p": PASSWORD})
    assert relogin["data"]["login"]["__typename"] == "AuthPayload", relogin


async def test_kill_during_concurrent_uploads_leaves_no_half_visible_ecg(
    own_db: RestartableDatabase, fault_api: Api
) -> None:
    api = fault_api
    users = ("carol", "dave")
    tokens = {user: (await api.sign_in(user))["accessToken"] for user in users}
    workers = 4
    # Several writes per upload (samples first, the ECG document last) and four writers always
    # in flight, so the kill catches uploads part-way, possibly between their writes.
    sent: dict[str, dict[str, dict[str, Any]]] = {user: {} for user in users}
    acknowledged: dict[str, set[str]] = {user: set() for user in users}
    failures: list[httpx.Response] = []
    stop = asyncio.Event()

    async def worker(number: int) -> None:
        user = users[number % len(users)]
        rng = random.Random(number)  # noqa: S311  (seeded test data, not a secret)
        sequence = 0
        while not stop.is_set():
            ecg = random_ecg(rng, f"w{number}-{sequence}", leads=20, length=rng.randint(50, 600))
            sequence += 1
            sent[user][ecg["id"]] = ecg
            response = await asyncio.wait_for(
                api.post(UPLOAD, {"input": ecg}, token=tokens[user]), IN_FLIGHT_SECONDS
            )
            body = response.json()
            if response.status_code == 200 and body.get("data") and body["data"]["uploadEcg"]:
                assert body["data"]["uploadEcg"]["__typename"] == "Ecg", body
                acknowledged[user].add(ecg["id"])
            else:
                failures.append(response)
                return

    tasks = [asyncio.create_task(worker(n)) for n in range(workers)]
    try:
        deadline = time.monotonic() + 60
        while sum(len(ids) for ids in acknowledged.values()) < 12:
            assert time.monotonic() < deadline, "uploads did not get going"
            assert not any(task.done() for task in tasks), [t.exception() for t in tasks]
            await asyncio.sleep(0.01)
        own_db.kill()
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Every upload caught by the kill failed with the clear error, none hung (wait_for above).
    assert failures, "the kill caught no upload in flight"
    for response in failures:
        assert_service_unavailable(response)

    own_db.restart()
    await wait_until_ready(api)

    for user in users:
        visible = await listed_ids(api, tokens[user])
        assert len(visible) == len(set(visible)), visible
        assert set(visible) <= set(sent[user]), set(visible) - set(sent[user])
        missing = acknowledged[user] - set(visible)
        assert not missing, f"acknowledged uploads lost for {user}: {sorted(missing)}"
        for ecg_id in visible:
            await assert_complete(api, tokens[user], sent[user][ecg_id])


def test_reference_matches_design_table() -> None:
    # The reference itself against DESIGN.md's examples, so the tests above check the right thing.
    table = {
        (1, -1): 1,
        (1, 0, -1): 1,
        (1, 0, 1): 0,
        (-1, 0, 0, 2): 1,
        (0, 0, 0): 0,
        (5,): 0,
    }
    for signal, expected in table.items():
        assert reference_zero_crossings(list(signal)) == expected, signal

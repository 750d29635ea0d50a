"""Many simultaneous clients: nothing lost, nothing stored twice, races decided once."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from ecg_graphql.db.documents import EcgDocument, SignalChunkDocument
from tests.harness import ADMIN_PASSWORD, ADMIN_USERNAME, CREATE_USER, PASSWORD, Api, random_ecg
from tests.reference import reference_zero_crossings

REFRESH = """
mutation Refresh($t: String!) {
  refreshToken(refreshToken: $t) {
    __typename
    ... on AuthPayload { accessToken refreshToken }
    ... on InvalidTokenError { message }
  }
}
"""

LIST_FULL = """
query List($after: String) {
  ecgs(first: 100, after: $after) {
    totalCount
    edges { node { id leads { name numberOfSamples signal } insights { lead zeroCrossings } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

USERS = """
query Users($after: String) {
  users(first: 100, after: $after) {
    edges { node { username } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def expected_insights(ecg: dict[str, Any]) -> list[dict[str, Any]]:
    """The insights the pure-Python reference gives for an upload."""
    return [
        {"lead": lead["name"], "zeroCrossings": reference_zero_crossings(lead["signal"])}
        for lead in ecg["leads"]
    ]


def as_stored(ecg: dict[str, Any]) -> dict[str, Any]:
    """What reading `ecg` back must return, in LIST_FULL's shape."""
    return {
        "id": ecg["id"],
        "leads": [
            {"name": lead["name"], "numberOfSamples": len(lead["signal"]), "signal": lead["signal"]}
            for lead in ecg["leads"]
        ],
        "insights": expected_insights(ecg),
    }


async def all_ecgs(api: Api, token: str) -> list[dict[str, Any]]:
    """Every ECG the token's user can list, in full, across pages."""
    return await api.all_nodes(LIST_FULL, "ecgs", token)


async def all_usernames(api: Api, admin_token: str) -> list[str]:
    """Every registered username, across pages."""
    return [node["username"] for node in await api.all_nodes(USERS, "users", admin_token)]


async def stored_signal_ids() -> tuple[list[Any], set[Any]]:
    """The signal ids the ECG documents refer to, and those that own chunks (test database)."""
    ecgs = EcgDocument.get_pymongo_collection()
    referenced = [doc["signal_id"] async for doc in ecgs.find({}, {"signal_id": 1})]
    chunks = SignalChunkDocument.get_pymongo_collection()
    with_chunks = {
        row["_id"] async for row in await chunks.aggregate([{"$group": {"_id": "$signal_id"}}])
    }
    return referenced, with_chunks


async def test_200_uploads_from_20_clients_are_each_stored_once(api: Api) -> None:
    users = [f"client-user-{n}" for n in range(4)]
    tokens = {user: (await api.sign_in(user))["accessToken"] for user in users}
    sent: dict[str, list[dict[str, Any]]] = {user: [] for user in users}

    async def client(number: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        user = users[number % len(users)]
        rng = random.Random(1000 + number)  # noqa: S311  (seeded test data, not a secret)
        outcomes = []
        for sequence in range(10):
            ecg = random_ecg(
                rng, f"c{number}-{sequence}", leads=rng.randint(1, 3), length=rng.randint(1, 200)
            )
            sent[user].append(ecg)
            outcomes.append((ecg, await api.upload(ecg, tokens[user])))
        return outcomes

    results = await asyncio.gather(*(client(n) for n in range(20)))

    outcomes = [outcome for per_client in results for outcome in per_client]
    assert len(outcomes) == 200
    for ecg, result in outcomes:
        assert result["__typename"] == "Ecg", result
        assert result["id"] == ecg["id"]
        assert result["insights"] == expected_insights(ecg)
    for user in users:
        stored = await all_ecgs(api, tokens[user])
        assert len(stored) == 50
        by_id = {node["id"]: node for node in stored}
        assert len(by_id) == 50, "an ECG is listed twice"
        assert by_id == {ecg["id"]: as_stored(ecg) for ecg in sent[user]}
    referenced, with_chunks = await stored_signal_ids()
    assert len(referenced) == 200
    assert set(referenced) == with_chunks


async def test_same_username_created_twice_at_once_gives_one_user(api: Api) -> None:
    admin_token = (await api.login(ADMIN_USERNAME, ADMIN_PASSWORD))["accessToken"]

    async def create(username: str) -> dict[str, Any]:
        body = await api.gql(
            CREATE_USER,
            {"input": {"username": username, "password": PASSWORD, "role": "USER"}},
            token=admin_token,
        )
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["createUser"]
        return result

    for round_number in range(10):
        name = f"racer-{round_number}"
        # Half the rounds race two spellings: usernames are unique case-insensitively.
        other = name.upper() if round_number % 2 else name
        results = await asyncio.gather(create(name), create(other))
        kinds = sorted(result["__typename"] for result in results)
        assert kinds == ["User", "UsernameTakenError"], results

    names = [name.casefold() for name in await all_usernames(api, admin_token)]
    for round_number in range(10):
        assert names.count(f"racer-{round_number}") == 1, names


async def test_refresh_token_presented_twice_at_once_issues_at_most_one_pair(api: Api) -> None:
    await api.sign_in("refresher")

    async def refresh(token: str) -> dict[str, Any]:
        body = await api.gql(REFRESH, {"t": token})
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["refreshToken"]
        return result

    for _ in range(10):
        original = (await api.login("refresher", PASSWORD))["refreshToken"]
        results = await asyncio.gather(refresh(original), refresh(original))
        kinds = [result["__typename"] for result in results]
        assert set(kinds) <= {"AuthPayload", "InvalidTokenError"}, results
        assert kinds.count("AuthPayload") <= 1, results
        # Spent either way: a third presentation gets nothing.
        assert (await refresh(original))["__typename"] == "InvalidTokenError"


async def test_same_client_id_uploaded_at_once_is_stored_once(api: Api) -> None:
    alice = (await api.sign_in("dup-alice"))["accessToken"]
    bob = (await api.sign_in("dup-bob"))["accessToken"]
    rng = random.Random(77)  # noqa: S311  (seeded test data, not a secret)
    for round_number in range(3):
        ecg_id = f"same-{round_number}"
        # Each attempt has its own length, so the stored one shows which attempt won.
        attempts = [random_ecg(rng, ecg_id, leads=2, length=100 + attempt) for attempt in range(10)]
        bobs = random_ecg(rng, ecg_id, leads=1, length=50)
        results = await asyncio.gather(
            *(api.upload(ecg, alice) for ecg in attempts), api.upload(bobs, bob)
        )
        alices, bobs_result = results[:-1], results[-1]
        winners = [r for r in alices if r["__typename"] == "Ecg"]
        assert len(winners) == 1, alices
        losers = [r for r in alices if r["__typename"] != "Ecg"]
        assert all(
            r == {"__typename": "EcgAlreadyExistsError", "message": r["message"], "id": ecg_id}
            for r in losers
        ), losers
        # Ids are per owner: another user's upload with the same id is not a duplicate.
        assert bobs_result["__typename"] == "Ecg", bobs_result

        won = next(
            ecg
            for ecg in attempts
            if len(ecg["leads"][0]["signal"]) == winners[0]["leads"][0]["numberOfSamples"]
        )
        stored = [node for node in await all_ecgs(api, alice) if node["id"] == ecg_id]
        assert stored == [as_stored(won)]

    stored_bob = await all_ecgs(api, bob)
    assert len(stored_bob) == 3
    # The losing uploads left no chunks behind: every chunk belongs to a stored ECG.
    referenced, with_chunks = await stored_signal_ids()
    assert len(referenced) == 6
    assert set(referenced) == with_chunks

"""Kept listing pages never show a stale listing: every change to the owner's ECGs (an
upload, a delete, an analysis result), made by this process or by another one on the same
database, is seen by the very next read of the page."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from ecg_graphql.db import ecg_store
from ecg_graphql.db.documents import EcgDocument
from ecg_graphql.ecgs import page_cache
from ecg_graphql.insights.stored import stored_count
from tests.harness import UPLOAD, Api, ServeProcess, free_port

PAGE = """query($first: Int!) { ecgs(first: $first) { totalCount edges { node {
  id analysisStatus insights { lead zeroCrossings } } } } }"""
DELETE = "mutation($id: ID!) { deleteEcg(id: $id) }"
LEADS = [{"name": "I", "signal": [1, -1, 1, -1]}, {"name": "II", "signal": [0, 2, -2, 0]}]


def ecg(ecg_id: str, day: int) -> dict[str, Any]:
    return {"id": ecg_id, "date": f"2024-05-{day:02d}T08:00:00Z", "leads": LEADS}


async def page(api: Api, token: str, first: int = 10) -> dict[str, Any]:
    body = await api.gql(PAGE, {"first": first}, token=token)
    assert "errors" not in body, body
    listed: dict[str, Any] = body["data"]["ecgs"]
    return listed


def ids(listed: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in listed["edges"]]


async def test_a_kept_page_follows_uploads_deletes_and_analysis_results(api: Api) -> None:
    token = await api.user_token()
    for day, ecg_id in enumerate(("a", "b", "c"), start=1):
        assert (await api.upload(ecg(ecg_id, day), token))["__typename"] == "Ecg"
    first = await page(api, token)
    assert ids(first) == ["c", "b", "a"]
    assert await page(api, token) == first  # read again: kept, the same answer

    assert (await api.upload(ecg("d", 9), token))["__typename"] == "Ecg"
    after_upload = await page(api, token)
    assert ids(after_upload) == ["d", "c", "b", "a"]
    assert after_upload["totalCount"] == 4

    assert (await api.gql(DELETE, {"id": "b"}, token=token))["data"]["deleteEcg"] is True
    after_delete = await page(api, token)
    assert ids(after_delete) == ["d", "c", "a"]
    assert after_delete["totalCount"] == 3

    # An analysis result written the way background jobs write them.
    row = await EcgDocument.get_pymongo_collection().find_one({"ecg_id": "c"})
    assert row is not None
    record = {"version": row["insights"]["zero_crossings"]["version"], "values": [7, 8]}
    await ecg_store.update_ecg(row["_id"], row["owner_id"], {"insights.zero_crossings": record})
    changed = await page(api, token)
    node = next(edge["node"] for edge in changed["edges"] if edge["node"]["id"] == "c")
    assert [i["zeroCrossings"] for i in node["insights"]] == [7, 8]


async def test_pages_of_other_sizes_and_owners_are_kept_apart(api: Api) -> None:
    alice = await api.user_token("alice")
    bob = await api.user_token("bob")
    for day in range(1, 6):
        assert (await api.upload(ecg(f"a{day}", day), alice))["__typename"] == "Ecg"
    assert (await api.upload(ecg("b1", 1), bob))["__typename"] == "Ecg"
    assert ids(await page(api, alice, first=2)) == ["a5", "a4"]
    assert ids(await page(api, alice, first=10)) == ["a5", "a4", "a3", "a2", "a1"]
    assert ids(await page(api, bob, first=2)) == ["b1"]
    assert ids(await page(api, alice, first=2)) == ["a5", "a4"]


async def test_a_page_with_many_stored_beats_is_not_kept(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await api.user_token()
    signal = [0, 0, 900, -300, 0, 0, 0, 0] * 200  # a spike every 8 samples
    upload = {**ecg("beats", 1), "samplingRate": 100.0, "leads": [{"name": "II", "signal": signal}]}
    assert (await api.upload(upload, token))["__typename"] == "Ecg"
    row = await EcgDocument.get_pymongo_collection().find_one({"ecg_id": "beats"})
    assert row is not None
    beats = stored_count(row["analyses"]["beats"]["value"])
    assert beats > 1
    page_cache.clear()
    monkeypatch.setattr(page_cache, "MAX_BEATS", beats - 1)
    await page(api, token)
    assert page_cache.kept() == 0  # too heavy to keep: read from the database each time
    monkeypatch.setattr(page_cache, "MAX_BEATS", beats)
    await page(api, token)
    assert page_cache.kept() == 1


async def test_a_change_drops_the_owners_older_pages(api: Api) -> None:
    token = await api.user_token()
    for day in range(1, 4):
        assert (await api.upload(ecg(f"k{day}", day), token))["__typename"] == "Ecg"
    page_cache.clear()
    await page(api, token, first=2)
    await page(api, token, first=10)
    assert page_cache.kept() == 2 + 3
    assert (await api.upload(ecg("k9", 9), token))["__typename"] == "Ecg"
    assert ids(await page(api, token, first=10)) == ["k9", "k3", "k2", "k1"]
    # Only the page of the new revision is kept: the two of the old one went with the change.
    assert page_cache.kept() == 4


async def test_a_change_made_by_another_process_is_seen_at_once(api: Api) -> None:
    """This process keeps the page; a second `serve` on the same database changes the
    owner's ECGs; this process's next read shows the change (its own kept page was not
    told: the owner's revision in the database says the page is old)."""
    token = await api.user_token()
    assert (await api.upload(ecg("here", 1), token))["__typename"] == "Ecg"
    assert ids(await page(api, token)) == ["here"]
    env = {
        **os.environ,
        "ECG_MONGODB_URL": str(api.settings.mongodb_url),
        "ECG_DATABASE": api.settings.database,
        "ECG_JWT_SECRET": api.settings.resolve_jwt_secret(),
        "ECG_PORT": str(free_port()),
        "ECG_WORKERS": "1",
        "ECG_ANALYSIS_WORKERS": "0",
    }
    other = ServeProcess(env)
    try:
        async with httpx.AsyncClient(base_url=other.base_url, timeout=30) as http:
            for _ in range(600):  # a bound against hanging, not a timing
                assert other.process.poll() is None, other.output
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            headers = {"authorization": f"Bearer {token}"}

            async def there(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                response = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                assert response.status_code == 200, response.text
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body
                data: dict[str, Any] = body["data"]
                return data

            uploaded = await there(UPLOAD, {"input": ecg("there", 2)})
            assert uploaded["uploadEcg"]["__typename"] == "Ecg"
            assert ids(await page(api, token)) == ["there", "here"]
            assert (await there(DELETE, {"id": "here"}))["deleteEcg"] is True
            listed = await page(api, token)
            assert ids(listed) == ["there"]
            assert listed["totalCount"] == 1
    finally:
        other.process.kill()
        other.process.wait(timeout=20)
        other._reader.join(timeout=5)
        if other.process.stdout is not None:
            other.process.stdout.close()

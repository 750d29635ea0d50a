"""Listing in date windows (db/ecg_listing.py) returns exactly what one sorted find returns,
and the per-owner counter stays equal to the number of ECGs, on the real database."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from ecg_graphql.db import ecg_listing
from ecg_graphql.db.documents import EcgCountDocument, EcgDocument
from ecg_graphql.ecgs import service
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from tests.harness import Api

BASE = datetime(2024, 1, 1, tzinfo=UTC)
PAGE = """
query Page($after: String) {
  ecgs(first: 7, after: $after) {
    totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
  }
}
"""


def tiny(ecg_id: str, date: datetime) -> EcgUpload:
    return EcgUpload(
        id=ecg_id, date=date, sampling_rate=None, leads=[LeadUpload("I", None, [1, -1])]
    )


async def upload(owner_id: ObjectId, ecg_id: str, date: datetime) -> None:
    await service.upload_ecg(owner_id=owner_id, upload=tiny(ecg_id, date))


async def reference(owner_id: ObjectId) -> list[str]:
    """The old listing: one find of every owner document, sorted by the full key."""
    rows = (
        await EcgDocument.get_pymongo_collection()
        .find({"owner_id": owner_id})
        .sort(ecg_listing.NEWEST_FIRST)
        .to_list()
    )
    return [row["ecg_id"] for row in rows]


def stored(doc: service.StoredEcg) -> service.StoredEcg:
    return doc


async def count(owner_id: ObjectId) -> int:
    """The owner's totalCount, as a listing reads it (with its first page)."""
    _, total = await service.list_ecgs(owner_id=owner_id, first=1, after=None, view=stored)
    return total


async def walk(owner_id: ObjectId, first: int) -> list[str]:
    """Every ECG through the service's pages of `first`, following the cursors."""
    ids: list[str] = []
    after: str | None = None
    while True:
        page, _ = await service.list_ecgs(owner_id=owner_id, first=first, after=after, view=stored)
        ids += [doc.ecg_id for doc in page.items]
        if not page.has_next_page:
            return ids
        assert page.items, "a page that says more follow must not be empty"
        after = service.encode_ecg_cursor(page.items[-1])


async def check(owner_id: ObjectId) -> None:
    expected = await reference(owner_id)
    counter = await EcgCountDocument.get_pymongo_collection().find_one({"_id": owner_id})
    assert counter is not None
    dates = [
        row["date"]
        for row in await EcgDocument.get_pymongo_collection().find({"owner_id": owner_id}).to_list()
    ]
    # The months must count every date, or the windows are sized wrongly (cost, not rows).
    months: dict[str, int] = {}
    for date in dates:
        months[ecg_listing.month_key(date)] = months.get(ecg_listing.month_key(date), 0) + 1
    assert {key: n for key, n in counter["months"].items() if n} == months
    for first in (1, 3, 50, 100):
        assert await walk(owner_id, first) == expected, first
    assert await count(owner_id) == len(expected)


def random_dates(rng: random.Random, count: int) -> list[datetime]:
    """Uneven dates: a cluster of equal ones, a dense month, a sparse decade, far outliers."""
    dates = [BASE] * (count // 10)
    dates += [BASE + timedelta(minutes=rng.randrange(43_200)) for _ in range(count // 2)]
    dates += [BASE - timedelta(hours=rng.randrange(87_600)) for _ in range(count // 3)]
    dates += [datetime(1950, 6, 1, tzinfo=UTC), datetime(2090, 1, 1, tzinfo=UTC)]
    while len(dates) < count:
        dates.append(BASE + timedelta(days=rng.randrange(-3, 3)))
    rng.shuffle(dates)
    return dates


async def test_windows_equal_the_sorted_find_with_ties_and_deletes(api: Api) -> None:
    rng = random.Random(10)  # noqa: S311  (test data, not secrets)
    owner, other = ObjectId(), ObjectId()
    dates = random_dates(rng, 240)
    for i, date in enumerate(dates):
        await upload(owner, f"e{i}", date)
    await upload(other, "e0", BASE)  # another owner's ECGs never show
    await check(owner)
    for i in rng.sample(range(len(dates)), 90):
        assert await service.delete_ecg(owner_id=owner, ecg_id=f"e{i}")
    assert not await service.delete_ecg(owner_id=owner, ecg_id="e-none")
    await check(owner)
    assert await count(other) == 1


async def test_concurrent_uploads_are_listed_and_counted_once(api: Api) -> None:
    owner = ObjectId()
    await asyncio.gather(
        *(upload(owner, f"c{i}", BASE + timedelta(seconds=i % 3)) for i in range(60))
    )
    await check(owner)
    await asyncio.gather(
        *(service.delete_ecg(owner_id=owner, ecg_id=f"c{i}") for i in range(0, 60, 2)),
        *(upload(owner, f"d{i}", BASE) for i in range(20)),
    )
    await check(owner)
    assert await count(owner) == 50


async def test_a_wrong_counter_changes_cost_never_rows_and_gc_repairs_it(api: Api) -> None:
    owner = ObjectId()
    for i in range(80):
        await upload(owner, f"r{i}", BASE + timedelta(hours=i * 7 % 80))
    counters = EcgCountDocument.get_pymongo_collection()
    # Count and months as wrong as they can be: the rows must not change.
    await counters.update_one(
        {"_id": owner},
        {"$set": {"total": 3, "months": {"2031-02": 2, "2024-01": 1, "1999-07": "x"}}},
    )
    assert await walk(owner, 5) == await reference(owner)
    assert await count(owner) == 3
    assert await ecg_listing.repair_counts() >= 1
    assert await count(owner) == 80
    await check(owner)


async def test_owners_without_a_counter_get_one_from_their_ecgs(api: Api) -> None:
    owner = ObjectId()
    for i in range(12):
        await upload(owner, f"o{i}", BASE - timedelta(days=i))
    # As if the ECGs were stored before counters existed (and this process never saw them).
    await EcgCountDocument.get_pymongo_collection().delete_one({"_id": owner})
    ecg_listing._known.clear()
    assert await count(owner) == 12
    await upload(owner, "o-new", BASE)
    await check(owner)
    assert await count(owner) == 13


async def test_pages_through_graphql_follow_the_same_order(api: Api) -> None:
    token = await api.user_token()
    rng = random.Random(3)  # noqa: S311  (test data, not secrets)
    dates = random_dates(rng, 30)
    for i, date in enumerate(dates):
        ecg: dict[str, Any] = {"id": f"g{i}", "date": date.isoformat(), "leads": []}
        ecg["leads"] = [{"name": "I", "signal": [1, 2, -1]}]
        await api.uploaded(ecg, token)
    nodes = await api.all_nodes(PAGE, "ecgs", token)
    rows = (
        await EcgDocument.get_pymongo_collection().find({}).sort(ecg_listing.NEWEST_FIRST).to_list()
    )
    assert [node["id"] for node in nodes] == [row["ecg_id"] for row in rows]


async def test_an_ecg_dated_exactly_on_a_window_edge_is_listed_once(api: Api) -> None:
    owner = ObjectId()
    # On every month's first millisecond and on the last millisecond before it: the windows'
    # floors fall just below a month's start, between the two.
    for month in range(1, 13):
        start = datetime(2023, month, 1, tzinfo=UTC)
        await upload(owner, f"m{month}", start)
        await upload(owner, f"p{month}", start - timedelta(milliseconds=1))
    rows = await ecg_listing.page_ecgs(owner, after=None, limit=4)
    assert [row["ecg_id"] for row in rows] == ["m12", "p12", "m11", "p11"]
    for first in (1, 2, 3, 5, 9):
        assert await walk(owner, first) == await reference(owner), first


async def test_a_counter_from_before_months_gets_them_once(api: Api) -> None:
    owner = ObjectId()
    for day in range(30):
        await upload(owner, f"d{day}", BASE - timedelta(days=day * 20))
    counters = EcgCountDocument.get_pymongo_collection()
    await counters.update_one({"_id": owner}, {"$unset": {"months": ""}})
    ecg_listing._known.clear()  # as a process started after the upgrade
    assert await walk(owner, 4) == await reference(owner)
    await check(owner)

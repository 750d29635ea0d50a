"""Listing pages kept while the owner's ECGs are unchanged, so a page read again costs one
lookup of the owner's counter document instead of a find of 51 documents.

The embedded database handles every returned document in Python: a page of 50 ECGs costs
some 10-16 ms in the database alone (six times an authenticated `{ me { id } }` over HTTP)
whatever the indexes, while frontends read the same first page again and again. A page is
kept under the owner's `revision` (db/ecg_listing.py), which goes up in the same transaction
as every insert, delete and analysis result of the owner's ECGs: a request that reads the
revision a page was kept under sees exactly that page, in any process on any machine, since
the page was read after the revision and nothing changed it since. So the cache can never
show a stale listing through the service's own writes. Writes made behind the service's back
(a restore, a hand edit in the database) are seen once the page expires (`TTL_SECONDS`).

Bounded: `MAX_PAGES` pages per process, and a page holding more than `MAX_BEATS` stored
beats (long recordings keep a beat list each) is not kept. Pages are kept as the caller's
view (the GraphQL edges), built once. Used only on the event loop (no lock).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache

from ecg_graphql.paging import Page

MAX_PAGES = 256
MAX_BEATS = 20_000
TTL_SECONDS = 60.0
T = TypeVar("T")

_pages: TTLCache[Hashable, Page[Any]] = TTLCache(maxsize=MAX_PAGES, ttl=TTL_SECONDS)


def get(key: Hashable, view: Callable[[Any], T]) -> Page[T] | None:
    """The page kept under `key` for this view, or None."""
    page: Page[T] | None = _pages.get((key, view))
    return page


def put(key: Hashable, view: Callable[[Any], T], page: Page[T], beats: int) -> None:
    """Keep the page (of `beats` stored beats in all) under `key` for this view."""
    if beats > MAX_BEATS:
        return
    _pages[(key, view)] = page


def clear() -> None:
    """Forget every page (tests that rewrite documents behind the service's back)."""
    _pages.clear()

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

Bounded by what it holds: `MAX_ECGS` ECGs over all kept pages (a kept ECG, its stored
document and GraphQL view, is about 12 KB: some 24 MB in all), only the pages of an owner's
newest revision (a change drops the older ones at once), and a page holding more than
`MAX_BEATS` stored beats (long recordings keep a beat array each) is not kept. Pages are
kept as the caller's view (the GraphQL edges), built once. Used only on the event loop (no
lock).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache

from ecg_graphql.paging import Page

MAX_ECGS = 2_000
MAX_OWNERS = 10_000
MAX_BEATS = 20_000
TTL_SECONDS = 60.0
T = TypeVar("T")
_Key = tuple[Hashable, int, Hashable, Callable[[Any], Any]]


def _weight(page: Page[Any]) -> int:
    return max(1, len(page.items))


_pages: TTLCache[_Key, Page[Any]] = TTLCache(maxsize=MAX_ECGS, ttl=TTL_SECONDS, getsizeof=_weight)
# Per owner: the newest revision pages are kept under, and their keys.
_owners: TTLCache[Hashable, tuple[int, set[_Key]]] = TTLCache(maxsize=MAX_OWNERS, ttl=TTL_SECONDS)


def get(owner: Hashable, revision: int, key: Hashable, view: Callable[[Any], T]) -> Page[T] | None:
    """The page kept for `key` (the page's position and size) of the owner's ECGs at this
    revision, as this view; or None."""
    page: Page[T] | None = _pages.get((owner, revision, key, view))
    return page


def put(
    owner: Hashable,
    revision: int,
    key: Hashable,
    view: Callable[[Any], T],
    page: Page[T],
    *,
    beats: int,
) -> None:
    """Keep the page (of `beats` stored beats in all), read after the owner's counter said
    `revision`; the owner's pages of older revisions go."""
    if beats > MAX_BEATS or _weight(page) > MAX_ECGS:
        return
    newest, keys = _owners.get(owner, (revision, set()))
    if revision < newest:
        return  # read before a change another request has already seen
    if revision > newest:
        for old in keys:
            _pages.pop(old, None)
        keys = set()
    entry: _Key = (owner, revision, key, view)
    _pages[entry] = page
    keys.add(entry)
    _owners[owner] = (revision, {k for k in keys if k in _pages})


def kept() -> int:
    """How many ECGs the kept pages hold."""
    return int(_pages.currsize)


def clear() -> None:
    """Forget every page (tests that rewrite documents behind the service's back)."""
    _pages.clear()
    _owners.clear()

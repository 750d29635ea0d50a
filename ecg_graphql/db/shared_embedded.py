"""The embedded database as several API processes see it (`serve` with ECG_WORKERS > 1).

The parent `serve` process runs and supervises the one embedded database; its workers only
use it. A restarted database listens on a new port, so the parent publishes the state in
ECG_DATA_DIR: `embedded-url` (the URL it serves on now, also read by `create-admin` and the
other commands) and `embedded-down-since` (while it is down: since when, wall clock).
Each worker follows the URL file and reconnects when it changes, and reports the outage on
/health as a single process does. The files are replaced atomically, never half written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pymongo.errors import ConnectionFailure

from ecg_graphql.db.supervisor import WINDOW_SECONDS

T = TypeVar("T")
logger = logging.getLogger(__name__)

URL_FILE = "embedded-url"
DOWN_FILE = "embedded-down-since"
# Set by the parent for its workers: the storage directory of the database it supervises
# (for the disk guard). Not an ECG_ setting: an operator never sets it.
STORAGE_ENV = "_ECG_EMBEDDED_STORAGE"
FOLLOW_SECONDS = 0.25


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def published_url(data_dir: Path) -> str | None:
    """The URL the embedded database serves at now, as `serve` publishes it (None while it
    runs none)."""
    try:
        return (data_dir / URL_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


class Publisher:
    """The `serve` side: what its workers (and the other commands) read."""

    def __init__(self, data_dir: Path) -> None:
        self.url_path = data_dir / URL_FILE
        self.down_path = data_dir / DOWN_FILE

    def started(self, url: str) -> None:
        """The database serves at `url` (again)."""
        _replace(self.url_path, url)
        self.down_path.unlink(missing_ok=True)

    def down(self) -> None:
        """The database stopped serving just now."""
        _replace(self.down_path, repr(time.time()))

    def clear(self) -> None:
        """The database was stopped on purpose: nothing to follow any more."""
        self.url_path.unlink(missing_ok=True)
        self.down_path.unlink(missing_ok=True)


class SharedEmbedded:
    """A worker's side: the parent's database, followed through its files."""

    def __init__(self, data_dir: Path, storage_path: Path) -> None:
        self.data_dir = data_dir
        self.down_path = data_dir / DOWN_FILE
        self.storage_path = storage_path

    @classmethod
    def from_environment(cls, data_dir: Path) -> SharedEmbedded | None:
        """The database the parent supervises, or None when it runs none (ECG_MONGODB_URL)."""
        storage = os.environ.get(STORAGE_ENV)
        return cls(data_dir, Path(storage)) if storage else None

    def url(self) -> str | None:
        """The URL the database serves at now (None while the file is missing)."""
        return published_url(self.data_dir)

    def down_seconds(self) -> float:
        """How long the database has been down (0 while it serves)."""
        try:
            since = float(self.down_path.read_text())
        except (FileNotFoundError, ValueError):
            return 0.0
        return max(0.0, time.time() - since)

    async def start(
        self,
        url: str,
        first: Callable[[], Awaitable[T]],
        reconnect: Callable[[str], Awaitable[None]],
        *,
        within_seconds: float = WINDOW_SECONDS,
    ) -> tuple[T, str]:
        """`first()` (the worker's startup), retried while the parent restarts the database.

        A worker can start while the database is down (killed just then): its startup waits
        for the database on the URL the parent publishes, instead of failing the whole
        service. After `within_seconds` (the parent gives up within that window anyway) the
        last error is raised. Returns what `first()` returned and the URL in use.
        """
        deadline = time.monotonic() + within_seconds
        current = url
        while True:
            try:
                return await first(), current
            except ConnectionFailure as error:
                if time.monotonic() >= deadline:
                    raise
                logger.warning(
                    "embedded database unavailable while starting (%s); waiting for it",
                    type(error).__name__,
                )
            while time.monotonic() < deadline:
                await asyncio.sleep(FOLLOW_SECONDS)
                published = self.url()
                if published is None or self.down_seconds() > 0:
                    continue
                if published != current:
                    try:
                        await reconnect(published)
                    except ConnectionFailure:
                        continue
                    current = published
                break

    async def follow(self, url: str, reconnect: Callable[[str], Awaitable[None]]) -> None:
        """Until cancelled: `reconnect(new_url)` whenever the database moved from `url`.

        A reconnection that fails (the database died again) is retried at the next look.
        """
        current = url
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            published = self.url()
            if published is None or published == current:
                continue
            try:
                await reconnect(published)
            except Exception as error:  # retried at the next look; the parent supervises
                logger.warning(
                    "reconnecting to the restarted embedded database failed: %s",
                    type(error).__name__,
                )
                continue
            current = published
            logger.info("reconnected to the restarted embedded database")

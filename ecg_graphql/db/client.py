"""Connecting to MongoDB (PyMongo's async client) and initialising Beanie."""

from __future__ import annotations

import asyncio

from beanie import init_beanie
from pymongo import AsyncMongoClient, WriteConcern, timeout

from ecg_graphql.config import Settings
from ecg_graphql.db import ecg_store
from ecg_graphql.db.documents import DOCUMENT_MODELS

DEFAULT_URL = "mongodb://127.0.0.1:27017"
CLOSE_SECONDS = 0.5


def make_client(settings: Settings, url: str | None = None) -> AsyncMongoClient[dict[str, object]]:
    """A client whose operations all give up after `database_timeout_seconds`."""
    timeout_ms = int(settings.database_timeout_seconds * 1000)
    return AsyncMongoClient(
        url or settings.mongodb_url or DEFAULT_URL,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        # A database that accepts but never answers must not hang requests forever.
        socketTimeoutMS=60_000,
        appname="ecg-graphql",
    )


async def init_database(client: AsyncMongoClient[dict[str, object]], database: str) -> None:
    """Bind the Beanie documents to `database` and create their indexes.

    Every write is acknowledged only once it is in the journal (j:true): a successful
    mutation means the data is on disk. Bulk signal chunks opt out (see ecgs.service):
    the ECG document written after them with j:true flushes the journal past them too.
    """
    # Keep what the URL asks for (e.g. w=majority on a replica set) and add j:true.
    concern = WriteConcern(**{**client.write_concern.document, "j": True})
    durable = client.get_database(database, write_concern=concern)
    await init_beanie(database=durable, document_models=list(DOCUMENT_MODELS))


async def commits_durable(client: AsyncMongoClient[dict[str, object]], *, embedded: bool) -> bool:
    """Whether the server journals a transaction's commit before acknowledging it: MongoDB
    does (j:true), and so does the embedded SecantusDB `serve` starts (db/embedded.py); a
    SecantusDB run otherwise (buildInfo names it) may not."""
    if embedded:
        return True
    info = await client.admin.command("buildInfo")
    return "secantusVersion" not in info


async def ping(client: AsyncMongoClient[dict[str, object]], timeout_seconds: float = 2.0) -> bool:
    """True when the database answers a ping within the timeout."""
    try:
        with timeout(timeout_seconds):
            await client.admin.command("ping")
    except Exception:  # any failure means "not ready"; the cause is not the caller's concern
        return False
    return True


class Connection:
    """The client the service uses now; replaced whole when the embedded database moves.

    A restarted embedded database listens on a new port, and a PyMongo client is bound to
    the addresses it was given: rather than proxy a stable port, a new client is made and
    Beanie is bound to it. The old client is closed only after the database timeout, so
    requests still waiting on it end with their usual "unavailable" error.
    """

    def __init__(self, settings: Settings, *, embedded: bool = False) -> None:
        self.settings = settings
        self.embedded = embedded  # the embedded database `serve` started (db/embedded.py)
        self.client: AsyncMongoClient[dict[str, object]] = make_client(settings)
        self._retiring: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Bind the documents to the database and create the indexes."""
        await self._bind(self.client)

    async def _bind(self, client: AsyncMongoClient[dict[str, object]]) -> None:
        await init_database(client, self.settings.database)
        ecg_store.durable_commits(await commits_durable(client, embedded=self.embedded))

    async def reconnect(self, url: str) -> None:
        """Use the database at `url` from now on (raises if it does not answer)."""
        fresh = make_client(self.settings, url)
        try:
            await self._bind(fresh)
        except BaseException:
            await fresh.close()
            raise
        old, self.client = self.client, fresh
        task = asyncio.create_task(self._close_later(old))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _close_later(self, client: AsyncMongoClient[dict[str, object]]) -> None:
        try:
            await asyncio.sleep(self.settings.database_timeout_seconds + 1)
        finally:
            await _close(client)

    async def close(self) -> None:
        """Close the client and any it replaced."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        await _close(self.client)


async def _close(client: AsyncMongoClient[dict[str, object]]) -> None:
    # Closing ends the client's server sessions, which waits for server selection: with the
    # server gone that is the whole timeout, for nothing. Bounded (the ending is best effort).
    with timeout(CLOSE_SECONDS):
        await client.close()

"""Connecting to MongoDB (PyMongo's async client) and initialising Beanie."""

from __future__ import annotations

from beanie import init_beanie
from pymongo import AsyncMongoClient, WriteConcern, timeout

from ecg_graphql.config import Settings
from ecg_graphql.db.documents import DOCUMENT_MODELS

DEFAULT_URL = "mongodb://127.0.0.1:27017"


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


async def ping(client: AsyncMongoClient[dict[str, object]], timeout_seconds: float = 2.0) -> bool:
    """True when the database answers a ping within the timeout."""
    try:
        with timeout(timeout_seconds):
            await client.admin.command("ping")
    except Exception:  # any failure means "not ready"; the cause is not the caller's concern
        return False
    return True

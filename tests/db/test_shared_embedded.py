"""An API worker process (ECG_WORKERS > 1) starting while the parent restarts the database.

The parent publishes the database's URL and outage in ECG_DATA_DIR (db/shared_embedded.py);
these tests publish them as the parent does, around the session's real embedded database.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest
from pymongo.errors import ServerSelectionTimeoutError

from ecg_graphql.db.client import Connection
from ecg_graphql.db.shared_embedded import Publisher, SharedEmbedded
from ecg_graphql.main import create_app
from tests.harness import ADMIN_PASSWORD, ADMIN_USERNAME, Api, test_settings


def dead_url() -> str:
    """A database URL nothing listens on (a port just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


async def test_a_worker_starting_during_an_outage_waits_for_the_restarted_database(
    tmp_path: Path, mongodb_url: str
) -> None:
    # The worker was spawned with the URL of a database that was killed just then.
    gone = dead_url()
    publisher = Publisher(tmp_path)
    publisher.started(gone)
    publisher.down()
    settings = test_settings(gone, data_dir=tmp_path, database_timeout_seconds=1.0)
    app = create_app(settings, shared=SharedEmbedded(tmp_path, tmp_path))

    restart_after = 2.0

    async def parent_restarts() -> None:
        await asyncio.sleep(restart_after)
        publisher.started(mongodb_url)  # back, on a new port

    began = time.monotonic()
    restart = asyncio.create_task(parent_restarts())
    async with app.router.lifespan_context(app):
        started_after = time.monotonic() - began
        await restart
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            api = Api(http=http, settings=settings, app=app)
            # The first admin was created on the restarted database, and the worker serves.
            login = await api.login(ADMIN_USERNAME, ADMIN_PASSWORD)
            assert login["user"]["role"] == "ADMIN", login
            assert (await http.get("/ready")).status_code == 200
        await app.state.mongo_client.drop_database(settings.database)
    assert started_after >= restart_after, started_after


async def test_a_worker_whose_database_never_returns_fails_its_startup(tmp_path: Path) -> None:
    gone = dead_url()
    publisher = Publisher(tmp_path)
    publisher.started(gone)
    publisher.down()
    settings = test_settings(gone, data_dir=tmp_path, database_timeout_seconds=0.5)
    connection = Connection(settings)
    began = time.monotonic()
    try:
        with pytest.raises(ServerSelectionTimeoutError):
            await SharedEmbedded(tmp_path, tmp_path).start(
                gone, connection.open, connection.reconnect, within_seconds=2.0
            )
    finally:
        await connection.close()
    # Waited the whole window (not the first timeout), then gave up (not forever).
    assert 2.0 <= time.monotonic() - began < 10.0

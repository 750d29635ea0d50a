"""The embedded SecantusDB launcher: clean stop, data kept across a crash, fast failure."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient, WriteConcern

from ecg_graphql.db.client import commits_durable
from ecg_graphql.db.embedded import EmbeddedDatabase, EmbeddedDatabaseError

# Liveness bound for a start that cannot succeed (the launcher's own timeout is 60 s).
FAIL_FAST_SECONDS = 15.0


def _alive(pid: int) -> bool:
    """True while `pid` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def databases() -> Iterator[list[EmbeddedDatabase]]:
    """Every EmbeddedDatabase a test appends here is stopped afterwards, whatever happened."""
    started: list[EmbeddedDatabase] = []
    yield started
    for database in started:
        database.stop()


def started_on(path: Path, databases: list[EmbeddedDatabase]) -> EmbeddedDatabase:
    """A database started on `path`, stopped after the test (`databases`)."""
    database = EmbeddedDatabase(path)
    databases.append(database)
    database.start()
    return database


def test_start_then_stop_leaves_no_process(
    tmp_path: Path, databases: list[EmbeddedDatabase]
) -> None:
    database = EmbeddedDatabase(tmp_path / "db")
    databases.append(database)
    url = database.start()
    assert database.process is not None
    pid = database.process.pid
    port = database.port
    assert port is not None
    assert url == f"mongodb://127.0.0.1:{port}/?directConnection=true"
    assert database.is_running()
    assert _alive(pid)
    assert _accepts_connections(port)

    database.stop()

    assert not database.is_running()
    assert not _alive(pid)
    assert not _accepts_connections(port)


async def test_data_written_before_sigkill_is_there_after_restart(
    tmp_path: Path, databases: list[EmbeddedDatabase]
) -> None:
    path = tmp_path / "db"
    first = started_on(path, databases)
    assert first.process is not None
    pid = first.process.pid
    docs = [{"_id": i, "payload": bytes(range(i % 256)) * 10, "n": i * 7} for i in range(50)]
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(first.url)
    try:
        # Journaled, as the service writes: SecantusDB flushes its log only in the background,
        # so a plain w:1 write acknowledged just before a SIGKILL may be lost.
        collection = client["kept"].get_collection("docs", write_concern=WriteConcern(j=True))
        await collection.insert_many(docs)
    finally:
        await client.close()

    first.kill()
    assert not _alive(pid)

    second = started_on(path, databases)
    client = AsyncMongoClient(second.url)
    try:
        found = await client["kept"]["docs"].find({}).sort("_id", 1).to_list()
    finally:
        await client.close()
    assert found == docs


def test_storage_path_that_is_a_file_fails_fast(
    tmp_path: Path, databases: list[EmbeddedDatabase]
) -> None:
    not_a_directory = tmp_path / "occupied"
    not_a_directory.write_text("a file, not a directory")
    database = EmbeddedDatabase(not_a_directory)
    databases.append(database)
    started = time.monotonic()
    with pytest.raises(EmbeddedDatabaseError):
        database.start()
    assert time.monotonic() - started < FAIL_FAST_SECONDS
    assert not database.is_running()


def test_port_in_use_fails_fast_without_leftover_process(
    tmp_path: Path, databases: list[EmbeddedDatabase]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        database = EmbeddedDatabase(tmp_path / "db", port=taken.getsockname()[1])
        databases.append(database)
        started = time.monotonic()
        with pytest.raises(EmbeddedDatabaseError):
            database.start()
        assert time.monotonic() - started < FAIL_FAST_SECONDS
    assert database.process is None


def test_second_server_on_same_storage_is_refused(
    tmp_path: Path, databases: list[EmbeddedDatabase]
) -> None:
    # Two servers on one WiredTiger home would corrupt it: the second must not start.
    first = EmbeddedDatabase(tmp_path / "db")
    databases.append(first)
    first.start()
    second = EmbeddedDatabase(tmp_path / "db")
    databases.append(second)
    with pytest.raises(EmbeddedDatabaseError):
        second.start()
    assert second.process is None
    assert first.is_running()


async def test_committed_transactions_survive_a_sigkill_without_a_journaled_write_after(
    tmp_path: Path, databases: list[EmbeddedDatabase]
) -> None:
    # An upload's ECG document and its owner's count are one transaction. SecantusDB
    # acknowledges a commit before its journal holds it (SIGKILL lost such commits) unless
    # started with --sync-on-commit, as the launcher does: then the acknowledgement is enough.
    path = tmp_path / "db"
    first = started_on(path, databases)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(first.url)
    try:
        ecgs = client["kept"]["ecgs"]
        counts = client["kept"]["counts"]
        await counts.insert_one({"_id": "owner", "total": 0})
        for n in range(40):
            async with (
                client.start_session() as session,
                await session.start_transaction(write_concern=WriteConcern(j=True)),
            ):
                await ecgs.insert_one({"_id": n, "payload": b"x" * 2000}, session=session)
                await counts.update_one({"_id": "owner"}, {"$inc": {"total": 1}}, session=session)
    finally:
        await client.close()
    first.kill()  # at once after the last acknowledgement: nothing else was written

    second = started_on(path, databases)
    client = AsyncMongoClient(second.url)
    try:
        stored = [row["_id"] async for row in client["kept"]["ecgs"].find({}).sort("_id", 1)]
        count = await client["kept"]["counts"].find_one({"_id": "owner"})
    finally:
        await client.close()
    assert stored == list(range(40))
    assert count is not None
    assert count["total"] == 40


async def test_only_a_secantusdb_we_did_not_start_needs_a_write_after_each_commit(
    mongodb_url: str,
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_url)
    try:
        # Started by serve (ours, with --sync-on-commit): commits are durable.
        assert await commits_durable(client, embedded=True)
        # Reached by URL: buildInfo names SecantusDB, which may run without that option.
        assert not await commits_durable(client, embedded=False)
    finally:
        await client.close()

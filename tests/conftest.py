"""Fixtures: one embedded SecantusDB per session, a fresh database and app per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ecg_graphql.db.embedded import EmbeddedDatabase
from tests.harness import Api, RestartableDatabase, running_app, test_settings


@pytest.fixture(scope="session")
def embedded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedDatabase]:
    """The session's throwaway embedded database (test commands on, for fail points)."""
    path: Path = tmp_path_factory.mktemp("secantus")
    database = EmbeddedDatabase(path, extra_args=("--enable-test-commands",))
    database.start()
    yield database
    database.stop()


@pytest.fixture
def mongodb_url(embedded_db: EmbeddedDatabase) -> str:
    """URL of the session's embedded database."""
    return embedded_db.url


@pytest.fixture
async def api(mongodb_url: str) -> AsyncIterator[Api]:
    """The app on a fresh database, reached over HTTP."""
    async with running_app(test_settings(mongodb_url)) as client:
        yield client


@pytest.fixture
async def served(mongodb_url: str) -> AsyncIterator[Api]:
    """Like `api`, but a crash reaches the client as HTTP 500 instead of raising in the test."""
    async with running_app(test_settings(mongodb_url), crash_as_500=True) as client:
        yield client


@pytest.fixture
def own_db(tmp_path: Path) -> Iterator[RestartableDatabase]:
    """A database only this test uses, stopped afterwards whatever happened."""
    database = RestartableDatabase(tmp_path / "db")
    try:
        yield database
    finally:
        database.stop()

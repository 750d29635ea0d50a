"""Browser-test helpers: the app served by a real uvicorn on loopback, and Debian's Chromium
driven by Playwright (never a browser Playwright downloads)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import BrowserContext, Request, sync_playwright
from pymongo import MongoClient

from ecg_graphql.config import Settings
from ecg_graphql.main import create_app

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

# As the machine's notes prescribe: without the background-networking flags Chromium tries to
# reach Google's hosts at start, which this closed network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Skip (with how to enable) where Debian's Chromium is absent; in CI, where .ci/run
    installs it, its absence is a failure rather than a silent skip."""
    if CHROMIUM.exists():
        return
    message = (
        f"browser tests NOT RUN: {CHROMIUM} is missing. Install it with "
        "`apt-get install -y chromium` (as .ci/run does) to run them."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class LiveServer:
    """A uvicorn serving the app in a thread of this process."""

    origin: str
    settings: Settings


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """Serve `create_app(settings)` on a free loopback port until the block ends; drops the
    test's database afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(origin=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        client: MongoClient[dict[str, object]]
        with MongoClient(settings.mongodb_url) as client:
            client.drop_database(settings.database)


@dataclass
class RecordedBrowser:
    """A Chromium context with every request it made, in order."""

    context: BrowserContext
    requests: list[Request] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@contextmanager
def chromium(user_data_dir: Path) -> Iterator[RecordedBrowser]:
    """Debian's Chromium, headless, in a fresh profile; records every request of every page."""
    require_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": 1400, "height": 900},
        )
        recorded = RecordedBrowser(context=context)
        context.on("request", lambda request: recorded.requests.append(request))
        context.on(
            "page",
            lambda page: page.on("console", lambda m: recorded.console.append(m.text)),
        )
        try:
            yield recorded
        finally:
            context.close()


def artifact(name: str) -> Path:
    """Where a test saves a file for people to look at (tests/artifacts/, not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name

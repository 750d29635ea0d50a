"""The command line as an operator uses it: real subprocesses, real signals, real ports."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from ecg_graphql.config import JWT_SECRET_FILE
from ecg_graphql.db.embedded import EmbeddedDatabase
from tests import harness
from tests.harness import LOGIN, ServeProcess, database_children, free_port, running_app

ROOT = Path(__file__).resolve().parents[1]
# DESIGN.md: on Ctrl-C or SIGTERM the process exits within 10 s, even with the database gone.
EXIT_SECONDS = 10.0
START_SECONDS = 60.0
GENERATED_PASSWORD = re.compile(r"First admin created: username 'admin', password '([^']+)'")


def cli_env(**settings: str) -> dict[str, str]:
    """This environment without any ECG_ setting of the caller's, plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ECG_")}
    # One API process (serve's own supervision), whatever the cores: tests/test_api_workers.py
    # runs several.
    env.update({"PYTHONUNBUFFERED": "1", "ECG_BCRYPT_ROUNDS": "4", "ECG_WORKERS": "1", **settings})
    return env


def _state(pid: int) -> str | None:
    """The process state letter, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The state follows the parenthesised command name, which may contain spaces.
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped is not running)."""
    return _state(pid) not in (None, "Z", "X")


def cmdline(pid: int) -> str:
    """The command line of `pid`, or "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


class Serve(ServeProcess):
    """`python -m ecg_graphql serve` as a child process, with the databases it started."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.database_pids: list[int] = []

    def wait_healthy(self, http: httpx.Client) -> None:
        """Block until /health answers 200; fail if the process dies or takes too long."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"serve exited early:\n{self.output}"
            try:
                if http.get(f"{self.base_url}/health").status_code == 200:
                    self.database_pids = database_children(self.process.pid)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"serve did not answer /health in {START_SECONDS} s:\n{self.output}")

    def stop(self, signum: signal.Signals) -> None:
        """Send `signum`; the process must be gone within EXIT_SECONDS."""
        self.process.send_signal(signum)
        try:
            self.process.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running {EXIT_SECONDS} s after {signum.name}:\n{self.output}")
        self._reader.join(timeout=5)

    def cleanup(self) -> None:
        """Kill whatever is left of this run (serve and the database it started)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pid in self.database_pids:
            if alive(pid) and "secantus" in cmdline(pid):
                os.kill(pid, signal.SIGKILL)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def serving(env: dict[str, str], http: httpx.Client) -> Iterator[Serve]:
    """A serve process, healthy, always killed afterwards."""
    serve = Serve(env)
    try:
        serve.wait_healthy(http)
        yield serve
    finally:
        serve.cleanup()


def gql(
    http: httpx.Client,
    serve: Serve,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """POST a GraphQL operation over real HTTP; the JSON body."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = http.post(
        f"{serve.base_url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def login(http: httpx.Client, serve: Serve, username: str, password: str) -> dict[str, Any]:
    """The login result (any union member)."""
    body = gql(http, serve, LOGIN, {"u": username, "p": password})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["login"]
    return result


def assert_stopped_cleanly(serve: Serve, signum: signal.Signals) -> None:
    """Exit within the bound, and the database it started did not outlive it."""
    serve.stop(signum)
    left = [pid for pid in serve.database_pids if alive(pid)]
    assert not left, f"database process {left} outlived serve after {signum.name}"


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client with short timeouts."""
    with httpx.Client(timeout=10.0) as client:
        yield client


def test_export_schema_prints_the_committed_sdl() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ecg_graphql", "export-schema"],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "type Query" in completed.stdout
    assert completed.stdout.strip() == (ROOT / "schema.graphql").read_text().strip()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_runs_its_database_and_keeps_data_across_restarts(
    tmp_path: Path, http: httpx.Client, signum: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    env = cli_env(ECG_DATA_DIR=str(data_dir), ECG_PORT=str(free_port()))

    with serving(env, http) as first:
        assert len(first.database_pids) == 1, first.output
        assert str(data_dir) in cmdline(first.database_pids[0])
        graphiql = http.get(f"{first.base_url}/graphql", headers={"accept": "text/html"})
        assert graphiql.status_code == 200, graphiql.text
        assert "graphiql" in graphiql.text.lower()
        passwords = GENERATED_PASSWORD.findall(first.output)
        assert len(passwords) == 1, first.output
        password = passwords[0]
        payload = login(http, first, "admin", password)
        assert payload["__typename"] == "AuthPayload", payload
        assert payload["user"]["role"] == "ADMIN"
        access_token = payload["accessToken"]
        secret = (data_dir / JWT_SECRET_FILE).read_text()
        assert_stopped_cleanly(first, signum)
        # Printed once: on the console at creation, nowhere else (no log line repeats it).
        assert first.output.count(password) == 1, first.output

    env["ECG_PORT"] = str(free_port())
    with serving(env, http) as second:
        assert len(second.database_pids) == 1, second.output
        assert "First admin created" not in second.output
        assert login(http, second, "admin", password)["__typename"] == "AuthPayload"
        # The secret kept in ECG_DATA_DIR is reused: run 1's token still signs run 2 in.
        me = gql(http, second, "{ me { username role } }", token=access_token)
        assert me == {"data": {"me": {"username": "admin", "role": "ADMIN"}}}
        assert (data_dir / JWT_SECRET_FILE).read_text() == secret
        assert_stopped_cleanly(second, signum)
        assert password not in second.output


def test_serve_exits_when_its_database_was_killed_first(tmp_path: Path, http: httpx.Client) -> None:
    env = cli_env(ECG_DATA_DIR=str(tmp_path / "data"), ECG_PORT=str(free_port()))
    with serving(env, http) as serve:
        assert len(serve.database_pids) == 1, serve.output
        os.kill(serve.database_pids[0], signal.SIGKILL)
        ready = http.get(f"{serve.base_url}/ready")
        assert ready.status_code == 503, (ready.text, serve.output)
        health = http.get(f"{serve.base_url}/health")
        assert health.status_code == 200, (health.text, serve.output)
        serve.stop(signal.SIGTERM)


def test_double_ctrl_c_still_shuts_down_in_order(tmp_path: Path, http: httpx.Client) -> None:
    # An impatient user presses Ctrl-C twice: the app still shuts down (no forced quit
    # with a traceback in the log), then the database, all within the bound.
    env = cli_env(ECG_DATA_DIR=str(tmp_path / "data"), ECG_PORT=str(free_port()))
    with serving(env, http) as serve:
        serve.process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        assert_stopped_cleanly(serve, signal.SIGINT)
        assert "Application shutdown complete" in serve.output, serve.output
        assert "Traceback" not in serve.output, serve.output
        assert not (tmp_path / "data" / "embedded-url").exists()


def test_serve_with_mongodb_url_starts_no_database(
    tmp_path: Path, http: httpx.Client, embedded_db: EmbeddedDatabase
) -> None:
    database = f"cli_{uuid.uuid4().hex[:12]}"
    env = cli_env(
        ECG_DATA_DIR=str(tmp_path / "data"),
        ECG_PORT=str(free_port()),
        ECG_MONGODB_URL=embedded_db.url,
        ECG_DATABASE=database,
        ECG_ADMIN_USERNAME="ops-admin",
        ECG_ADMIN_PASSWORD="ops-password-1",
    )
    mongo: MongoClient[dict[str, Any]] = MongoClient(embedded_db.url)
    try:
        with serving(env, http) as serve:
            secantus = database_children(serve.process.pid)
            assert secantus == [], [cmdline(p) for p in secantus]
            ready = http.get(f"{serve.base_url}/ready")
            assert ready.status_code == 200, (ready.text, serve.output)
            assert login(http, serve, "ops-admin", "ops-password-1")["__typename"] == "AuthPayload"
            serve.stop(signal.SIGTERM)
        # It used the database at ECG_MONGODB_URL.
        assert database in mongo.list_database_names(), serve.output
    finally:
        mongo.drop_database(database)
        mongo.close()


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `python -m ecg_graphql ARGS`, bounded; its exit code and combined output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ecg_graphql",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), START_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_create_admin_creates_once_and_never_overwrites(
    tmp_path: Path, mongodb_url: str
) -> None:
    database = f"cli_{uuid.uuid4().hex[:12]}"
    common = {
        "ECG_DATA_DIR": str(tmp_path / "data"),
        "ECG_MONGODB_URL": mongodb_url,
        "ECG_DATABASE": database,
        "ECG_ADMIN_USERNAME": "ops-admin",
    }
    code, output = await run_cli(
        "create-admin", env=cli_env(**common, ECG_ADMIN_PASSWORD="first-password-1")
    )
    assert code == 0, output
    assert "first-password-1" not in output
    code, output = await run_cli(
        "create-admin", env=cli_env(**common, ECG_ADMIN_PASSWORD="second-password-2")
    )
    assert code == 0, output
    assert "second-password-2" not in output

    async with running_app(harness.test_settings(mongodb_url, database=database)) as api:
        payload = await api.login("ops-admin", "first-password-1")
        assert payload["user"]["role"] == "ADMIN"
        second = await api.gql(LOGIN, {"u": "ops-admin", "p": "second-password-2"})
        assert second["data"]["login"]["__typename"] == "InvalidCredentialsError", second

"""`serve` with ECG_WORKERS=2: two API processes behind one port, one embedded database
supervised by the parent. Real processes, real signals, a real database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from ecg_graphql.config import Settings, usable_cpus
from tests.harness import UPLOAD, children, database_children, free_port
from tests.test_cli import EXIT_SECONDS, GENERATED_PASSWORD, ROOT, alive, cli_env
from tests.test_cli import serving as cli_serving
from tests.test_supervision import START_SECONDS, Client, Serve, serving, wait_for_exit

WORKERS = 2
LIST = "{ ecgs(first: 50) { totalCount edges { node { id } } } }"
# Bounds against hanging, not timings: rounds of concurrent requests until both workers
# have answered (the kernel hands each new connection to whichever worker accepts first).
MAX_ROUNDS = 60
CONCURRENT = 8


def worker_pids(serve_pid: int) -> list[int]:
    """Live uvicorn worker processes (multiprocessing spawns) of `serve_pid`."""
    return children(serve_pid, b"spawn_main")


class Workers:
    """Requests over fresh connections, each tagged with an X-Request-ID so the audit line
    of the worker that answered it (every log line carries its pid) can be found."""

    def __init__(self, api: Client) -> None:
        self.api = api
        self.serve = api.serve
        self.http = httpx.AsyncClient(
            base_url=api.serve.base_url,
            timeout=30,
            limits=httpx.Limits(max_keepalive_connections=0),  # a new connection each time
        )

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> tuple[str, Any]:
        """The request id and the data of one GraphQL operation."""
        request_id = uuid.uuid4().hex
        headers = {"x-request-id": request_id}
        if self.api.token is not None:
            headers["authorization"] = f"Bearer {self.api.token}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, (response.text, self.serve.output)
        body = response.json()
        assert "errors" not in body, body
        return request_id, body["data"]

    async def pid_of(self, request_id: str) -> int:
        """The pid of the process that answered `request_id` (its audit line may lag)."""
        for _ in range(200):
            for record in self.serve.records():
                if record.get("request_id") == request_id and record.get("path") == "/graphql":
                    pid: int = record["pid"]
                    return pid
            await asyncio.sleep(0.05)
        pytest.fail(f"no audit line for request {request_id}:\n{self.serve.output}")

    async def listings(self) -> list[tuple[int, list[str]]]:
        """One round of concurrent listings: (answering pid, ids listed) each."""
        answers = await asyncio.gather(*(self.post(LIST) for _ in range(CONCURRENT)))
        result = []
        for request_id, data in answers:
            ids = [edge["node"]["id"] for edge in data["ecgs"]["edges"]]
            assert data["ecgs"]["totalCount"] == len(ids)
            result.append((await self.pid_of(request_id), ids))
        return result

    async def close(self) -> None:
        await self.http.aclose()


def upload_input(ecg_id: str, day: int) -> dict[str, Any]:
    leads = [{"name": "I", "signal": [1, -1, 2, -2]}, {"name": "II", "signal": [0, 3, -3, 0]}]
    return {"id": ecg_id, "date": f"2024-05-{day:02d}T08:00:00Z", "leads": leads}


async def test_two_workers_answer_and_each_lists_what_the_other_stored(tmp_path: Path) -> None:
    async with serving(tmp_path / "data", ECG_WORKERS=str(WORKERS)) as api:
        serve = api.serve
        pids = worker_pids(serve.process.pid)
        assert len(pids) == WORKERS, (pids, serve.output)
        assert len(database_children(serve.process.pid)) == 1, serve.output
        for pid in pids:  # no worker started a database of its own
            assert database_children(pid) == [], serve.output
        assert await api.status("/ready") == 200
        await api.sign_in(create=True)
        workers = Workers(api)
        try:
            stored: set[str] = set()
            # (uploading pid, listing pid) pairs in which every listing showed the upload.
            crossed: set[tuple[int, int]] = set()
            answered: set[int] = set()
            for round_number in range(1, MAX_ROUNDS + 1):
                ecg_id = f"w-{round_number}"
                request_id, data = await workers.post(
                    UPLOAD, {"input": upload_input(ecg_id, round_number % 28 + 1)}
                )
                assert data["uploadEcg"]["__typename"] == "Ecg", data
                uploader = await workers.pid_of(request_id)
                stored.add(ecg_id)
                for pid, ids in await workers.listings():
                    # The kept page of either process is never stale.
                    assert set(ids) == stored, (round_number, pid, ids)
                    assert len(ids) == len(stored), (round_number, pid, ids)
                    answered.add(pid)
                    crossed.add((uploader, pid))
                if answered == set(pids) and any(a != b for a, b in crossed):
                    break
            assert answered == set(pids), (answered, pids)
            # An upload answered by one worker was listed by the other one right after.
            assert any(a != b for a, b in crossed), crossed
        finally:
            await workers.close()


async def wait_ready_on_both(workers: Workers, pids: list[int], expected: list[str]) -> None:
    """Until both workers have listed `expected` again (after a restart of the database)."""
    seen: set[int] = set()
    for _ in range(MAX_ROUNDS * 4):
        try:
            round_ = await workers.listings()
        except AssertionError:  # an answer of a worker still reconnecting: "unavailable"
            await asyncio.sleep(0.2)
            continue
        except httpx.TransportError:
            # A pooled keep-alive connection the worker closed while the database was down
            # (uvicorn closes idle ones after 5 s) races the client's reuse of it.
            await asyncio.sleep(0.2)
            continue
        for pid, ids in round_:
            assert sorted(ids) == sorted(expected), (pid, ids)
            seen.add(pid)
        if seen == set(pids):
            return
    pytest.fail(f"workers {set(pids) - seen} never answered again:\n{workers.serve.output}")


async def test_the_parent_restarts_the_database_for_both_workers_then_gives_up(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path / "data", ECG_WORKERS=str(WORKERS)) as api:
        serve = api.serve
        pids = worker_pids(serve.process.pid)
        assert len(pids) == WORKERS, (pids, serve.output)
        await api.sign_in(create=True)
        workers = Workers(api)
        try:
            _, data = await workers.post(UPLOAD, {"input": upload_input("kept", 1)})
            assert data["uploadEcg"]["__typename"] == "Ecg", data
            first_url = (tmp_path / "data" / "embedded-url").read_text()
            serve.kill_database()
            # Both workers follow the restarted database (it listens on a new port).
            await wait_ready_on_both(workers, pids, ["kept"])
            assert (tmp_path / "data" / "embedded-url").read_text() != first_url
            assert worker_pids(serve.process.pid) == pids, serve.output  # no worker replaced
            assert await api.status("/health") == 200
        finally:
            await workers.close()

        killed = serve.kill_database()
        deadline = time.monotonic() + START_SECONDS
        while database_children(serve.process.pid) in ([], [killed]):  # not restarted yet
            assert time.monotonic() < deadline, serve.output
            await asyncio.sleep(0.1)
        serve.kill_database()
        code = await wait_for_exit(serve, 60)
        assert code == 1, serve.output
        assert "embedded database failed 3 times within 60 s" in serve.output, serve.output
        assert "ecg-graphql stopped:" in serve.output, serve.output
        assert "Traceback" not in serve.output, serve.output
        assert not [pid for pid in pids if alive(pid)], serve.output
        assert database_children(serve.process.pid) == []


@pytest.mark.parametrize(
    "signals", [["SIGTERM"], ["SIGINT", "SIGINT"]], ids=["SIGTERM", "2xSIGINT"]
)
async def test_a_signal_stops_the_workers_then_the_database(
    tmp_path: Path, signals: list[str]
) -> None:
    data_dir = tmp_path / "data"
    async with serving(data_dir, ECG_WORKERS=str(WORKERS)) as api:
        serve = api.serve
        pids = worker_pids(serve.process.pid)
        assert len(pids) == WORKERS, (pids, serve.output)
        database = serve.database_pid()
        assert (data_dir / "embedded-url").exists()
        for name in signals:
            serve.process.send_signal(signal.Signals[name])
            await asyncio.sleep(0.2)
        code = await wait_for_exit(serve, EXIT_SECONDS)
        assert code == 0, serve.output
        left = [pid for pid in [*pids, database] if alive(pid)]
        assert not left, f"{left} outlived serve:\n{serve.output}"
        # Each worker shut its application down (the second Ctrl-C forced nothing).
        assert serve.output.count("Application shutdown complete") == WORKERS, serve.output
        assert "Traceback" not in serve.output, serve.output
        assert not (data_dir / "embedded-url").exists()


def test_two_workers_print_the_generated_admin_password_once(tmp_path: Path) -> None:
    # No ECG_ADMIN_*: the first worker to start creates `admin`; the other finds it.
    data_dir = tmp_path / "data"
    env = cli_env(ECG_DATA_DIR=str(data_dir), ECG_PORT=str(free_port()), ECG_WORKERS="2")

    with httpx.Client(timeout=10.0) as http, cli_serving(env, http) as serve:
        # Both workers have started (each logs it) before the output is judged.
        deadline = time.monotonic() + START_SECONDS
        while serve.output.count("Application startup complete") < WORKERS:
            assert time.monotonic() < deadline, serve.output
            time.sleep(0.1)
        passwords = GENERATED_PASSWORD.findall(serve.output)
        assert len(passwords) == 1, serve.output
        serve.stop(signal.SIGTERM)
        assert serve.output.count(passwords[0]) == 1, serve.output


@pytest.mark.parametrize("value", ["0", "abc", "65"])
def test_a_bad_worker_count_is_a_clear_error(tmp_path: Path, value: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ecg_graphql", "serve"],
        cwd=ROOT,
        env=cli_env(ECG_DATA_DIR=str(tmp_path / "data"), ECG_WORKERS=value),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed
    assert "ECG_WORKERS" in completed.stderr, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    assert not (tmp_path / "data").exists()  # nothing started


def test_workers_default_to_the_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ECG_"):
            monkeypatch.delenv(key)
    assert Settings().workers == min(usable_cpus(), 64)
    assert usable_cpus() == len(os.sched_getaffinity(0))


async def test_a_worker_that_cannot_start_stops_serve_non_zero(tmp_path: Path) -> None:
    # The same in every worker (restarting would not help): serve stops, exit status 1.
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "jwt-secret").write_text("short")
    serve = Serve(data_dir, ECG_WORKERS=str(WORKERS))
    try:
        code = await wait_for_exit(serve, START_SECONDS)
        assert code == 1, serve.output
        assert "API worker failed to start" in serve.output, serve.output
        assert "ecg-graphql stopped: an API worker process failed to start" in serve.output
        assert "Traceback" not in serve.output, serve.output
        assert database_children(serve.process.pid) == []
        assert not (data_dir / "embedded-url").exists()
    finally:
        serve.cleanup()

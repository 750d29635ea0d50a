"""`serve` supervises its embedded database: real processes, real SIGKILLs, a real full disk.

Each test runs `python -m ecg_graphql serve` as an operator would, with its own data
directory, and talks to it over real HTTP. The acceptance figures (time to ready after a
kill, uploads acknowledged and found) are printed; run with `-s` to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import LOGIN, UPLOAD, ServeProcess, database_children, free_port

ROOT = Path(__file__).resolve().parents[1]
ADMIN = ("ops-admin", "ops-password-1")
USER = ("trickle", "password-123")
# The bound: ready again this soon after the database was SIGKILLed.
READY_AFTER_KILL_SECONDS = 10.0
# Liveness bounds of the test itself (not acceptance figures): start-up, and how long a
# request may hang (an upload caught by the kill waits at most twice the database timeout).
START_SECONDS = 60.0
REQUEST_SECONDS = 20.0
GIVE_UP_SECONDS = 60.0
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INSUFFICIENT_STORAGE = "INSUFFICIENT_STORAGE"

CREATE_USER = """
mutation C($input: CreateUserInput!) { createUser(input: $input) { __typename } }
"""
READ_ECG = "query R($id: ID!) { ecg(id: $id) { id leads { name signal } } }"
LIST_IDS = """
query L($after: String) {
  ecgs(first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } }
}
"""








class Serve(ServeProcess):
    """`python -m ecg_graphql serve` as a child process, its output collected as it comes."""

    def __init__(self, data_dir: Path, **settings: str) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("ECG_")}
        env.update(
            PYTHONUNBUFFERED="1",
            ECG_BCRYPT_ROUNDS="4",
            ECG_DATA_DIR=str(data_dir),
            ECG_PORT=str(free_port()),
            ECG_ADMIN_USERNAME=ADMIN[0],
            ECG_ADMIN_PASSWORD=ADMIN[1],
        )
        # One API process unless told (tests/test_api_workers.py runs several).
        env.update({"ECG_WORKERS": "1", **settings})
        super().__init__(env)
        self.seen_database_pids: set[int] = set()

    @property
    def output(self) -> str:
        """Everything it printed so far (stdout and stderr), audit lines left out."""
        return "".join(line for line in self.lines if '"ecg_graphql.audit"' not in line)

    def database_pid(self) -> int:
        """The one embedded database it runs now."""
        pids = database_children(self.process.pid)
        assert len(pids) == 1, (pids, self.output)
        self.seen_database_pids.add(pids[0])
        return pids[0]

    def kill_database(self) -> int:
        """SIGKILL its embedded database, as the OOM killer would; the pid killed."""
        pid = self.database_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def cleanup(self) -> None:
        """Kill whatever is left of this run (serve and every database it started)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pid in self.seen_database_pids | set(database_children(self.process.pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Client:
    """GraphQL over real HTTP against one Serve."""

    def __init__(self, serve: Serve, http: httpx.AsyncClient) -> None:
        self.serve = serve
        self.http = http
        self.token: str | None = None

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        """POST an operation with the user's token; bounded so a hang fails the test."""
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        return await asyncio.wait_for(
            self.http.post(
                f"{self.serve.base_url}/graphql",
                json={"query": query, "variables": variables or {}},
                headers=headers,
            ),
            REQUEST_SECONDS,
        )

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a successful operation."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def status(self, path: str) -> int:
        """The HTTP status of GET `path`."""
        response = await asyncio.wait_for(
            self.http.get(f"{self.serve.base_url}{path}"), REQUEST_SECONDS
        )
        return response.status_code

    async def wait_started(self) -> None:
        """Until /ready answers 200; fails if serve exits or takes too long."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.serve.process.poll() is None, f"serve exited:\n{self.serve.output}"
            with contextlib.suppress(httpx.TransportError):
                if await self.status("/ready") == 200:
                    self.serve.database_pid()
                    return
            await asyncio.sleep(0.1)
        pytest.fail(f"serve was not ready within {START_SECONDS} s:\n{self.serve.output}")

    async def sign_in(self, *, create: bool) -> None:
        """Log in as the test user (registered by the admin first when `create`)."""
        self.token = None
        if create:
            admin = await self.data(LOGIN, {"u": ADMIN[0], "p": ADMIN[1]})
            self.token = admin["login"]["accessToken"]
            created = await self.data(
                CREATE_USER, {"input": {"username": USER[0], "password": USER[1]}}
            )
            assert created["createUser"]["__typename"] == "User", created
            self.token = None
        login = await self.data(LOGIN, {"u": USER[0], "p": USER[1]})
        self.token = login["login"]["accessToken"]

    async def listed_ids(self) -> list[str]:
        """Every ECG id the user can list, page by page."""
        ids: list[str] = []
        after: str | None = None
        while True:
            page = (await self.data(LIST_IDS, {"after": after}))["ecgs"]
            ids.extend(edge["node"]["id"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                return ids
            after = page["pageInfo"]["endCursor"]

    async def assert_complete(self, sent: dict[str, Any]) -> None:
        """The stored ECG equals the upload, sample for sample."""
        stored = (await self.data(READ_ECG, {"id": sent["id"]}))["ecg"]
        assert stored is not None, sent["id"]
        expected = [(lead["name"], lead["signal"]) for lead in sent["leads"]]
        assert [(lead["name"], lead["signal"]) for lead in stored["leads"]] == expected, sent["id"]


def random_ecg(rng: random.Random, ecg_id: str, *, leads: int, length: int) -> dict[str, Any]:
    """An upload of `leads` leads of `length` samples, some needing int32."""
    names = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

    def sample() -> int:
        return rng.randint(-100_000, 100_000) if rng.random() < 0.05 else rng.randint(-3000, 3000)

    return {
        "id": ecg_id,
        "date": "2024-05-01T10:00:00Z",
        "samplingRate": 500.0,
        "leads": [
            {"name": names[i], "signal": [sample() for _ in range(length)]} for i in range(leads)
        ],
    }


def error_codes(response: httpx.Response) -> list[str | None]:
    """The extensions.code of each top-level error of a GraphQL response."""
    assert response.status_code == 200, response.text
    errors = response.json().get("errors") or []
    return [error.get("extensions", {}).get("code") for error in errors]


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **settings: str) -> AsyncIterator[Client]:
    """A started serve process and a client of it; always killed afterwards."""
    serve = Serve(data_dir, **settings)
    try:
        async with httpx.AsyncClient(timeout=REQUEST_SECONDS) as http:
            client = Client(serve, http)
            await client.wait_started()
            yield client
    finally:
        serve.cleanup()


async def wait_for_exit(serve: Serve, seconds: float) -> int:
    """The exit status of serve, which must exit within `seconds`."""
    deadline = time.monotonic() + seconds
    while serve.process.poll() is None:
        assert time.monotonic() < deadline, f"serve still running:\n{serve.output}"
        await asyncio.sleep(0.1)
    return serve.process.returncode


async def test_sigkill_under_a_trickle_of_uploads_loses_no_acknowledged_upload(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path / "data") as api:
        await api.sign_in(create=True)
        serve_pid = api.serve.process.pid
        rng = random.Random(1111)  # noqa: S311  (seeded test data, not a secret)
        sent: dict[str, dict[str, Any]] = {}
        acknowledged: list[str] = []
        failed: dict[str, list[str | None]] = {}
        stop = asyncio.Event()

        async def trickle() -> None:
            # One upload at a time, back to back: the steady load of a ward of devices.
            number = 0
            while not stop.is_set():
                ecg = random_ecg(rng, f"t-{number}", leads=3, length=rng.randint(200, 2500))
                number += 1
                sent[ecg["id"]] = ecg
                response = await api.post(UPLOAD, {"input": ecg})
                body = response.json()
                result = (body.get("data") or {}).get("uploadEcg")
                if result is not None:
                    assert result["__typename"] == "Ecg", body
                    acknowledged.append(ecg["id"])
                else:
                    failed[ecg["id"]] = error_codes(response)
                await asyncio.sleep(0.02)

        task = asyncio.create_task(trickle())
        try:
            while len(acknowledged) < 15:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
            killed = api.serve.kill_database()
            killed_at = time.monotonic()
            while await api.status("/ready") != 200:
                assert time.monotonic() - killed_at < READY_AFTER_KILL_SECONDS, api.serve.output
                await asyncio.sleep(0.05)
            time_to_ready = time.monotonic() - killed_at
            before_kill_and_outage = len(acknowledged)
            # The trickle goes on against the restarted database.
            while len(acknowledged) < before_kill_and_outage + 15:
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task

        # The service itself never restarted.
        assert api.serve.process.pid == serve_pid
        assert api.serve.process.poll() is None
        assert api.serve.database_pid() != killed
        assert "embedded database restarted on port" in api.serve.output, api.serve.output
        # The trickle's token outlived the restart (same secret, same users); reads work.
        visible = await api.listed_ids()
        assert len(visible) == len(set(visible))
        assert set(visible) <= set(sent)
        missing = set(acknowledged) - set(visible)
        assert not missing, f"acknowledged uploads lost: {sorted(missing)}"
        for ecg_id in visible:
            await api.assert_complete(sent[ecg_id])
        # Unacknowledged: failed with the clear code; visible (complete, checked above) or not.
        for ecg_id, codes in failed.items():
            assert codes, ecg_id
            assert all(code == SERVICE_UNAVAILABLE for code in codes), (ecg_id, codes)
        print(
            f"\nkill under trickle: ready {time_to_ready:.2f} s after SIGKILL; "
            f"{len(acknowledged)} uploads acknowledged, all {len(acknowledged)} found complete; "
            f"{len(failed)} failed with {SERVICE_UNAVAILABLE} "
            f"({len(set(failed) & set(visible))} of them stored complete)"
        )


async def test_three_kills_within_a_minute_stop_the_service_non_zero(tmp_path: Path) -> None:
    # A short database timeout, so that /health turns unhealthy during one restart.
    async with serving(tmp_path / "data", ECG_DATABASE_TIMEOUT_SECONDS="0.5") as api:
        serve = api.serve
        assert await api.status("/health") == 200
        statuses: list[int] = []
        recovered = asyncio.Event()

        async def watch_health() -> None:
            # Liveness sampled on its own, so a slow readiness probe cannot hide a 503.
            while not recovered.is_set():
                statuses.append(await api.status("/health"))
                await asyncio.sleep(0.02)

        for kill in (1, 2):
            recovered.clear()
            watcher = asyncio.create_task(watch_health())
            serve.kill_database()
            deadline = time.monotonic() + START_SECONDS
            while (status := await api.status("/ready")) != 200:
                assert time.monotonic() < deadline, serve.output
                await asyncio.sleep(0.05)
            recovered.set()
            await watcher
            assert serve.process.poll() is None, (kill, serve.output)
            assert status == 200
        # Restarting took longer than the database timeout: liveness said so, then recovered.
        assert 503 in statuses, statuses
        assert await api.status("/health") == 200

        serve.kill_database()
        code = await wait_for_exit(serve, GIVE_UP_SECONDS)
        assert code != 0, serve.output
        assert "embedded database failed 3 times within 60 s" in serve.output, serve.output
        assert "ecg-graphql stopped:" in serve.output, serve.output
        assert "Traceback" not in serve.output, serve.output
        assert database_children(serve.process.pid) == []


MOUNT_BYTES = 96 * 1024 * 1024
RESERVE_MB = 16


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 MiB tmpfs of its own, unmounted afterwards; skipped where mounting is refused."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("no mount/umount command here: the full-disk test needs a tmpfs it can fill")
    mounted = subprocess.run(  # noqa: S603  (fixed argv, no shell)
        [mount, "-t", "tmpfs", "-o", f"size={MOUNT_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a tmpfs here (the full-disk test needs root or CAP_SYS_ADMIN): "
            + mounted.stderr.strip()
        )
    try:
        yield mount_point
    finally:
        # A process that just exited may still hold files for a moment.
        for _ in range(50):
            done = subprocess.run(  # noqa: S603  (fixed argv, no shell)
                [umount, str(mount_point)], capture_output=True, check=False
            )
            if done.returncode == 0:
                break
            time.sleep(0.2)
        else:
            subprocess.run([umount, "-l", str(mount_point)], check=False)  # noqa: S603


def fill(path: Path, leave_bytes: int) -> None:
    """Write a ballast file at `path` until only `leave_bytes` stay free on its disk."""
    stats = os.statvfs(path.parent)
    size = stats.f_bavail * stats.f_frsize - leave_bytes
    assert size > 0, "the disk is already fuller than asked"
    with path.open("wb") as ballast:
        block = bytes(1024 * 1024)
        while size > 0:
            ballast.write(block[: min(size, len(block))])
            size -= len(block)


async def test_full_disk_refuses_uploads_keeps_reads_and_recovers_when_freed(
    small_disk: Path,
) -> None:
    data_dir = small_disk / "data"
    ballast = small_disk / "ballast"
    rng = random.Random(2222)  # noqa: S311  (seeded test data, not a secret)
    stored: list[dict[str, Any]] = []
    async with serving(data_dir, ECG_DISK_RESERVE_MB=str(RESERVE_MB)) as api:
        await api.sign_in(create=True)
        for number in range(5):
            ecg = random_ecg(rng, f"before-{number}", leads=12, length=2000)
            assert (await api.data(UPLOAD, {"input": ecg}))["uploadEcg"]["__typename"] == "Ecg"
            stored.append(ecg)
        database = api.serve.database_pid()

        # Something else fills the disk until just above the reserve; uploads fill the rest.
        fill(ballast, leave_bytes=(RESERVE_MB + 3) * 1024 * 1024)
        refused: dict[str, Any] | None = None
        for number in range(200):
            ecg = random_ecg(rng, f"late-{number}", leads=12, length=2000)
            response = await api.post(UPLOAD, {"input": ecg})
            codes = error_codes(response)
            if codes:
                assert codes == [INSUFFICIENT_STORAGE], response.text
                assert response.json()["data"] is None, response.text
                assert "disk" in response.json()["errors"][0]["message"], response.text
                refused = ecg
                break
            assert response.json()["data"]["uploadEcg"]["__typename"] == "Ecg", response.text
            stored.append(ecg)
        assert refused is not None, "the disk never counted as full"
        # Refused again while full, and nothing of it is stored.
        assert error_codes(await api.post(UPLOAD, {"input": refused})) == [INSUFFICIENT_STORAGE]
        assert (await api.data(READ_ECG, {"id": refused["id"]}))["ecg"] is None
        # Reads, logins and readiness go on; the database never reached ENOSPC.
        assert sorted(await api.listed_ids()) == sorted(ecg["id"] for ecg in stored)
        for ecg in stored:
            await api.assert_complete(ecg)
        await api.sign_in(create=False)
        assert await api.status("/ready") == 200
        assert await api.status("/health") == 200
        assert api.serve.database_pid() == database, api.serve.output

        ballast.unlink()
        # Writes work again at once, with no restart of anything.
        assert (await api.data(UPLOAD, {"input": refused}))["uploadEcg"]["__typename"] == "Ecg"
        stored.append(refused)
        await api.assert_complete(refused)
        assert api.serve.database_pid() == database, api.serve.output
        assert "embedded database stopped unexpectedly" not in api.serve.output
        api.serve.process.send_signal(signal.SIGTERM)
        assert await wait_for_exit(api.serve, 20) == 0, api.serve.output

    # The database files are intact: a new run on them reads everything back.
    async with serving(data_dir, ECG_DISK_RESERVE_MB=str(RESERVE_MB)) as api:
        await api.sign_in(create=False)
        assert sorted(await api.listed_ids()) == sorted(ecg["id"] for ecg in stored)
        for ecg in stored:
            await api.assert_complete(ecg)
        print(f"\nfull disk: {len(stored)} ECGs stored, refused at the reserve, all read back")

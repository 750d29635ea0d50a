"""Test harness: the real app over HTTP (httpx + ASGITransport, lifespan run) on a real database."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import scipy.signal
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from ecg_graphql.config import Settings
from ecg_graphql.db.embedded import EmbeddedDatabase
from ecg_graphql.insights.signals import EcgSignal, LeadSignal
from ecg_graphql.main import create_app

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
ADMIN_USERNAME = "root-admin"
ADMIN_PASSWORD = "admin-password-1"
JWT_SECRET = "test-secret-" + "x" * 40
PASSWORD = "password-123"
STORED = ("users", "ecgs", "signal_chunks", "refresh_tokens")
STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def test_settings(mongodb_url: str, **overrides: Any) -> Settings:
    """Settings for one test: its own database, fast bcrypt, a known admin."""
    values: dict[str, Any] = {
        "mongodb_url": mongodb_url,
        "database": f"t_{uuid.uuid4().hex[:16]}",
        "jwt_secret": JWT_SECRET,
        "bcrypt_rounds": 4,
        "admin_username": ADMIN_USERNAME,
        "admin_password": ADMIN_PASSWORD,
        "database_timeout_seconds": 3.0,
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test


@dataclass
class Api:
    """A GraphQL client of the app under test."""

    http: httpx.AsyncClient
    settings: Settings
    app: FastAPI
    tokens: dict[str, str] = field(default_factory=dict)

    async def counts(self) -> dict[str, int]:
        """How many documents each collection of the test's database holds."""
        client: AsyncMongoClient[dict[str, Any]] = self.app.state.mongo_client
        database = client[self.settings.database]
        return {name: await database[name].count_documents({}) for name in STORED}

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a GraphQL operation; returns the raw HTTP response."""
        all_headers = {"content-type": "application/json", **(headers or {})}
        if token is not None:
            all_headers["authorization"] = f"Bearer {token}"
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.http.post("/graphql", content=json.dumps(body), headers=all_headers)

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST a GraphQL operation; returns the JSON body (asserting HTTP 200)."""
        response = await self.post(query, variables, token=token, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """The AuthPayload of a successful login."""
        body = await self.gql(LOGIN, {"u": username, "p": password})
        payload: dict[str, Any] = body["data"]["login"]
        assert payload["__typename"] == "AuthPayload", body
        return payload

    async def admin_token(self) -> str:
        """An access token of the bootstrap admin."""
        if "admin" not in self.tokens:
            self.tokens["admin"] = (await self.login(ADMIN_USERNAME, ADMIN_PASSWORD))["accessToken"]
        return self.tokens["admin"]

    async def create_user(
        self, username: str, password: str = "password-123", role: str = "USER"
    ) -> str:
        """Register a user as the admin; returns its id."""
        body = await self.gql(
            CREATE_USER,
            {"input": {"username": username, "password": password, "role": role}},
            token=await self.admin_token(),
        )
        result = body["data"]["createUser"]
        assert result["__typename"] == "User", body
        return str(result["id"])

    async def sign_in(self, username: str, password: str = PASSWORD) -> dict[str, Any]:
        """Register a USER and log in; the AuthPayload."""
        await self.create_user(username, password)
        return await self.login(username, password)

    async def user_token(self, username: str = "alice", password: str = PASSWORD) -> str:
        """An access token of a USER, registered on first use."""
        if username not in self.tokens:
            self.tokens[username] = (await self.sign_in(username, password))["accessToken"]
        return self.tokens[username]

    async def all_nodes(self, query: str, connection: str, token: str) -> list[dict[str, Any]]:
        """Every node of a paginated connection, following `endCursor` page by page.

        `query` takes `$after` and selects `edges { node }` and `pageInfo`; when it also
        selects `totalCount`, the total must equal what the pages held.
        """
        nodes: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            body = await self.gql(query, {"after": after}, token=token)
            assert "errors" not in body, body
            page = body["data"][connection]
            nodes.extend(edge["node"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                if "totalCount" in page:
                    assert page["totalCount"] == len(nodes), page["totalCount"]
                return nodes
            after = page["pageInfo"]["endCursor"]

    async def upload(self, ecg: dict[str, Any], token: str, query: str = "") -> dict[str, Any]:
        """The uploadEcg result for `ecg` (any union member), selected by `query`."""
        body = await self.gql(query or UPLOAD, {"input": ecg}, token=token)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["uploadEcg"]
        return result

    async def uploaded(
        self, ecg: dict[str, Any], token: str | None = None, query: str = ""
    ) -> dict[str, Any]:
        """The stored Ecg of a successful upload (the test fails otherwise)."""
        result = await self.upload(ecg, token or await self.user_token(), query)
        assert result["__typename"] == "Ecg", result
        return result


@asynccontextmanager
async def running_app(settings: Settings, *, crash_as_500: bool = False) -> AsyncIterator[Api]:
    """The app with its lifespan run, and a client speaking HTTP to it; drops the database after.

    With `crash_as_500`, a crash is answered with HTTP 500 as a real server would (instead of
    raising into the test), so hostile requests are judged by what a client receives.
    """
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=not crash_as_500, client=("203.0.113.7", 40000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Api(http=http, settings=settings, app=app)
        await app.state.mongo_client.drop_database(settings.database)


def error_codes(body: dict[str, Any]) -> list[str]:
    """`extensions.code` of every top-level error (a missing code fails the test)."""
    codes = []
    for error in body.get("errors") or []:
        assert isinstance(error.get("extensions"), dict), error
        assert isinstance(error["extensions"].get("code"), str), error
        codes.append(error["extensions"]["code"])
    return codes


def messages(body: dict[str, Any]) -> str:
    """All error messages of a response, joined."""
    return "\n".join(str(error.get("message")) for error in body.get("errors") or [])


LOGIN = """
mutation Login($u: String!, $p: String!) {
  login(username: $u, password: $p) {
    __typename
    ... on AuthPayload { accessToken refreshToken tokenType expiresIn user { id username role } }
    ... on InvalidCredentialsError { message }
    ... on ValidationError { message fields { field message } }
  }
}
"""

CREATE_USER = """
mutation Create($input: CreateUserInput!) {
  createUser(input: $input) {
    __typename
    ... on User { id username role createdAt }
    ... on UsernameTakenError { message username }
    ... on ValidationError { message fields { field message } }
  }
}
"""

ECG_FIELDS = """
  id date createdAt samplingRate
  leads { name numberOfSamples }
  insights { lead zeroCrossings }
"""

UPLOAD = f"""
mutation Upload($input: EcgInput!) {{
  uploadEcg(input: $input) {{
    __typename
    ... on Ecg {{ {ECG_FIELDS} }}
    ... on EcgAlreadyExistsError {{ message id }}
    ... on ValidationError {{ message fields {{ field message }} }}
  }}
}}
"""


def load_recording(name: str) -> dict[str, Any]:
    """A real recording from tests/data, shaped as an upload (date supplied if null)."""
    data: dict[str, Any] = json.loads((TEST_DATA / name).read_text())
    data = {k: v for k, v in data.items() if k in ("date", "samplingRate", "leads")}
    if not data.get("date"):
        data["date"] = "2020-01-01T00:00:00Z"
    return data


def random_signal(rng: random.Random, length: int) -> list[int]:
    """Samples with runs of zeros, small swings and some values that need int32."""
    choices = (
        lambda: 0,
        lambda: rng.randint(-5, 5),
        lambda: rng.randint(-2000, 2000),
        lambda: rng.randint(-100_000, 100_000),
    )
    weights = (3, 4, 4, 1)
    return [rng.choices(choices, weights)[0]() for _ in range(length)]


def random_ecg(rng: random.Random, ecg_id: str, *, leads: int, length: int) -> dict[str, Any]:
    """An upload with `leads` leads of `length` samples each."""
    names = STANDARD_LEADS if leads <= len(STANDARD_LEADS) else tuple(f"L{i}" for i in range(leads))
    return {
        "id": ecg_id,
        "date": f"2024-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
        "samplingRate": 500.0,
        "leads": [{"name": names[i], "signal": random_signal(rng, length)} for i in range(leads)],
    }

# Gains of the recordings in tests/data, from the units column of tests/data/README.md
# (Mortara: 1.25 uV per count; the BITalino file states no gain).
UNITS_PER_MV: dict[str, float | None] = {
    "mortara_pydicom_12lead.json": 800.0,
    "mitdb100_wfdb_centered.json": 200.0,
    "ptb_s0010_wfdb.json": 2000.0,
    "bitalino_pyhrv_centered.json": None,
}


def load_signal(name: str, sampling_rate: float | None = None) -> EcgSignal:
    """A recording of tests/data as analyses see it, resampled when sampling_rate is given."""
    data: dict[str, Any] = json.loads((TEST_DATA / name).read_text())
    rate = float(data["samplingRate"])
    leads = []
    for lead in data["leads"]:
        samples = np.asarray(lead["signal"], dtype=np.int64)
        if sampling_rate is not None and sampling_rate != rate:
            up, down = int(sampling_rate), int(rate)
            resampled = scipy.signal.resample_poly(samples.astype(np.float64), up, down)
            samples = np.round(resampled).astype(np.int64)
        leads.append(samples)
    rate = sampling_rate or rate
    gain = UNITS_PER_MV[name]
    return EcgSignal(
        tuple(
            LeadSignal(lead["name"], samples, rate, gain)
            for lead, samples in zip(data["leads"], leads, strict=True)
        ),
        rate,
    )


def load_annotations(name: str) -> dict[str, Any]:
    """The reference sidecar (`*.annotations.json`) of a recording in tests/data."""
    data: dict[str, Any] = json.loads((TEST_DATA / name).read_text())
    return data


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int, marker: bytes) -> list[int]:
    """Live child processes of `pid` whose command line contains `marker`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X") and marker in command:
            found.append(int(entry.name))
    return sorted(found)


def database_children(pid: int) -> list[int]:
    """Live `secantus` child processes of `pid`."""
    return children(pid, b"secantus")


class CommandProcess:
    """`python -m ecg_graphql <command>` as a child process, its output collected as it comes."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603  (the tests' own commands)
            [sys.executable, "-m", "ecg_graphql", command],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Everything it printed so far (stdout and stderr)."""
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        """Its exit status once it has exited and all it printed has been read."""
        status = self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        return status

    def records(self) -> list[dict[str, Any]]:
        """Its JSON log lines so far, parsed (other output left out)."""
        found = []
        for line in list(self.lines):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    found.append(record)
        return found


class ServeProcess(CommandProcess):
    """`python -m ecg_graphql serve` as a child process, its output collected as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = int(env["ECG_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__("serve", env)


class RestartableDatabase:
    """An embedded database of our own that can be SIGKILLed and started again in place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current = EmbeddedDatabase(path)
        self.current.start()
        assert self.current.port is not None
        self.port: int = self.current.port
        self.url = self.current.url

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no flush."""
        self.current.kill()

    def restart(self) -> None:
        """Start again on the same port and storage, as an operator would."""
        self.current = EmbeddedDatabase(self.path, port=self.port)
        self.current.start()

    def is_running(self) -> bool:
        """True while the server process lives."""
        return self.current.is_running()

    def stop(self) -> None:
        """Stop for good."""
        self.current.stop()

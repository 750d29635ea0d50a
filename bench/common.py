"""Shared pieces of the benchmarks: the stack under test, a GraphQL client, data and statistics.

Every benchmark talks HTTP to the real service (`python -m ecg_graphql serve` under uvicorn) on
127.0.0.1, backed by a real SecantusDB; either a throwaway stack started here (`Stack`) or one
already running (`--url`, e.g. `make run`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import itertools
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx
import numpy as np
import scipy.signal

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = REPO_ROOT / "tests" / "data"
DEFAULT_RECORDING = "mortara_pydicom_12lead.json"
BENCH_ADMIN_USERNAME = "bench-admin"
BENCH_PASSWORD = "bench-password-1"
BENCH_JWT_SECRET = "bench-jwt-secret-" + "b" * 40
PR_SET_PDEATHSIG = 1

LOGIN = """
mutation Login($u: String!, $p: String!) {
  login(username: $u, password: $p) {
    __typename
    ... on AuthPayload { accessToken }
  }
}
"""

CREATE_USER = """
mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) { __typename ... on User { id } }
}
"""

DELETE = "mutation Delete($id: ID!) { deleteEcg(id: $id) }"

UPLOAD = """
mutation Upload($input: EcgInput!) {
  uploadEcg(input: $input) {
    __typename
    ... on Ecg { id insights { lead zeroCrossings } }
    ... on ValidationError { fields { field message } }
  }
}
"""


class BenchError(RuntimeError):
    """The stack could not be set up or answered something unexpected (the run is void)."""


# ---------------------------------------------------------------------------------------------
# Statistics and reporting


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, linear interpolation); NaN for no values."""
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """Median, p10, p90 and p99 of durations given in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "median_ms": round(percentile(seconds, 50) * 1000, 3),
        "p10_ms": round(percentile(seconds, 10) * 1000, 3),
        "p90_ms": round(percentile(seconds, 90) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain Markdown table on standard output."""
    text = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    print(line(text[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in text[1:]:
        print(line(row))


def machine_note() -> dict[str, Any]:
    """Where and when the figures were measured."""
    load1, load5, _ = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1m_at_end": round(load1, 2),
        "loadavg_5m_at_end": round(load5, 2),
    }


def ratio_report(
    stats: dict[str, dict[str, float]],
    labels: dict[str, str],
    baseline: str,
    targets: dict[str, float],
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Print each measurement's ratio to `baseline` (medians, and fastest tenths: the least
    disturbed by other processes) against its target; the ratios, p10 ratios and verdicts."""
    base, base_p10 = stats[baseline]["median_ms"], stats[baseline]["p10_ms"]
    ratios = {name: s["median_ms"] / base for name, s in stats.items()}
    p10_ratios = {name: s["p10_ms"] / base_p10 for name, s in stats.items()}
    print_table(
        ["request", "median ms", "p10 ms", "p90 ms", "ratio to (a)", "target", "p10 / p10 of (a)"],
        [
            [
                labels[name],
                f"{s['median_ms']:.2f}",
                f"{s['p10_ms']:.2f}",
                f"{s['p90_ms']:.2f}",
                f"{ratios[name]:.2f}x",
                f"<= {targets[name]}x" if name in targets else "",
                f"{p10_ratios[name]:.2f}x",
            ]
            for name, s in stats.items()
        ],
    )
    verdicts = [
        f"{name} {ratios[name]:.2f}x {'meets' if ratios[name] <= target else 'MISSES'} <= {target}x"
        for name, target in targets.items()
    ]
    return ratios, p10_ratios, verdicts


def print_json_line(name: str, payload: dict[str, Any]) -> None:
    """The machine-readable result: one JSON line, last on standard output."""
    print(json.dumps({"benchmark": name, **payload, "machine": machine_note()}), flush=True)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Recording:
    """A real recording cut to `samples` per lead."""

    name: str
    date: str
    sampling_rate: float | None
    leads: list[tuple[str, list[int]]]


def resampled(samples: Sequence[int], source: int, target: int) -> np.ndarray:
    """A lead at another sampling rate (polyphase, with its anti-aliasing filter), as integers."""
    values = np.asarray(samples, dtype=np.float64)
    if target != source:
        values = scipy.signal.resample_poly(values, target, source)
    return np.round(values).astype(np.int64)


def load_recording(
    name: str = DEFAULT_RECORDING,
    *,
    samples: int = 5000,
    leads: int = 12,
    offset: int = 0,
    rate: int | None = None,
) -> Recording:
    """Leads [0, leads) of a recording in tests/data, samples [offset, offset+samples),
    resampled to `rate` first when given."""
    raw: dict[str, Any] = json.loads((TEST_DATA / name).read_text())
    chosen = raw["leads"][:leads]
    if len(chosen) < leads:
        raise BenchError(f"{name} has {len(raw['leads'])} leads, {leads} wanted")
    source = raw.get("samplingRate")
    if rate is not None and source is None:
        raise BenchError(f"{name} has no sampling rate to resample from")
    cut: list[tuple[str, list[int]]] = []
    for lead in chosen:
        signal = lead["signal"]
        if rate is not None and source is not None:
            signal = resampled(signal, int(source), rate).tolist()
        signal_values: list[int] = signal[offset : offset + samples]
        if len(signal_values) < samples:
            raise BenchError(f"{name} lead {lead['name']} is shorter than {offset + samples}")
        cut.append((str(lead["name"]), signal_values))
    chosen_rate = rate if rate is not None else source
    return Recording(
        name=name,
        date=str(raw.get("date") or "2020-01-01T00:00:00Z"),
        sampling_rate=None if chosen_rate is None else float(chosen_rate),
        leads=cut,
    )


def reference_zero_crossings(samples: Sequence[int]) -> int:
    """DESIGN.md's definition, in plain Python (to check the service answered sensibly)."""
    signs = [s < 0 for s in samples if s != 0]
    return sum(1 for a, b in itertools.pairwise(signs) if a != b)


class BodyTemplate:
    """A pre-encoded GraphQL request body in which one string variable changes per request.

    Encoding a 12 x 5000 upload costs the client milliseconds; splicing an id into bytes
    encoded once keeps the client's own work out of what is measured.
    """

    MARK = "__BENCH_VARIABLE__"

    def __init__(self, query: str, variables: dict[str, Any]) -> None:
        encoded = json.dumps({"query": query, "variables": variables}, separators=(",", ":"))
        quoted = json.dumps(self.MARK)
        if encoded.count(quoted) != 1:
            raise BenchError("body template needs exactly one marked variable")
        head, tail = encoded.split(quoted)
        self._head = head.encode()
        self._tail = tail.encode()

    def render(self, value: str) -> bytes:
        """The body with `value` in place of the marked variable."""
        return self._head + json.dumps(value).encode() + self._tail


def upload_template(recording: Recording) -> BodyTemplate:
    """An uploadEcg body of `recording` whose `id` is filled in per request."""
    return BodyTemplate(
        UPLOAD,
        {
            "input": {
                "id": BodyTemplate.MARK,
                "date": recording.date,
                "samplingRate": recording.sampling_rate,
                "leads": [
                    {"name": name, "numberOfSamples": len(values), "signal": values}
                    for name, values in recording.leads
                ],
            }
        },
    )


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    """A GraphQL request body as bytes."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return json.dumps(body, separators=(",", ":")).encode()


def headers_for(token: str | None) -> dict[str, str]:
    """JSON content type, and the bearer token when there is one."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


def unique_suffix() -> str:
    """A short random suffix, so runs against a long-lived server never collide."""
    return secrets.token_hex(4)


# ---------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int | None) -> int | None:
    """VmRSS of a process in KiB, or None when it cannot be read."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(inode)
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The process that listens on a TCP port (Linux /proc), or None."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not wanted:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return int(proc.name)
    return None


def child_pid_running(parent: int, marker: str) -> int | None:
    """A child of `parent` whose command line contains `marker`, or None."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            if ppid == parent and marker in cmdline:
                return int(proc.name)
    return None


def _wait_gone(pid: int, timeout: float) -> None:
    """Until process `pid` has exited (SIGKILL after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)


def _die_with_parent() -> None:  # runs in the child before exec
    # Linux: if the benchmark is killed outright, the server it started goes too.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so `with Stack()` cleans up either way."""
    signal.signal(signal.SIGTERM, _raise_on_sigterm)


def run_benchmark(main: Callable[[], int]) -> int:
    """Run a benchmark's main; on Ctrl-C or SIGTERM say so in one line (cleanup has run)."""
    stop_on_sigterm()
    try:
        return main()
    except KeyboardInterrupt:
        print("interrupted; the processes started here are stopped", file=sys.stderr)
        return 130
    except BenchError as error:
        print(f"benchmark void: {error}", file=sys.stderr)
        return 1


@dataclass
class StackOptions:
    """How to reach or start the stack under test."""

    url: str | None = None
    admin_username: str | None = None
    admin_password: str | None = None
    mongodb_url: str | None = None
    database: str | None = None
    bcrypt_rounds: int = 12
    server_env: dict[str, str] = field(default_factory=dict)
    keep_logs: bool = False


def add_stack_arguments(parser: argparse.ArgumentParser, *, bcrypt_rounds: int) -> None:
    """The command-line options shared by every benchmark."""
    group = parser.add_argument_group("stack under test")
    group.add_argument(
        "--url",
        help="base URL of a running service (e.g. http://127.0.0.1:8000 from `make run`); "
        "default: start a throwaway embedded database and server",
    )
    group.add_argument(
        "--admin-username",
        default=os.environ.get("ECG_ADMIN_USERNAME"),
        help="admin of the running service (--url); default $ECG_ADMIN_USERNAME",
    )
    group.add_argument(
        "--admin-password",
        default=os.environ.get("ECG_ADMIN_PASSWORD"),
        help="its password; default $ECG_ADMIN_PASSWORD",
    )
    group.add_argument(
        "--mongodb-url",
        default=None,
        help="database of the running service (--url); default $ECG_MONGODB_URL, else the "
        "embedded-url file `make run` writes in $ECG_DATA_DIR (.data)",
    )
    group.add_argument(
        "--database",
        default=os.environ.get("ECG_DATABASE", "ecg"),
        help="database name of the running service; default $ECG_DATABASE or 'ecg'",
    )
    group.add_argument(
        "--bcrypt-rounds",
        type=int,
        default=bcrypt_rounds,
        help=f"ECG_BCRYPT_ROUNDS of the throwaway server (default {bcrypt_rounds})",
    )
    group.add_argument(
        "--keep-logs", action="store_true", help="print the throwaway server's log path and keep it"
    )


def stack_options(args: argparse.Namespace, **server_env: str) -> StackOptions:
    """StackOptions from parsed arguments, plus extra ECG_ settings for a throwaway server."""
    return StackOptions(
        url=args.url,
        admin_username=args.admin_username,
        admin_password=args.admin_password,
        mongodb_url=args.mongodb_url,
        database=args.database,
        bcrypt_rounds=args.bcrypt_rounds,
        server_env=dict(server_env),
        keep_logs=args.keep_logs,
    )


class Stack:
    """The service under test: a throwaway one (database + uvicorn subprocess) or `--url`.

    Use as a context manager: whatever happens, the processes it started are stopped and
    their temporary directory removed.
    """

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.base_url = ""
        self.admin_username = options.admin_username or BENCH_ADMIN_USERNAME
        self.admin_password = options.admin_password or BENCH_PASSWORD
        self.database = options.database or "ecg"
        self.mongodb_url: str | None = options.mongodb_url
        self.server_pid: int | None = None
        self.db_pid: int | None = None
        self.owned = options.url is None
        self._tmp: Path | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    def __enter__(self) -> Stack:
        try:
            if self.owned:
                self._start()
            else:
                self._attach()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="ecg-bench-"))
        self.database = "ecg_bench"
        self.admin_username = BENCH_ADMIN_USERNAME
        self.admin_password = BENCH_PASSWORD
        port = free_port()
        # As `make run`: `serve` starts and supervises the embedded database itself.
        env = {
            **{key: value for key, value in os.environ.items() if key != "ECG_MONGODB_URL"},
            "ECG_DATABASE": self.database,
            "ECG_DATA_DIR": str(self._tmp / "data"),
            "ECG_HOST": "127.0.0.1",
            "ECG_PORT": str(port),
            "ECG_ADMIN_USERNAME": self.admin_username,
            "ECG_ADMIN_PASSWORD": self.admin_password,
            "ECG_JWT_SECRET": BENCH_JWT_SECRET,
            "ECG_BCRYPT_ROUNDS": str(self.options.bcrypt_rounds),
            "ECG_ACCESS_TOKEN_MINUTES": "240",
            "PYTHONUNBUFFERED": "1",
            # One API process, as measured before ECG_WORKERS existed (load.py --api-workers).
            "ECG_WORKERS": "1",
            **self.options.server_env,
        }
        self._log_path = self._tmp / "server.log"
        with self._log_path.open("wb") as log:
            # The log goes to a file, never a pipe: a full pipe would stall the server.
            self._server = subprocess.Popen(
                [sys.executable, "-m", "ecg_graphql", "serve"],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.server_pid = self._server.pid
        self.base_url = f"http://127.0.0.1:{port}"
        self._wait_ready(timeout=90.0)
        self.mongodb_url = (self._tmp / "data" / "embedded-url").read_text().strip()
        self.db_pid = child_pid_running(self.server_pid, "secantus")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._server is not None and self._server.poll() is not None:
                    raise BenchError(f"server exited at start-up:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/ready").status_code == 200:
                        return
                time.sleep(0.2)
        raise BenchError(f"server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _attach(self) -> None:
        url = self.options.url
        assert url is not None
        self.base_url = url.rstrip("/")
        if not (self.options.admin_username and self.options.admin_password):
            raise BenchError("--url needs --admin-username and --admin-password (or ECG_ADMIN_*)")
        parsed = httpx.URL(self.base_url)
        if parsed.host not in ("127.0.0.1", "localhost"):
            raise BenchError("benchmarks only send traffic to 127.0.0.1")
        self.server_pid = pid_listening_on(parsed.port or 80)
        if self.server_pid is not None:
            self.db_pid = child_pid_running(self.server_pid, "secantus")
        if self.mongodb_url is None:
            self.mongodb_url = os.environ.get("ECG_MONGODB_URL")
        if self.mongodb_url is None:
            data_dir = Path(os.environ.get("ECG_DATA_DIR", str(REPO_ROOT / ".data")))
            url_file = data_dir / "embedded-url"
            if url_file.exists():
                self.mongodb_url = url_file.read_text().strip()
        with httpx.Client(base_url=self.base_url, timeout=5.0) as client:
            if client.get("/ready").status_code != 200:
                raise BenchError(f"{self.base_url}/ready does not answer 200")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the throwaway server's log."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self) -> Iterator[str]:
        """Every line of the throwaway server's log so far."""
        if self._log_path is None or not self._log_path.exists():
            return iter(())
        return iter(self._log_path.read_text(errors="replace").splitlines())

    def close(self) -> None:
        """Stop what was started here (server first, then database) and remove its files."""
        server, self._server = self._server, None
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        if self.owned and self.db_pid is not None:
            # `serve` stops its database on SIGTERM (and it dies with `serve` otherwise).
            _wait_gone(self.db_pid, timeout=10)
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            if self.options.keep_logs and self._log_path is not None:
                kept = Path(tempfile.gettempdir()) / f"ecg-bench-server-{os.getpid()}.log"
                with contextlib.suppress(OSError):
                    shutil.copyfile(self._log_path, kept)
                    print(f"server log kept in {kept}", file=sys.stderr)
            shutil.rmtree(tmp, ignore_errors=True)

    def describe(self) -> str:
        """One line saying what is under test."""
        kind = "throwaway stack" if self.owned else "running service"
        return (
            f"{kind} at {self.base_url} (server pid {self.server_pid}, "
            f"database pid {self.db_pid}, database '{self.database}')"
        )


# ---------------------------------------------------------------------------------------------
# A synchronous GraphQL client for setup and single-client benchmarks


class Client:
    """httpx with keep-alive, speaking GraphQL to one stack."""

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def post(self, body: bytes, token: str | None = None) -> httpx.Response:
        """POST raw body bytes to /graphql."""
        return self.http.post("/graphql", content=body, headers=headers_for(token))

    def data(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The `data` of a successful GraphQL answer (BenchError otherwise)."""
        return checked_data(self.post(graphql_body(query, variables), token))

    def login(self, username: str, password: str) -> str:
        """An access token."""
        result = self.data(LOGIN, {"u": username, "p": password})["login"]
        if result["__typename"] != "AuthPayload":
            raise BenchError(f"login of {username} failed: {result['__typename']}")
        token: str = result["accessToken"]
        return token

    def create_user(self, admin_token: str, username: str, password: str = BENCH_PASSWORD) -> None:
        """Register a USER."""
        result = self.data(
            CREATE_USER,
            {"input": {"username": username, "password": password, "role": "USER"}},
            admin_token,
        )["createUser"]
        if result["__typename"] != "User":
            raise BenchError(f"createUser {username}: {result['__typename']}")

    def upload(self, template: BodyTemplate, ecg_id: str, token: str) -> dict[str, Any]:
        """Upload one ECG; its `Ecg` result (BenchError for any other member)."""
        result: dict[str, Any] = checked_data(self.post(template.render(ecg_id), token))[
            "uploadEcg"
        ]
        if result["__typename"] != "Ecg":
            raise BenchError(f"upload {ecg_id}: {result}")
        return result

    def delete_all(self, ids: Sequence[str], token: str) -> None:
        """Delete these ECGs of the caller (bounded by len(ids); missing ones are ignored)."""
        for ecg_id in ids:
            self.data(DELETE, {"id": ecg_id}, token)


def checked_data(response: httpx.Response) -> dict[str, Any]:
    """The `data` of an HTTP 200 GraphQL answer without errors (BenchError otherwise)."""
    if response.status_code != 200:
        raise BenchError(f"HTTP {response.status_code}: {response.text[:300]}")
    body = response.json()
    if body.get("errors"):
        raise BenchError(f"GraphQL errors: {json.dumps(body['errors'])[:300]}")
    data: dict[str, Any] = body["data"]
    return data


def check_insights(result: dict[str, Any], recording: Recording) -> None:
    """The service's zero crossings equal the reference (else the figures mean nothing)."""
    got = [(i["lead"], i["zeroCrossings"]) for i in result["insights"]]
    want = [(name, reference_zero_crossings(values)) for name, values in recording.leads]
    if got != want:
        raise BenchError(f"insights differ from the reference: {got} != {want}")


def register_user(client: Client, admin_token: str, prefix: str) -> tuple[str, str]:
    """A fresh USER (unique name) and its access token."""
    username = f"{prefix}-{unique_suffix()}"
    client.create_user(admin_token, username)
    return username, client.login(username, BENCH_PASSWORD)

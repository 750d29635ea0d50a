"""Load and soak: many concurrent clients holding a mixed workload, and the server's memory.

    python -m bench.load --clients 50 --seconds 60 [--warmup 10] [--users 10] [--api-workers 1]

Each client is its own `httpx.AsyncClient` (one keep-alive connection) signed in as one of
`--users` USERs, and loops until the time is up, picking an operation at random by weight:
logins (a few with a wrong password, answered by the expected InvalidCredentialsError), uploads
(2 x 1000 samples and 12 x 5000 samples of a real recording), reads of one ECG's insights,
listings of 50 ECGs and signal slices. A warm-up of `--warmup` seconds runs the same workload
unmeasured first.

Reported: throughput (requests/s) overall and per operation, p50/p99 latency per operation, the
error rate (HTTP status other than 200, GraphQL errors, or a result that is not the expected
union member), and the RSS of the API process and of the database process before the run,
right after the warm-up, at mid-run and after the run, with a verdict on the API's growth.
With `--api-workers N` the throwaway server runs N API processes (ECG_WORKERS); "api" is
then the whole tree: `serve` and its workers, RSS and CPU summed.

Against a throwaway stack the login failure limits are raised so the wrong-password logins never
trip them; against `--url` they are kept few (at most 4 per user and 40 in all per run) to stay
under the default limits (10 per user and 100 per address in 5 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.common import (
    BENCH_PASSWORD,
    DEFAULT_RECORDING,
    LOGIN,
    BodyTemplate,
    Client,
    Stack,
    add_stack_arguments,
    check_insights,
    graphql_body,
    headers_for,
    load_recording,
    print_json_line,
    print_table,
    register_user,
    rss_kib,
    run_benchmark,
    stack_options,
    summary_ms,
    unique_suffix,
    upload_template,
)

INSIGHTS = "query Insights($id: ID!) { ecg(id: $id) { id insights { lead zeroCrossings } } }"
LIST_50 = (
    "{ ecgs(first: 50) { edges { node { id date insights { lead zeroCrossings } } } "
    "pageInfo { hasNextPage endCursor } } }"
)
SLICE = (
    "query Slice($id: ID!) { ecg(id: $id) { id leads { name signal(offset: 1000, limit: 1000) } } }"
)
WEIGHTS = {
    "login": 3,
    "login_wrong": 1,
    "upload_small": 8,
    "upload_12x5000": 4,
    "insights": 35,
    "list50": 25,
    "slice": 24,
}
WRONG_PER_USER_ATTACHED = 4
WRONG_TOTAL_ATTACHED = 40
REQUEST_TIMEOUT = 30.0
MAX_REQUESTS_PER_CLIENT = 1_000_000
# RSS growth (after warm-up -> after run) that still counts as noise.
RSS_NOISE_FRACTION = 0.10
RSS_NOISE_KIB = 20 * 1024
MIB = 1024.0


@dataclass
class UserState:
    """A USER shared by several clients: its name, a valid token and the ids of its ECGs."""

    username: str
    token: str
    ids: list[str]
    wrong_logins: int = 0


@dataclass
class Outcome:
    """One request: operation, when it started (monotonic), how long it took, what went wrong."""

    op: str
    started: float
    seconds: float
    error: str | None


@dataclass
class Run:
    """Everything the clients share."""

    users: list[UserState]
    small: BodyTemplate
    large: BodyTemplate
    deadline: float
    owned_stack: bool
    tag: str
    outcomes: list[Outcome] = field(default_factory=list)
    wrong_total: int = 0
    uploaded_bytes: int = 0


def _error_of(response: httpx.Response) -> tuple[str | None, dict[str, Any]]:
    if response.status_code != 200:
        return f"http_{response.status_code}", {}
    try:
        body = response.json()
    except json.JSONDecodeError:
        return "invalid_json", {}
    if body.get("errors"):
        codes = sorted({str((e.get("extensions") or {}).get("code")) for e in body["errors"]})
        return "graphql_" + ",".join(codes), {}
    data: dict[str, Any] = body.get("data") or {}
    return None, data


async def _one_request(
    run: Run, http: httpx.AsyncClient, user: UserState, op: str, rng: random.Random, key: str
) -> str | None:
    """Send one operation; the error kind, or None when the answer is the expected one."""
    token: str | None = user.token
    expected: str | None = None
    new_id: str | None = None
    if op in ("login", "login_wrong"):
        password = BENCH_PASSWORD if op == "login" else "wrong-password-1"
        body = graphql_body(LOGIN, {"u": user.username, "p": password})
        token = None
        expected = "AuthPayload" if op == "login" else "InvalidCredentialsError"
    elif op in ("upload_small", "upload_12x5000"):
        new_id = f"load-{run.tag}-{key}"
        template = run.small if op == "upload_small" else run.large
        body = template.render(new_id)
        run.uploaded_bytes += len(body)
        expected = "Ecg"
    elif op == "list50":
        body = graphql_body(LIST_50)
    else:
        query = INSIGHTS if op == "insights" else SLICE
        body = graphql_body(query, {"id": rng.choice(user.ids)})
    response = await http.post("/graphql", content=body, headers=headers_for(token))
    error, data = _error_of(response)
    if error is not None:
        return error
    if op in ("insights", "slice"):
        return None if data.get("ecg") else "ecg_missing"
    if op == "list50":
        return None if data.get("ecgs", {}).get("edges") else "list_empty"
    result = data.get("login") or data.get("uploadEcg") or {}
    typename = result.get("__typename")
    if typename != expected:
        return f"unexpected_{typename}"
    if op == "login":
        user.token = result["accessToken"]
    if new_id is not None:
        user.ids.append(new_id)
    return None


def _pick(run: Run, user: UserState, rng: random.Random) -> str:
    op = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    # A shared server keeps its default limits: spend only a small budget of failures.
    over_budget = (
        user.wrong_logins >= WRONG_PER_USER_ATTACHED or run.wrong_total >= WRONG_TOTAL_ATTACHED
    )
    if op == "login_wrong" and not run.owned_stack and over_budget:
        return "login"
    if op == "login_wrong":
        user.wrong_logins += 1
        run.wrong_total += 1
    return op


async def client_loop(run: Run, number: int, base_url: str, seed: int) -> None:
    """One client: requests back to back until the deadline (or the request cap)."""
    rng = random.Random(seed * 1000 + number)
    user = run.users[number % len(run.users)]
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits
    ) as http:
        for n in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= run.deadline:
                break
            op = _pick(run, user, rng)
            started = time.monotonic()
            try:
                error = await _one_request(run, http, user, op, rng, f"{number}-{n}")
            except httpx.HTTPError as exc:
                error = f"exception_{type(exc).__name__}"
            run.outcomes.append(Outcome(op, started, time.monotonic() - started, error))


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = 100.0  # USER_HZ is 100 on Linux
    return (int(fields[11]) + int(fields[12])) / ticks


N = TypeVar("N", int, float)


def api_tree(pid: int) -> list[int]:
    """`pid` and its descendants (serve's worker processes), its database left out."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if b"secantus" in (entry / "cmdline").read_bytes():
                continue
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


def _summed(read: Callable[[int | None], N | None], name: str, pid: int | None) -> N | None:
    # "api": serve and its workers; a process that vanished meanwhile counts nothing.
    if pid is None or name != "api":
        return read(pid)
    first = read(pid)
    if first is None:
        return None
    for child in api_tree(pid)[1:]:
        first += read(child) or 0
    return first


def measure_rss(pids: dict[str, int | None]) -> dict[str, int | None]:
    """RSS in KiB of each measured process (the API's summed over its workers)."""
    return {name: _summed(rss_kib, name, pid) for name, pid in pids.items()}


def measure_cpu(pids: dict[str, int | None]) -> dict[str, float | None]:
    """CPU seconds so far of each measured process (the API's summed over its workers)."""
    return {name: _summed(cpu_seconds, name, pid) for name, pid in pids.items()}


async def sample_rss(
    pids: dict[str, int | None], until: float, samples: list[tuple[float, dict[str, int | None]]]
) -> None:
    """Read each process's RSS once a second until `until`."""
    while time.monotonic() < until:
        samples.append((time.monotonic(), measure_rss(pids)))
        await asyncio.sleep(1.0)


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / MIB:.1f}"


def setup(stack: Stack, users: int, ecgs_per_user: int, large: BodyTemplate) -> list[UserState]:
    """Register the USERs, sign them in and store a few ECGs for each (synchronously)."""
    recording = load_recording(DEFAULT_RECORDING, samples=5000, leads=12)
    states: list[UserState] = []
    with Client(stack.base_url) as client:
        admin = client.login(stack.admin_username, stack.admin_password)
        for _ in range(users):
            username, token = register_user(client, admin, "load")
            ids = [f"seed-{unique_suffix()}-{k}" for k in range(ecgs_per_user)]
            for ecg_id in ids:
                check_insights(client.upload(large, ecg_id, token), recording)
            states.append(UserState(username=username, token=token, ids=ids))
    return states


async def drive(
    run: Run, stack: Stack, clients: int, warmup: float, seconds: float, seed: int
) -> dict[str, Any]:
    """Run the clients through warm-up and measurement; return raw figures."""
    pids = {"api": stack.server_pid, "db": stack.db_pid}
    rss: dict[str, dict[str, int | None]] = {"before": measure_rss(pids)}
    start = time.monotonic()
    measure_start = start + warmup
    run.deadline = measure_start + seconds
    samples: list[tuple[float, dict[str, int | None]]] = []
    sampler = asyncio.create_task(sample_rss(pids, run.deadline, samples))
    tasks = [
        asyncio.create_task(client_loop(run, number, stack.base_url, seed))
        for number in range(clients)
    ]
    await asyncio.sleep(max(0.0, measure_start - time.monotonic()))
    rss["after_warmup"] = measure_rss(pids)
    cpu_start = measure_cpu(pids)
    own_start = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(seconds / 2)
    rss["mid_run"] = measure_rss(pids)
    # Clients stop at the deadline; in-flight requests finish (each bounded by its timeout).
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=seconds + REQUEST_TIMEOUT + 30)
    busy_seconds = time.monotonic() - measure_start
    cpu_end = measure_cpu(pids)
    own_end = resource.getrusage(resource.RUSAGE_SELF)
    await sampler
    rss["after_run"] = measure_rss(pids)
    peak: dict[str, int | None] = {}
    for name in pids:
        readings = [value for _, s in samples if (value := s[name]) is not None]
        peak[name] = max(readings, default=None)
    cpu: dict[str, float | None] = {}
    for name in pids:
        a, b = cpu_start[name], cpu_end[name]
        cpu[name] = None if a is None or b is None else round((b - a) / busy_seconds, 3)
    own = own_end.ru_utime + own_end.ru_stime - own_start.ru_utime - own_start.ru_stime
    cpu["load_generator"] = round(own / busy_seconds, 3)
    return {
        "measure_start": measure_start,
        # Requests counted are those started in the window, so the window is the rate's base.
        "measured_seconds": run.deadline - measure_start,
        "rss_kib": rss,
        "rss_peak_kib": peak,
        "cpu_cores_busy": cpu,
    }


def report(
    run: Run, figures: dict[str, Any], args: argparse.Namespace, stack: Stack
) -> dict[str, Any]:
    """Print the tables and verdict; return the JSON payload."""
    measure_start: float = figures["measure_start"]
    measured: float = figures["measured_seconds"]
    measured_outcomes = [o for o in run.outcomes if o.started >= measure_start]
    per_op: dict[str, list[Outcome]] = {op: [] for op in WEIGHTS}
    for outcome in measured_outcomes:
        per_op[outcome.op].append(outcome)
    errors = Counter(o.error for o in measured_outcomes if o.error is not None)
    total = len(measured_outcomes)
    ops: dict[str, Any] = {}
    rows = []
    for op, outcomes in per_op.items():
        stats = summary_ms([o.seconds for o in outcomes])
        failed = sum(1 for o in outcomes if o.error is not None)
        ops[op] = {
            "requests": len(outcomes),
            "rps": round(len(outcomes) / measured, 2),
            "p50_ms": stats["median_ms"],
            "p99_ms": stats["p99_ms"],
            "errors": failed,
        }
        rows.append(
            [op, len(outcomes), f"{len(outcomes) / measured:.1f}", f"{stats['median_ms']:.1f}",
             f"{stats['p99_ms']:.1f}", failed]
        )
    all_stats = summary_ms([o.seconds for o in measured_outcomes])
    rows.append(
        ["all", total, f"{total / measured:.1f}", f"{all_stats['median_ms']:.1f}",
         f"{all_stats['p99_ms']:.1f}", sum(errors.values())]
    )
    error_rate = sum(errors.values()) / total if total else float("nan")

    print()
    print(
        f"{args.clients} clients, {len(run.users)} users, {measured:.1f} s measured after "
        f"{args.warmup:.0f} s warm-up; {stack.describe()}"
        + (f"; {args.api_workers} API processes" if stack.owned else "")
    )
    print_table(["operation", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows)
    print(f"\nerror rate: {error_rate:.4%} ({sum(errors.values())} of {total})", end="")
    print(f"; kinds: {dict(errors)}" if errors else "")

    rss = figures["rss_kib"]
    peak = figures["rss_peak_kib"]
    print()
    print_table(
        ["process", "RSS before MiB", "after warm-up", "mid-run", "after run", "peak",
         "CPU cores busy"],
        [
            [name, _mib(rss["before"][name]), _mib(rss["after_warmup"][name]),
             _mib(rss["mid_run"][name]), _mib(rss["after_run"][name]), _mib(peak[name]),
             figures["cpu_cores_busy"][name]]
            for name in ("api", "db")
        ],
    )
    own_cpu = figures["cpu_cores_busy"]["load_generator"]
    print(f"load generator (this process) CPU cores busy: {own_cpu}")
    verdict = _verdict(rss["after_warmup"]["api"], rss["after_run"]["api"])
    print(f"\nVERDICT (API RSS, after warm-up -> after run): {verdict}")
    db_before, db_after = rss["after_warmup"]["db"], rss["after_run"]["db"]
    if db_before is not None and db_after is not None:
        print(
            f"database RSS {_mib(db_before)} -> {_mib(db_after)} MiB while "
            f"{run.uploaded_bytes / 2**20:.0f} MiB of upload bodies were stored "
            "(a database grows its cache with its data; not counted as a leak)"
        )
    return {
        "clients": args.clients,
        "api_workers": args.api_workers if stack.owned else None,
        "users": len(run.users),
        "warmup_s": args.warmup,
        "measured_s": round(measured, 2),
        "requests": total,
        "rps": round(total / measured, 2),
        "p50_ms": all_stats["median_ms"],
        "p99_ms": all_stats["p99_ms"],
        "error_rate": round(error_rate, 6),
        "errors": dict(errors),
        "operations": ops,
        "rss_kib": rss,
        "rss_peak_kib": peak,
        "cpu_cores_busy": figures["cpu_cores_busy"],
        "api_rss_verdict": verdict,
        "bcrypt_rounds": args.bcrypt_rounds if stack.owned else None,
    }


def _verdict(before: int | None, after: int | None) -> str:
    if before is None or after is None:
        return "unknown (server RSS not readable; pass a local --url)"
    growth = after - before
    noise = max(RSS_NOISE_KIB, int(before * RSS_NOISE_FRACTION))
    text = f"{before / MIB:.1f} -> {after / MIB:.1f} MiB ({growth / MIB:+.1f} MiB, "
    text += f"{growth / before:+.1%}); noise allowance {noise / MIB:.0f} MiB: "
    if growth <= noise:
        return text + "OK, no growth beyond noise"
    return text + "GROWTH beyond noise (look for a leak)"


def main(argv: list[str] | None = None) -> int:
    """Run the load test; prints tables, a verdict and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds first")
    parser.add_argument("--users", type=int, default=10, help="USERs the clients share")
    parser.add_argument("--seed-ecgs", type=int, default=3, help="ECGs stored per user first")
    parser.add_argument("--seed", type=int, default=1, help="seed of the operation choices")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="API processes of the throwaway server (its ECG_WORKERS; default 1)",
    )
    add_stack_arguments(parser, bcrypt_rounds=12)
    args = parser.parse_args(argv)
    if not 1 <= args.api_workers <= 64:
        parser.error("api-workers must be 1..64")
    if not 1 <= args.clients <= 1000 or not 1 <= args.seconds <= 3600:
        parser.error("clients must be 1..1000 and seconds 1..3600")
    if not 0 <= args.warmup <= 600 or not 1 <= args.users <= 1000 or args.seed_ecgs < 1:
        parser.error("warmup 0..600, users 1..1000, seed-ecgs >= 1")

    large = upload_template(load_recording(DEFAULT_RECORDING, samples=5000, leads=12))
    small = upload_template(load_recording(DEFAULT_RECORDING, samples=1000, leads=2))
    # Failures are counted per address; every client here is 127.0.0.1.
    options = stack_options(
        args,
        ECG_LOGIN_MAX_FAILURES_PER_USER="1000000",
        ECG_LOGIN_MAX_FAILURES_PER_ADDRESS="1000000",
        ECG_WORKERS=str(args.api_workers),
    )
    with Stack(options) as stack:
        print(stack.describe(), file=sys.stderr)
        started = time.perf_counter()
        users = setup(stack, args.users, args.seed_ecgs, large)
        print(f"setup took {time.perf_counter() - started:.1f} s", file=sys.stderr)
        run = Run(
            users=users,
            small=small,
            large=large,
            deadline=0.0,
            owned_stack=stack.owned,
            tag=unique_suffix(),
        )
        figures = asyncio.run(
            drive(run, stack, args.clients, args.warmup, args.seconds, args.seed)
        )
        payload = report(run, figures, args, stack)
        if not stack.owned:  # a long-lived server keeps nothing of the run
            with Client(stack.base_url) as client:
                for user in users:
                    client.delete_all(user.ids, user.token)
    print_json_line("load", payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))

"""Query benchmark: reads as ratios to the cheapest authenticated request, `{ me { id } }`.

    python -m bench.query [--rounds 200] [--warmup 20] [--ecgs 60]

A USER with `--ecgs` stored ECGs (12 leads x 5000 samples of a real recording) issues, in a
random order within each round:
  (a) me        `{ me { id } }`, the baseline: HTTP + GraphQL + token check + one user lookup;
  (b) insights  one ECG's insights by id (a random one each round);
  (b2) measurements  one ECG's measurements by id;
  (c) list 50   `ecgs(first: 50)` with each node's id, date and insights, and pageInfo
      (read again unchanged: the service keeps the page, ecgs/page_cache.py);
  (c') the same page right after a change to the user's ECGs (an untimed upload of a tiny
      ECG dated before all others, so the page's content is the same but not kept): every
      document read from the database;
  (d) list 50 + totalCount;
  (e) slice     samples [2000, 3000) of each of the 12 leads of one ECG.
Targets: (b)/(a) <= 1.5x, (b2)/(a) <= 1.5x, (c)/(a) <= 2x. Timing covers sending the request
until the whole response body has arrived (the client's JSON parsing and checks happen outside it).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from bench.common import (
    DEFAULT_RECORDING,
    BenchError,
    Client,
    Recording,
    Stack,
    add_stack_arguments,
    check_insights,
    checked_data,
    graphql_body,
    load_recording,
    print_json_line,
    ratio_report,
    register_user,
    run_benchmark,
    stack_options,
    summary_ms,
    unique_suffix,
    upload_template,
)

ME = "{ me { id } }"
INSIGHTS = "query Insights($id: ID!) { ecg(id: $id) { id insights { lead zeroCrossings } } }"
MEASUREMENTS = (
    "query Measurements($id: ID!) { ecg(id: $id) { id analysisStatus measurements { beatCount "
    "heartRate rhythm prInterval qrsDuration qtInterval qtcBazett qtcFridericia qrsAxis tAxis "
    "rr { count meanMs medianMs minMs maxMs sdnnMs rmssdMs } } } }"
)
LIST_50 = (
    "{ ecgs(first: 50) { edges { node { id date insights { lead zeroCrossings } } } "
    "pageInfo { hasNextPage endCursor } } }"
)
LIST_50_COUNT = (
    "{ ecgs(first: 50) { totalCount edges { node { id date insights { lead zeroCrossings } } } "
    "pageInfo { hasNextPage endCursor } } }"
)
SLICE_OFFSET = 2000
SLICE_LIMIT = 1000
SLICE = (
    "query Slice($id: ID!) { ecg(id: $id) { id leads { name "
    f"signal(offset: {SLICE_OFFSET}, limit: {SLICE_LIMIT}) }} }} }}"
)
TARGETS = {"insights": 1.5, "measurements": 1.5, "list50": 2.0}
# Dated before every stored ECG: changes the owner's ECGs without changing the first page.
TINY = Recording("tiny", "2000-01-01T00:00:00Z", None, [("I", [1, -1, 2, -2]), ("II", [0, 1])])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.query", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200, help="measured rounds (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured rounds first")
    parser.add_argument("--ecgs", type=int, default=60, help="ECGs stored for the user (>= 50)")
    parser.add_argument("--recording", default=DEFAULT_RECORDING, help="file in tests/data")
    parser.add_argument("--samples", type=int, default=5000, help="samples per lead")
    parser.add_argument("--seed", type=int, default=1, help="seed of orders and picks")
    add_stack_arguments(parser, bcrypt_rounds=4)
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 100_000 or not 0 <= args.warmup <= 10_000:
        parser.error("rounds must be 1..100000 and warmup 0..10000")
    if not 50 <= args.ecgs <= 10_000:
        parser.error("--ecgs must be 50..10000")
    if args.samples < SLICE_OFFSET + SLICE_LIMIT:
        parser.error(f"--samples must be at least {SLICE_OFFSET + SLICE_LIMIT}")

    recording = load_recording(args.recording, samples=args.samples, leads=12)
    template = upload_template(recording)
    rng = random.Random(args.seed)
    run_tag = unique_suffix()

    with Stack(stack_options(args)) as stack, Client(stack.base_url) as client:
        print(stack.describe(), file=sys.stderr)
        admin = client.login(stack.admin_username, stack.admin_password)
        _, token = register_user(client, admin, "query")
        ids = [f"q-{run_tag}-{n}" for n in range(args.ecgs)]
        setup_started = time.perf_counter()
        for ecg_id in ids:
            check_insights(client.upload(template, ecg_id, token), recording)
        print(
            f"stored {len(ids)} ECGs in {time.perf_counter() - setup_started:.1f} s",
            file=sys.stderr,
        )
        _check_answers(client, token, ids, recording)

        def request(query: str, with_id: bool) -> Callable[[], bytes]:
            if not with_id:
                body = graphql_body(query)
                return lambda: body
            return lambda: graphql_body(query, {"id": rng.choice(ids)})

        tiny = upload_template(TINY)
        changes: list[str] = []

        def change() -> None:  # untimed: the listing's next read is cold
            changes.append(f"q-{run_tag}-change-{len(changes)}")
            client.upload(tiny, changes[-1], token)

        operations: dict[str, Callable[[], bytes]] = {
            "me": request(ME, with_id=False),
            "insights": request(INSIGHTS, with_id=True),
            "measurements": request(MEASUREMENTS, with_id=True),
            "list50": request(LIST_50, with_id=False),
            "list50_changed": request(LIST_50, with_id=False),
            "list50_total": request(LIST_50_COUNT, with_id=False),
            "slice_12x1000": request(SLICE, with_id=True),
        }
        before: dict[str, Callable[[], None]] = {"list50_changed": change}
        times: dict[str, list[float]] = {name: [] for name in operations}
        for round_no in range(args.warmup + args.rounds):
            order = list(operations)
            rng.shuffle(order)
            for name in order:
                body = operations[name]()
                if name in before:
                    before[name]()
                    client.post(graphql_body(ME), token)  # the same connection state as others
                started = time.perf_counter()
                response = client.post(body, token)
                elapsed = time.perf_counter() - started
                checked_data(response)
                if round_no >= args.warmup:
                    times[name].append(elapsed)
        if not stack.owned:  # a long-lived server keeps nothing of the run
            client.delete_all(ids + changes, token)

    stats = {name: summary_ms(values) for name, values in times.items()}
    labels = {
        "me": "(a) me { id }  [baseline]",
        "insights": "(b) ecg(id) insights",
        "measurements": "(b2) ecg(id) measurements",
        "list50": "(c) ecgs(first: 50) with insights",
        "list50_changed": "(c') (c) right after a change",
        "list50_total": "(d) (c) + totalCount",
        "slice_12x1000": f"(e) 12 leads x signal(limit: {SLICE_LIMIT})",
    }
    print()
    print(
        f"Reads by a USER with {args.ecgs} ECGs of 12 x {args.samples} samples; "
        f"{args.rounds} rounds after {args.warmup} warm-up, order shuffled per round"
    )
    ratios, p10_ratios, verdicts = ratio_report(stats, labels, "me", TARGETS)
    print("\n" + "; ".join(verdicts))
    print_json_line(
        "query",
        {
            "ecgs_stored": args.ecgs,
            "samples_per_lead": args.samples,
            "rounds": args.rounds,
            "warmup": args.warmup,
            **stats,
            "ratios_to_me": {name: round(r, 3) for name, r in ratios.items()},
            "p10_ratios_to_me": {name: round(r, 3) for name, r in p10_ratios.items()},
            "targets": TARGETS,
        },
    )
    return 0


def _check_answers(client: Client, token: str, ids: list[str], recording: Recording) -> None:
    """One of each request, checked, so the timings are of correct answers."""
    listed = checked_data(client.post(graphql_body(LIST_50_COUNT), token))["ecgs"]
    if len(listed["edges"]) != 50 or listed["totalCount"] < len(ids):
        raise BenchError(f"listing: {len(listed['edges'])} edges, total {listed['totalCount']}")
    one = checked_data(client.post(graphql_body(INSIGHTS, {"id": ids[0]}), token))["ecg"]
    check_insights(one, recording)
    sliced = checked_data(client.post(graphql_body(SLICE, {"id": ids[0]}), token))["ecg"]
    want = [
        (name, values[SLICE_OFFSET : SLICE_OFFSET + SLICE_LIMIT])
        for name, values in recording.leads
    ]
    got = [(lead["name"], lead["signal"]) for lead in sliced["leads"]]
    if got != want:
        raise BenchError("signal slice differs from the uploaded samples")
    if not checked_data(client.post(graphql_body(ME), token))["me"]["id"]:
        raise BenchError("me answered without an id")


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))

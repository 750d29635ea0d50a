"""Listing cost against history size: a page of 50 at 50 and at 5,000 stored ECGs.

    python -m bench.history [--small 50] [--large 5000] [--rounds 100] [--warmup 10]

Two USERs on one stack: one with `--small` ECGs, one with `--large`, each ECG 12 leads x
`--samples` samples of a real recording (the listing reads no samples, only the ECG
documents) with its own date, spread at random over five years, as a clinic's history is.
Each round sends, in a shuffled order, `{ me { id } }` (the baseline), `ecgs(first: 50)`
with insights and pageInfo, the same with `totalCount`, and the page right after a change
to the user's ECGs (`list50_changed`: an untimed upload of a tiny ECG dated before all the
others, so the page is the same but no longer kept by the service and read from the
database; the tiny ECG is deleted afterwards, untimed, and the page read again), for each
user. Reports medians and the ratios large / small (target: within 1.3x) and to `me`
(target: within 2x).
Asserts only that answers are correct (50 edges, the right totalCount, newest date first).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.common import (
    DEFAULT_RECORDING,
    BenchError,
    BodyTemplate,
    Client,
    Stack,
    add_stack_arguments,
    checked_data,
    graphql_body,
    load_recording,
    print_json_line,
    print_table,
    register_user,
    run_benchmark,
    stack_options,
    summary_ms,
    unique_suffix,
)
from bench.common import UPLOAD as UPLOAD_QUERY

ME = "{ me { id } }"
NODES = "edges { node { id date insights { lead zeroCrossings } } } pageInfo { hasNextPage }"
LIST_50 = "{ ecgs(first: 50) { " + NODES + " } }"
LIST_50_COUNT = "{ ecgs(first: 50) { totalCount " + NODES + " } }"
SPAN = timedelta(days=5 * 365)
TINY_LEADS = [{"name": "I", "signal": [1, -1, 2, -2]}]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--small", type=int, default=50, help="ECGs of the first user")
    parser.add_argument("--large", type=int, default=5000, help="ECGs of the second user")
    parser.add_argument("--rounds", type=int, default=100, help="measured rounds")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured rounds first")
    parser.add_argument("--samples", type=int, default=500, help="samples per lead")
    parser.add_argument("--seed", type=int, default=1, help="seed of dates and orders")
    add_stack_arguments(parser, bcrypt_rounds=4)
    args = parser.parse_args(argv)
    recording = load_recording(DEFAULT_RECORDING, samples=args.samples)
    rng = random.Random(args.seed)
    tag = unique_suffix()
    start = datetime(2020, 1, 1, tzinfo=UTC)

    with Stack(stack_options(args)) as stack, Client(stack.base_url) as client:
        print(stack.describe(), file=sys.stderr)
        admin = client.login(stack.admin_username, stack.admin_password)
        users: dict[str, tuple[str, int]] = {}
        for label, count in (("small", args.small), ("large", args.large)):
            _, token = register_user(client, admin, f"history-{label}")
            users[label] = (token, count)
            started = time.perf_counter()
            for n in range(count):
                date = start + SPAN * rng.random()
                template = BodyTemplate(
                    UPLOAD_QUERY,
                    {
                        "input": {
                            "id": BodyTemplate.MARK,
                            "date": date.isoformat(),
                            "samplingRate": recording.sampling_rate,
                            "leads": [
                                {"name": name, "signal": values}
                                for name, values in recording.leads
                            ],
                        }
                    },
                )
                result = checked_data(client.post(template.render(f"h-{tag}-{n}"), token))
                if result["uploadEcg"]["__typename"] != "Ecg":
                    raise BenchError(f"upload: {result}")
            print(
                f"stored {count} ECGs in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
            listed = checked_data(client.post(graphql_body(LIST_50_COUNT), token))["ecgs"]
            dates = [edge["node"]["date"] for edge in listed["edges"]]
            if len(dates) != 50 or listed["totalCount"] != count or dates != sorted(
                dates, key=datetime.fromisoformat, reverse=True
            ):
                raise BenchError(f"listing of {label}: {json.dumps(listed)[:300]}")

        operations: dict[str, tuple[bytes, str]] = {}
        for label, (token, _) in users.items():
            operations[f"me_{label}"] = (graphql_body(ME), token)
            operations[f"list50_{label}"] = (graphql_body(LIST_50), token)
            operations[f"list50_total_{label}"] = (graphql_body(LIST_50_COUNT), token)
            operations[f"list50_changed_{label}"] = (graphql_body(LIST_50), token)
        tiny = BodyTemplate(
            UPLOAD_QUERY,
            {"input": {"id": BodyTemplate.MARK, "date": "2000-01-01", "leads": TINY_LEADS}},
        )
        times: dict[str, list[float]] = {name: [] for name in operations}
        for round_no in range(args.warmup + args.rounds):
            order = list(operations)
            rng.shuffle(order)
            for name in order:
                body, token = operations[name]
                changed = name.startswith("list50_changed")
                if changed:  # untimed: the page is no longer kept
                    tiny_id = f"h-{tag}-tiny-{round_no}"
                    checked_data(client.post(tiny.render(tiny_id), token))
                began = time.perf_counter()
                response = client.post(body, token)
                elapsed = time.perf_counter() - began
                checked_data(response)
                if changed:  # untimed: as it was, the page kept again
                    client.delete_all([tiny_id], token)
                    checked_data(client.post(body, token))
                if round_no >= args.warmup:
                    times[name].append(elapsed)

    stats = {name: summary_ms(values) for name, values in times.items()}
    me = stats["me_small"]["median_ms"]
    rows = []
    figures: dict[str, float] = {}
    for kind in ("list50", "list50_total", "list50_changed"):
        small = stats[f"{kind}_small"]["median_ms"]
        large = stats[f"{kind}_large"]["median_ms"]
        figures[f"{kind}_large_over_small"] = round(large / small, 3)
        figures[f"{kind}_large_over_me"] = round(large / me, 3)
        rows.append(
            [
                kind,
                f"{small:.2f}",
                f"{large:.2f}",
                f"{large / small:.2f}x",
                f"{small / me:.2f}x",
                f"{large / me:.2f}x",
            ]
        )
    print()
    print(
        f"A page of 50 at {args.small} and {args.large} stored ECGs; `me` {me:.2f} ms; "
        f"{args.rounds} rounds after {args.warmup}"
    )
    print_table(
        ["request", f"ms at {args.small}", f"ms at {args.large}", "large / small",
         "small / me", "large / me"],
        rows,
    )
    print_json_line(
        "history",
        {"small": args.small, "large": args.large, "rounds": args.rounds, **stats, **figures},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))

"""A/B of the plain-leaf execution fast path (api/execution.py) against Strawberry's standard
execution, in one process and one run, on the same data.

    python -m bench.execution [--rounds 300] [--ecgs 60]

A USER with `--ecgs` stored ECGs (12 leads of a real recording) runs a page of 50 ECGs with
their insights, and one ECG's insights, through `schema.execute` of two schemas that differ only
in the execution context class; rounds alternate the order. HTTP is left out on purpose: this
isolates what the fast path changes. Reports each median and the ratio standard / fast.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from bench.common import DEFAULT_RECORDING, load_recording, print_json_line, print_table
from ecg_graphql.api.context import Context
from ecg_graphql.api.schema import build_schema
from ecg_graphql.auth import service as auth
from ecg_graphql.auth import tokens
from ecg_graphql.config import Settings
from ecg_graphql.db.client import init_database, make_client
from ecg_graphql.db.embedded import EmbeddedDatabase
from ecg_graphql.ecgs import service as ecgs
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from ecg_graphql.main import build_services

LIST_50 = (
    "{ ecgs(first: 50) { edges { node { id date insights { lead zeroCrossings } } } "
    "pageInfo { hasNextPage endCursor } } }"
)
ONE = '{ ecg(id: "e0") { id insights { lead zeroCrossings } } }'


async def run(rounds: int, count: int) -> dict[str, float]:
    recording = load_recording(DEFAULT_RECORDING, leads=12, samples=5000)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp)) as db:
        settings = Settings(mongodb_url=db.url, jwt_secret="bench-" + "x" * 40, bcrypt_rounds=4)
        client = make_client(settings)
        await init_database(client, "bench_execution")
        user = await auth.create_user(
            username="bench", password="bench-password", role="USER", bcrypt_rounds=4
        )
        assert user.id is not None
        for i in range(count):
            leads = [LeadUpload(name, None, signal) for name, signal in recording.leads]
            upload = EcgUpload(
                id=f"e{i}",
                date=datetime.fromisoformat(recording.date),
                sampling_rate=None,
                leads=leads,
            )
            await ecgs.upload_ecg(owner_id=user.id, upload=upload)
        services = build_services(settings)
        token = tokens.issue_access_token(
            user_id=str(user.id), role="USER", secret=services.auth.jwt_secret, minutes=60
        )
        schemas = {
            "fast": build_schema(),
            "standard": build_schema(execution_context_class=StrawberryGraphQLCoreExecutionContext),
        }
        times: dict[str, list[float]] = {f"{q}_{k}": [] for q in ("list50", "one") for k in schemas}
        rng = random.Random(1)
        for i in range(rounds + 20):
            order = list(schemas.items())
            rng.shuffle(order)
            for name, schema in order:
                for query_name, query in (("list50", LIST_50), ("one", ONE)):
                    context = Context(services=services, token=token, client_address="127.0.0.1")
                    start = time.perf_counter()
                    result = await schema.execute(query, context_value=context)
                    elapsed = time.perf_counter() - start
                    assert result.errors is None, result.errors
                    if i >= 20:
                        times[f"{query_name}_{name}"].append(elapsed)
        await client.close()
    medians = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {
        **medians,
        "list50_ratio": medians["list50_standard"] / medians["list50_fast"],
        "one_ratio": medians["one_standard"] / medians["one_fast"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.execution", description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--ecgs", type=int, default=60)
    args = parser.parse_args()
    figures = asyncio.run(run(args.rounds, args.ecgs))
    print_table(
        ["query", "fast ms (median)", "standard ms (median)", "standard / fast"],
        [
            [
                q,
                f"{figures[f'{q}_fast']:.2f}",
                f"{figures[f'{q}_standard']:.2f}",
                f"{figures[f'{q}_ratio']:.2f}",
            ]
            for q in ("list50", "one")
        ],
    )
    print_json_line("execution", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

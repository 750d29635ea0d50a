"""Import benchmark: `importEcg` of a 10 s 12-lead DICOM (the Mortara file of tests/data) against
`uploadEcg` of the same leads as JSON, through HTTP in the same run.

    python -m bench.importing [--rounds 30] [--warmup 5]

Both store the same 12 x 10,000 samples through the same service path; the import adds base64
decoding, the hand-off to a capped reader process and the DICOM parse. The two requests run in
a random order within each round, so drift hits both alike. Target: import / upload <= 2x.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    BenchError,
    BodyTemplate,
    Client,
    Stack,
    add_stack_arguments,
    checked_data,
    load_recording,
    print_json_line,
    print_table,
    register_user,
    run_benchmark,
    stack_options,
    summary_ms,
    unique_suffix,
    upload_template,
)

TARGET_RATIO = 2.0
DICOM = Path(__file__).resolve().parent.parent / "tests" / "data" / "dicom" / "waveform_ecg.dcm"
IMPORT = """
mutation Import($input: ImportEcgInput!) {
  importEcg(input: $input) {
    __typename ... on Ecg { id } ... on ValidationError { fields { field message } }
  }
}
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.importing", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured rounds first")
    parser.add_argument("--seed", type=int, default=1, help="seed of the per-round order")
    add_stack_arguments(parser, bcrypt_rounds=4)
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10_000 or not 0 <= args.warmup <= 1_000:
        parser.error("rounds must be 1..10000 and warmup 0..1000")

    recording = load_recording("mortara_pydicom_12lead.json", samples=10_000, leads=12)
    upload_body = upload_template(recording)
    import_body = BodyTemplate(
        IMPORT,
        {
            "input": {
                "id": BodyTemplate.MARK,
                "files": [
                    {"name": "ecg.dcm", "content": base64.b64encode(DICOM.read_bytes()).decode()}
                ],
            }
        },
    )
    rng = random.Random(args.seed)
    run_tag = unique_suffix()
    with Stack(stack_options(args)) as stack:
        print(stack.describe(), file=sys.stderr)
        with Client(stack.base_url) as client:
            admin = client.login(stack.admin_username, stack.admin_password)
            _, token = register_user(client, admin, "importing")
            stored: list[str] = []

            def run_import() -> None:
                stored.append(f"import-{run_tag}-{len(stored)}")
                result = checked_data(client.post(import_body.render(stored[-1]), token))
                if result["importEcg"]["__typename"] != "Ecg":
                    raise BenchError(f"import: {result}")

            def run_upload() -> None:
                stored.append(f"upload-{run_tag}-{len(stored)}")
                client.upload(upload_body, stored[-1], token)

            steps: dict[str, Callable[[], None]] = {"import": run_import, "upload": run_upload}
            times: dict[str, list[float]] = {name: [] for name in steps}
            for round_no in range(args.warmup + args.rounds):
                order = list(steps)
                rng.shuffle(order)
                for name in order:
                    started = time.perf_counter()
                    steps[name]()
                    if round_no >= args.warmup:
                        times[name].append(time.perf_counter() - started)
            if not stack.owned:
                client.delete_all(stored, token)

    stats = {name: summary_ms(values) for name, values in times.items()}
    ratio = stats["import"]["median_ms"] / stats["upload"]["median_ms"]
    print(f"\nimportEcg of a 12 x 10000 DICOM vs uploadEcg of the same leads, {args.rounds} rounds")
    print_table(
        ["measurement", "median ms", "p10 ms", "p90 ms"],
        [
            [name, f"{s['median_ms']:.2f}", f"{s['p10_ms']:.2f}", f"{s['p90_ms']:.2f}"]
            for name, s in stats.items()
        ],
    )
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"\nratio import / upload = {ratio:.2f}x: {verdict} the target <= {TARGET_RATIO:.0f}x")
    print_json_line(
        "importing",
        {
            "rounds": args.rounds,
            "warmup": args.warmup,
            **stats,
            "ratio_import_to_upload": round(ratio, 3),
            "target_ratio": TARGET_RATIO,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))

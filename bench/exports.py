"""Export benchmark: the STANDARD SVG plot and the FHIR export of a 10 s 12-lead 1 kHz ECG, each
as a ratio to reading the same samples through GraphQL `signal`.

    python -m bench.exports [--rounds 60] [--warmup 10]

One USER stores the whole of `mortara_pydicom_12lead.json` (12 leads x 10,000 samples at 1000 Hz,
800 counts per mV, measured at upload). Each round sends, in a shuffled order:
  (a) signal  `ecg(id) { leads { name signal } }`: every sample of every lead, the baseline;
  (b) svg     `GET /ecgs/{id}/export.svg` (layout STANDARD);
  (c) fhir    `GET /ecgs/{id}/export.fhir.json`.
All three carry the same Bearer access token. Targets: (b)/(a) <= 3x, (c)/(a) <= 2x; and the SVG
under 300 KB. A time covers sending the request until the whole body has arrived; each answer is
checked once against the upload before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import xml.etree.ElementTree as ET  # parses the service's own SVG only
from collections.abc import Callable

import httpx

from bench.common import (
    DEFAULT_RECORDING,
    UPLOAD,
    BenchError,
    BodyTemplate,
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
)

UNITS_PER_MV = 800.0  # tests/data/README.md: Mortara, 1.25 uV per count
SAMPLES = 10_000
SIGNAL = "query Signal($id: ID!) { ecg(id: $id) { leads { name signal } } }"
TARGETS = {"svg": 3.0, "fhir": 2.0}
SVG_LIMIT_BYTES = 300_000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.exports", description=__doc__)
    parser.add_argument("--rounds", type=int, default=60, help="measured rounds (default 60)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured rounds first")
    parser.add_argument("--seed", type=int, default=1, help="seed of the orders")
    add_stack_arguments(parser, bcrypt_rounds=4)
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 10_000 or not 0 <= args.warmup <= 1_000:
        parser.error("rounds must be 1..10000 and warmup 0..1000")

    recording = load_recording(DEFAULT_RECORDING, samples=SAMPLES, leads=12)
    rng = random.Random(args.seed)
    ecg_id = f"exports-{unique_suffix()}"

    with Stack(stack_options(args)) as stack, Client(stack.base_url) as client:
        print(stack.describe(), file=sys.stderr)
        admin = client.login(stack.admin_username, stack.admin_password)
        _, token = register_user(client, admin, "exports")
        check_insights(client.upload(_upload_template(recording), ecg_id, token), recording)
        bearer = {"authorization": f"Bearer {token}"}
        svg_path = f"/ecgs/{ecg_id}/export.svg"
        fhir_path = f"/ecgs/{ecg_id}/export.fhir.json"
        signal_body = graphql_body(SIGNAL, {"id": ecg_id})
        svg_bytes = _check_answers(client, token, ecg_id, recording, svg_path, fhir_path)

        operations: dict[str, Callable[[], httpx.Response]] = {
            "signal": lambda: client.post(signal_body, token),
            "svg": lambda: client.http.get(svg_path, params={"layout": "STANDARD"}, headers=bearer),
            "fhir": lambda: client.http.get(fhir_path, headers=bearer),
        }
        times: dict[str, list[float]] = {name: [] for name in operations}
        for round_no in range(args.warmup + args.rounds):
            order = list(operations)
            rng.shuffle(order)
            for name in order:
                started = time.perf_counter()
                response = operations[name]()
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise BenchError(f"{name}: HTTP {response.status_code}")
                if round_no >= args.warmup:
                    times[name].append(elapsed)
        if not stack.owned:
            client.delete_all([ecg_id], token)

    stats = {name: summary_ms(values) for name, values in times.items()}
    labels = {
        "signal": "(a) signal of 12 leads x 10,000  [baseline]",
        "svg": "(b) GET export.svg, STANDARD",
        "fhir": "(c) GET export.fhir.json",
    }
    print()
    print(
        f"Exports of one 12-lead ECG, {SAMPLES} samples per lead at 1000 Hz; "
        f"{args.rounds} rounds after {args.warmup} warm-up, order shuffled per round"
    )
    ratios, p10_ratios, verdicts = ratio_report(stats, labels, "signal", TARGETS)
    size_verdict = "meets" if len(svg_bytes) < SVG_LIMIT_BYTES else "MISSES"
    verdicts.append(f"SVG {len(svg_bytes) / 1000:.1f} KB {size_verdict} < 300 KB")
    print("\n" + "; ".join(verdicts))
    print_json_line(
        "exports",
        {
            "samples_per_lead": SAMPLES,
            "leads": 12,
            "rounds": args.rounds,
            "warmup": args.warmup,
            **stats,
            "ratios_to_signal": {name: round(r, 3) for name, r in ratios.items()},
            "p10_ratios_to_signal": {name: round(r, 3) for name, r in p10_ratios.items()},
            "svg_bytes": len(svg_bytes),
            "targets": {**TARGETS, "svg_bytes": SVG_LIMIT_BYTES},
        },
    )
    return 0


def _upload_template(recording: Recording) -> BodyTemplate:
    return BodyTemplate(
        UPLOAD,
        {
            "input": {
                "id": BodyTemplate.MARK,
                "date": recording.date,
                "samplingRate": recording.sampling_rate,
                "unitsPerMillivolt": UNITS_PER_MV,
                "leads": [{"name": name, "signal": values} for name, values in recording.leads],
            }
        },
    )


def _check_answers(
    client: Client,
    token: str,
    ecg_id: str,
    recording: Recording,
    svg_path: str,
    fhir_path: str,
) -> bytes:
    """One of each request, checked against the upload; returns the SVG's bytes."""
    leads = checked_data(client.post(graphql_body(SIGNAL, {"id": ecg_id}), token))["ecg"]["leads"]
    if [(lead["name"], lead["signal"]) for lead in leads] != recording.leads:
        raise BenchError("signal differs from the uploaded samples")
    bearer = {"authorization": f"Bearer {token}"}
    svg = client.http.get(svg_path, headers=bearer)
    if svg.status_code != 200 or svg.headers["content-type"] != "image/svg+xml":
        raise BenchError(f"SVG: HTTP {svg.status_code}")
    root = ET.fromstring(svg.content)  # noqa: S314 - the service's own output
    traces = root.findall(".//{http://www.w3.org/2000/svg}g[@id='traces']/*")
    if root.attrib.get("width") != "297mm" or len(traces) != 13:
        raise BenchError(f"SVG: width {root.attrib.get('width')}, {len(traces)} traces")
    fhir = client.http.get(fhir_path, headers=bearer)
    if fhir.status_code != 200:
        raise BenchError(f"FHIR: HTTP {fhir.status_code}")
    sampled = [
        [int(v) for v in component["valueSampledData"]["data"].split()]
        for component in json.loads(fhir.content)["component"]
        if "valueSampledData" in component
    ]
    if sampled != [values for _, values in recording.leads]:
        raise BenchError("FHIR samples differ from the upload")
    return svg.content


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))

"""Analysis kernel benchmark: the measurements against the QRS detector alone, and a Holter.

    python -m bench.analysis [--rounds 60] [--warmup 5]

(1) A 10 s 12-lead ECG (the Mortara recording, and the same resampled to 500 Hz): the whole
analysis of issue 7 (per-lead amplitude and quality, beats fused over the 12 leads,
measurements) as a ratio to the least it must do, sleepecg's `detect_heartbeats` alone on
each of the same 12 leads (float conversion included). Target <= 3x. The two are timed in
alternation, shuffled in every round, so drift hits both alike.
(2) A 30-minute two-lead recording (MIT-BIH 100's 5 minutes tiled six times, 648,000
samples a lead): CPU time (process time) of the whole analysis, once. Target < 1 s.
No database, no HTTP: the pure functions only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable

import numpy as np
from sleepecg.heartbeats import detect_heartbeats

from bench.common import (
    REPO_ROOT,
    print_json_line,
    print_table,
    resampled,
    run_benchmark,
    summary_ms,
)
from ecg_graphql.insights import runner
from ecg_graphql.insights.signals import EcgSignal, LeadSignal

DATA = REPO_ROOT / "tests" / "data"
GAINS = {"mortara_pydicom_12lead.json": 800.0, "mitdb100_wfdb_centered.json": 200.0}


def load(name: str, rate: int | None = None, tiles: int = 1) -> EcgSignal:
    """A recording of tests/data as the analyses see it (resampled, tiled)."""
    data = json.loads((DATA / name).read_text())
    source = int(data["samplingRate"])
    target = rate or source
    leads = []
    for lead in data["leads"]:
        samples = resampled(lead["signal"], source, target)
        leads.append(LeadSignal(lead["name"], np.tile(samples, tiles), target, GAINS[name]))
    return EcgSignal(tuple(leads), float(target))


def analyse(ecg: EcgSignal) -> runner.Results:
    """Everything an upload computes for one ECG: the registry's analyses, as the runner runs
    them (zero crossings, amplitude, quality, beats, measurements on those beats)."""
    return runner.run(ecg, ecg_id="bench")


def detector_alone(ecg: EcgSignal) -> None:
    """The least work: the detector on every lead."""
    assert ecg.sampling_rate is not None
    for lead in ecg.leads:
        detect_heartbeats(lead.samples.astype(np.float64), ecg.sampling_rate)


def timed(function: Callable[[EcgSignal], object], ecg: EcgSignal) -> float:
    start = time.perf_counter()
    function(ecg)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    rows = []
    figures: dict[str, object] = {}
    for rate in (1000, 500):
        ecg = load("mortara_pydicom_12lead.json", rate)
        result = analyse(ecg).ecg["measurements"].get("value")
        if not isinstance(result, dict) or result.get("qt_interval") is None:
            print(f"analysis of the {rate} Hz ECG measured nothing: {result}", file=sys.stderr)
            return 1
        times: dict[str, list[float]] = {"analysis": [], "detector": []}
        kernels = {"analysis": analyse, "detector": detector_alone}
        for round_ in range(args.warmup + args.rounds):
            order = list(kernels)
            random.shuffle(order)
            for name in order:
                elapsed = timed(kernels[name], ecg)
                if round_ >= args.warmup:
                    times[name].append(elapsed)
        analysis, detector = summary_ms(times["analysis"]), summary_ms(times["detector"])
        ratio = analysis["median_ms"] / detector["median_ms"]
        p10_ratio = analysis["p10_ms"] / detector["p10_ms"]
        rows.append(
            [
                f"10 s x 12 leads at {rate} Hz",
                analysis["median_ms"],
                detector["median_ms"],
                f"**{ratio:.2f}x** (p10 {p10_ratio:.2f}x)",
                "<= 3x, " + ("met" if ratio <= 3 else "**missed**"),
            ]
        )
        figures[f"hz{rate}"] = {"analysis": analysis, "detector": detector, "ratio": ratio}
    holter = load("mitdb100_wfdb_centered.json", tiles=6)
    start = time.process_time()
    result = analyse(holter)
    cpu = time.process_time() - start
    holter_detector = time.process_time()
    detector_alone(holter)
    holter_detector = time.process_time() - holter_detector
    measured = result.ecg["measurements"].get("value")
    beats = measured.get("beat_count", 0) if isinstance(measured, dict) else 0
    rows.append(
        [
            f"30 min x 2 leads at 360 Hz ({beats} beats)",
            round(cpu * 1000, 1),
            round(holter_detector * 1000, 1),
            f"{cpu / holter_detector:.2f}x",
            "< 1 s CPU, " + ("met" if cpu < 1 else "**missed**"),
        ]
    )
    figures["holter"] = {"cpu_s": cpu, "detector_cpu_s": holter_detector, "beats": beats}
    print_table(["ECG", "analysis ms", "detector alone ms", "ratio", "target"], rows)
    print_json_line("analysis", figures)
    return 0


if __name__ == "__main__":
    sys.exit(run_benchmark(main))

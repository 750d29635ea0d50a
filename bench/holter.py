"""A 24 h Holter through the chunked API and the in-process worker: the API's resident memory.

    python -m bench.holter [--hours 24] [--rate 250] [--seed 1]

Three real leads (I, II, V5 of PTB s0010, 1000 Hz, decimated to `--rate` and tiled to
`--hours`: 64.8 M samples at the defaults) are uploaded with startEcgUpload / appendEcgChunk
(every chunk, in shuffled order) / finishEcgUpload to a served instance (`python -m
ecg_graphql serve` as a subprocess, with its in-process analysis worker), which then
analyses it in the background. The API process's VmRSS (from /proc, every 50 ms) is reported
before the upload, at its peak during the upload and during the analysis, and after; the
target is growth <= 200 MB (DESIGN.md "Large ECGs (Holter)"). Also the upload time, the
analysis time (finishEcgUpload to DONE, as the client sees it), and checks: the ECG is
invisible before finish, a slice from the middle reads back exactly, zero crossings, min and
max equal those computed here.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.signal

from bench.common import (
    TEST_DATA,
    BenchError,
    Client,
    Stack,
    add_stack_arguments,
    checked_data,
    graphql_body,
    print_json_line,
    print_table,
    register_user,
    rss_kib,
    run_benchmark,
    stack_options,
)

SOURCE = "ptb_s0010_wfdb.json"
LEADS = ("I", "II", "V5")
GROWTH_TARGET_MB = 200.0
START = """
mutation Start($input: StartEcgUploadInput!) {
  startEcgUpload(input: $input) {
    __typename
    ... on EcgUpload { uploadId chunkSamples chunkCount }
    ... on ValidationError { fields { field message } }
  }
}
"""
FINISH = """
mutation Finish($id: ID!) {
  finishEcgUpload(uploadId: $id) { __typename ... on Ecg { id analysisStatus } }
}
"""
STATUS = """
query Status($id: ID!) {
  ecg(id: $id) {
    analysisStatus
    insights { lead zeroCrossings min max quality }
    measurements { beatCount heartRate qrsDuration qtInterval }
  }
}
"""
SLICE = """
query Slice($id: ID!, $offset: Int!, $limit: Int!) {
  ecg(id: $id) { leads { signal(offset: $offset, limit: $limit) } }
}
"""


def holter(hours: float, rate: int) -> list[npt.NDArray[np.int16]]:
    """The three leads, decimated from 1000 Hz to `rate` and tiled to `hours`."""
    raw: dict[str, Any] = json.loads((TEST_DATA / SOURCE).read_text())
    by_name = {lead["name"]: lead["signal"] for lead in raw["leads"]}
    length = round(hours * 3600 * rate)
    leads = []
    for name in LEADS:
        source = np.asarray(by_name[name], dtype=np.float64)
        resampled = scipy.signal.resample_poly(source, rate, int(raw["samplingRate"]))
        leads.append(np.resize(np.round(resampled).astype(np.int16), length))
    return leads


def zero_crossings(samples: npt.NDArray[np.integer]) -> int:
    """DESIGN.md's definition (sign changes between consecutive non-zero samples)."""
    signs = np.signbit(samples[samples != 0])
    return int(np.count_nonzero(signs[1:] != signs[:-1]))


class RssSampler:
    """Samples a process's VmRSS every `interval` s in a thread; peak per phase."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.phase = "before"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_kib(self.pid)
            if value is not None:
                self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), value)
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def chunk_body(upload_id: str, seq: int, leads: list[npt.NDArray[np.int16]], size: int) -> bytes:
    """The appendEcgChunk request for chunk `seq`, JSON built directly (fast)."""
    parts = [
        "[" + ",".join(map(str, lead[seq * size : (seq + 1) * size].tolist())) + "]"
        for lead in leads
    ]
    query = json.dumps(
        "mutation A($id: ID!, $seq: Int!, $leads: [Samples!]!) { appendEcgChunk("
        "uploadId: $id, seq: $seq, leads: $leads) { __typename "
        "... on ValidationError { fields { field message } } } }"
    )
    return (
        f'{{"query":{query},"variables":{{"id":{json.dumps(upload_id)},"seq":{seq},'
        f'"leads":[{",".join(parts)}]}}}}'
    ).encode()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table and one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.holter", description=__doc__)
    parser.add_argument("--hours", type=float, default=24.0, help="recording length")
    parser.add_argument("--rate", type=int, default=250, help="sampling rate, Hz")
    parser.add_argument("--seed", type=int, default=1, help="seed of the chunk order")
    add_stack_arguments(parser, bcrypt_rounds=4)
    args = parser.parse_args(argv)
    leads = holter(args.hours, args.rate)
    length = int(leads[0].size)
    total = length * len(leads)
    print(f"{len(leads)} leads x {length:,} samples = {total:,}", file=sys.stderr)

    with Stack(stack_options(args)) as stack, Client(stack.base_url, timeout=300.0) as client:
        print(stack.describe(), file=sys.stderr)
        if stack.server_pid is None:
            raise BenchError("cannot find the API process to read its memory")
        admin = client.login(stack.admin_username, stack.admin_password)
        _, token = register_user(client, admin, "holter")
        checked_data(client.post(graphql_body("{ me { id } }"), token))  # warm
        time.sleep(1.0)
        before = rss_kib(stack.server_pid) or 0
        with RssSampler(stack.server_pid) as rss:
            rss.phase = "upload"
            began = time.perf_counter()
            start_input = {
                "id": "holter-24h",
                "date": "2024-05-01T08:00:00Z",
                "samplingRate": float(args.rate),
                "unitsPerMillivolt": 2000.0,
                "leads": [{"name": n, "numberOfSamples": length} for n in LEADS],
            }
            opened = checked_data(client.post(graphql_body(START, {"input": start_input}), token))
            upload = opened["startEcgUpload"]
            if upload["__typename"] != "EcgUpload":
                raise BenchError(f"start: {upload}")
            order = list(range(upload["chunkCount"]))
            random.Random(args.seed).shuffle(order)
            for seq in order:
                body = chunk_body(upload["uploadId"], seq, leads, upload["chunkSamples"])
                result = checked_data(client.post(body, token))["appendEcgChunk"]
                if result["__typename"] != "EcgUpload":
                    raise BenchError(f"chunk {seq}: {result}")
            hidden = checked_data(client.post(graphql_body(STATUS, {"id": "holter-24h"}), token))
            if hidden["ecg"] is not None:
                raise BenchError("the ECG is visible before finishEcgUpload")
            finished = checked_data(
                client.post(graphql_body(FINISH, {"id": upload["uploadId"]}), token)
            )["finishEcgUpload"]
            uploaded = time.perf_counter()
            rss.phase = "analysis"
            if finished.get("analysisStatus") != "PENDING":
                raise BenchError(f"finish: {finished}")
            while True:
                status = checked_data(
                    client.post(graphql_body(STATUS, {"id": "holter-24h"}), token)
                )["ecg"]
                if status["analysisStatus"] != "PENDING":
                    break
                time.sleep(0.25)
            analysed = time.perf_counter()
            rss.phase = "after"
            time.sleep(2.0)
        after = rss_kib(stack.server_pid) or 0
        if status["analysisStatus"] != "DONE":
            raise BenchError(f"analysis: {status}\n{stack.log_tail()}")
        middle = length // 2
        sliced = checked_data(
            client.post(
                graphql_body(SLICE, {"id": "holter-24h", "offset": middle, "limit": 5000}),
                token,
            )
        )["ecg"]["leads"]
        for lead, samples in zip(sliced, leads, strict=True):
            if lead["signal"] != samples[middle : middle + 5000].tolist():
                raise BenchError("the slice from the middle differs")
        for insight, samples in zip(status["insights"], leads, strict=True):
            want = (zero_crossings(samples), int(samples.min()), int(samples.max()))
            got = (insight["zeroCrossings"], insight["min"], insight["max"])
            if got != want:
                raise BenchError(f"lead {insight['lead']}: {got} != {want}")

    peaks = rss.peaks
    mb = 1024.0
    figures = {
        "samples": total,
        "chunks": len(order),
        "rss_before_mb": round(before / mb, 1),
        "rss_peak_upload_mb": round(peaks.get("upload", 0) / mb, 1),
        "rss_peak_analysis_mb": round(peaks.get("analysis", 0) / mb, 1),
        "rss_after_mb": round(after / mb, 1),
        "growth_mb": round((max(peaks.values()) - before) / mb, 1),
        "upload_s": round(uploaded - began, 1),
        "analysis_s": round(analysed - uploaded, 1),
        "measurements": status["measurements"],
        "quality": [i["quality"] for i in status["insights"]],
    }
    print()
    print(
        f"{args.hours:g} h x {len(leads)} leads x {args.rate} Hz = {total:,} samples in "
        f"{len(order)} chunks (shuffled); API process RSS, MB"
    )
    print_table(
        [
            "before",
            "peak upload",
            "peak analysis",
            "after",
            "growth",
            "target",
            "upload s",
            "analysis s",
        ],
        [
            [
                figures["rss_before_mb"],
                figures["rss_peak_upload_mb"],
                figures["rss_peak_analysis_mb"],
                figures["rss_after_mb"],
                figures["growth_mb"],
                f"<= {GROWTH_TARGET_MB:.0f}",
                figures["upload_s"],
                figures["analysis_s"],
            ]
        ],
    )
    print(f"measurements: {status['measurements']}")
    print_json_line("holter", figures)
    growth = float(str(figures["growth_mb"]))
    return 0 if growth <= GROWTH_TARGET_MB else 2


if __name__ == "__main__":
    raise SystemExit(run_benchmark(main))

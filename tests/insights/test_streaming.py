"""The streaming (windowed) forms of the analyses give the in-memory results: on the real
recordings, on hours of tiled MIT-BIH 100, and for quality and zero crossings on signals
built to put runs, zeros and new extremes on block edges; and they read bounded stretches."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from ecg_graphql.insights import amplitude, measurements, quality, runner, zero_crossings
from ecg_graphql.insights.beats import OVERLAP_SECONDS, WINDOW_SECONDS, detect_beats
from ecg_graphql.insights.signals import EcgSignal, EcgSource, LeadInfo, LeadSignal
from ecg_graphql.insights.stored import stored_ints
from tests.harness import TEST_DATA, load_signal

RECORDINGS = sorted(
    p.name for p in TEST_DATA.glob("*.json") if not p.name.endswith(".annotations.json")
)
MITDB = "mitdb100_wfdb_centered.json"


def tiled(ecg: EcgSignal, seconds: float) -> EcgSignal:
    """The recording repeated to `seconds` (every lead)."""
    assert ecg.sampling_rate is not None
    length = round(seconds * ecg.sampling_rate)
    return EcgSignal(
        tuple(
            dataclasses.replace(lead, samples=np.resize(lead.samples, length)) for lead in ecg.leads
        ),
        ecg.sampling_rate,
    )


def without_means(results: runner.Results) -> dict[str, Any]:
    """The lead results with amplitude's float sums taken out (compared apart)."""
    lead = {k: v for k, v in results.lead.items() if k != "amplitude"}
    exact = [{"min": a["min"], "max": a["max"]} for a in results.lead["amplitude"]["values"]]
    return {"lead": lead, "amplitude": exact, "ecg": results.ecg}


def assert_means_close(got: runner.Results, want: runner.Results) -> None:
    for a, b in zip(got.lead["amplitude"]["values"], want.lead["amplitude"]["values"], strict=True):
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-12, abs=1e-9)
        assert a["rms"] == pytest.approx(b["rms"], rel=1e-12)


class Recorded:
    """A source over an in-memory ECG that records the size of every read."""

    def __init__(self, ecg: EcgSignal) -> None:
        self.inner = EcgSource.of(ecg)
        self.reads: list[int] = []  # samples of the longest lead each read returned
        self.source = dataclasses.replace(self.inner, read=self.read)

    def read(self, leads: Sequence[int], start: int, stop: int) -> list[npt.NDArray[np.int64]]:
        arrays = self.inner.read(leads, start, stop)
        self.reads.append(max((a.size for a in arrays), default=0))
        return arrays


STREAMED = runner.Registry(stream_above=0)  # streamed whatever the length


@pytest.mark.parametrize("name", RECORDINGS)
def test_windowed_run_equals_in_memory_on_real_recordings(name: str) -> None:
    ecg = load_signal(name)
    want = runner.run(ecg, ecg_id=name)
    # Blocks of the amplitude sums' own size: every result identical, floats included.
    same = runner.run_source(EcgSource.of(ecg), ecg_id=name, registry=STREAMED)
    assert same.lead == want.lead
    assert same.ecg == want.ecg
    # Small, odd blocks: every edge case of the accumulators is crossed many times.
    small = runner.run_source(
        EcgSource.of(ecg), ecg_id=name, registry=runner.Registry(stream_above=0, block_samples=997)
    )
    assert without_means(small) == without_means(want)
    assert_means_close(small, want)


@pytest.mark.parametrize("hours", [1, 6])
def test_windowed_run_equals_in_memory_on_hours_of_mitbih(hours: int) -> None:
    ecg = tiled(load_signal(MITDB), hours * 3600)
    want = runner.run(ecg, ecg_id="holter")
    recorded = Recorded(ecg)
    got = runner.run_source(recorded.source, ecg_id="holter", registry=STREAMED)
    assert got.lead == want.lead
    assert got.ecg == want.ecg
    value = want.ecg["measurements"]["value"]
    assert value["beat_count"] > 4000 * hours  # about 75 bpm, every hour of it
    assert value["qrs_duration"] is not None
    # Never more than a block or a beat window (with its overlap) of a lead at once.
    assert ecg.sampling_rate is not None
    window = round(WINDOW_SECONDS * ecg.sampling_rate)
    assert max(recorded.reads) <= max(runner.BLOCK_SAMPLES, window)
    assert max(recorded.reads) < ecg.leads[0].samples.size


def test_run_source_streams_only_above_the_threshold() -> None:
    ecg = tiled(load_signal(MITDB), 600)  # 2 x 216,000 samples
    total = sum(lead.samples.size for lead in ecg.leads)
    whole = Recorded(ecg)
    runner.run_source(whole.source, ecg_id="x", registry=runner.Registry(stream_above=total))
    assert whole.reads == [ecg.leads[0].samples.size]  # one read of everything
    streamed = Recorded(ecg)
    got = runner.run_source(
        streamed.source,
        ecg_id="x",
        registry=runner.Registry(stream_above=total - 1, block_samples=50_000),
    )
    assert max(streamed.reads) < ecg.leads[0].samples.size
    want = runner.run(ecg, ecg_id="x")
    assert without_means(got) == without_means(want)
    assert_means_close(got, want)


def test_measurements_read_only_the_representative_segment() -> None:
    ecg = tiled(load_signal(MITDB), 3600)
    beats = detect_beats(ecg)
    assert beats is not None
    qualities = [quality.quality(lead) for lead in ecg.leads]
    recorded = Recorded(ecg)
    got = measurements.measure_windows(recorded.source, beats, qualities=qualities)
    assert got == measurements.measure(ecg, beats, qualities=qualities)
    assert ecg.sampling_rate is not None
    # One read: the 20 s segment and 1 s of filter padding either side.
    assert len(recorded.reads) == 1
    assert recorded.reads[0] <= round(22 * ecg.sampling_rate)
    # Without the verdicts they are judged from the leads, a block at a time.
    judged = Recorded(ecg)
    assert measurements.measure_windows(judged.source, beats) == got
    assert max(judged.reads) <= 1 << 20


def test_beats_on_window_edges_are_found_once_when_streamed() -> None:
    ecg = tiled(load_signal(MITDB), 1800)
    assert ecg.sampling_rate is not None
    packed = runner.run_source(EcgSource.of(ecg), ecg_id="x", registry=STREAMED).ecg["beats"]
    found = stored_ints(packed["value"])
    assert found is not None
    beats = found.tolist()
    assert beats == sorted(set(beats))
    assert min(np.diff(beats)) >= 0.2 * ecg.sampling_rate  # no beat twice across an edge
    edges = np.arange(1, 6) * round((WINDOW_SECONDS - OVERLAP_SECONDS) * ecg.sampling_rate)
    # Beats near every window edge were found, so the windows do meet.
    near = [min(abs(np.asarray(beats) - edge)) for edge in edges]
    assert max(near) < 1.2 * ecg.sampling_rate


# --- accumulators against the whole-lead functions, with blocks cut anywhere ---------------


def split(samples: npt.NDArray[np.integer], rng: random.Random, sizes: Sequence[int]) -> list[Any]:
    """The samples cut into consecutive blocks of sizes drawn from `sizes`."""
    blocks = []
    start = 0
    while start < samples.size:
        size = rng.choice(sizes)
        blocks.append(samples[start : start + size])
        start += size
    return blocks


def streamed_quality(lead: LeadSignal, blocks: list[Any]) -> str | None:
    info = LeadInfo(lead.name, int(lead.samples.size), lead.sampling_rate, lead.units_per_mv)
    verdict = quality.Accumulator(info)
    for block in blocks:
        verdict.add(block)
    return verdict.result()


@pytest.mark.parametrize("name", RECORDINGS)
def test_quality_streamed_equals_whole_on_real_leads(name: str) -> None:
    rng = random.Random(name)  # noqa: S311  (block sizes for a test, not a secret)
    for lead in load_signal(name).leads:
        for sizes in ([7, 64, 1000], [4096]):
            assert streamed_quality(lead, split(lead.samples, rng, sizes)) == quality.quality(lead)
        # Sample by sample, on a prefix (a whole lead would be slow).
        prefix = dataclasses.replace(lead, samples=lead.samples[:3000])
        one_by_one = split(prefix.samples, rng, [1])
        assert streamed_quality(prefix, one_by_one) == quality.quality(prefix)


def clipping_cases(rng: random.Random, rate: float) -> list[npt.NDArray[np.integer]]:
    """Signals whose verdict hangs on runs at the extremes, placed anywhere."""
    run = math.floor(quality.CLIPPED_RUN_SECONDS * rate) + 1
    base = load_signal(MITDB).leads[0].samples[: round(20 * rate)].copy()
    low, high = int(base.min()), int(base.max())
    cases = []
    for length in (run - 1, run, run + 1, 5 * run):
        for value in (low, high, low - 5, high + 5):
            signal = base.copy()
            at = rng.randrange(0, signal.size - length)
            signal[at : at + length] = value
            cases.append(signal)
    # A long run at an extreme that a later, lower sample makes no longer the minimum.
    superseded = base.copy()
    superseded[100 : 100 + 3 * run] = low - 1
    superseded[-10] = low - 2
    cases.append(superseded)
    # Two runs at the minimum, each short, separated by one sample.
    split_run = base.copy()
    split_run[500 : 500 + run - 2] = low - 3
    split_run[500 + run - 1 : 500 + 2 * run - 2] = low - 3
    cases.append(split_run)
    return cases


@pytest.mark.parametrize("seed", range(6))
def test_quality_streamed_equals_whole_on_runs_across_block_edges(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  (block sizes for a test, not a secret)
    rate = 360.0
    verdicts = set()
    for samples in clipping_cases(rng, rate):
        lead = LeadSignal("II", samples, rate, 200.0)
        want = quality.quality(lead)
        verdicts.add(want)
        for sizes in ([3, 5, 8], [17, 18, 19], [1000]):
            assert streamed_quality(lead, split(samples, rng, sizes)) == want
    assert {quality.CLIPPED, quality.GOOD} <= verdicts  # the cases do test both sides


@pytest.mark.parametrize(
    ("samples", "rate", "gain"),
    [
        (np.full(9000, 4, dtype=np.int64), 500.0, None),  # FLAT
        (np.arange(9000, dtype=np.int64) % 3, 500.0, 1000.0),  # FLAT by gain
        (np.random.default_rng(1).normal(0, 300, 90_000).round().astype(np.int64), 500.0, None),
        (np.random.default_rng(2).normal(0, 300, 90_000).round().astype(np.int64), None, None),
        (np.array([5], dtype=np.int64), 500.0, None),
        (np.array([1, -1, 2], dtype=np.int64), 500.0, None),
    ],
)
def test_quality_streamed_equals_whole_on_edge_signals(
    samples: npt.NDArray[np.int64], rate: float | None, gain: float | None
) -> None:
    lead = LeadSignal("II", samples, rate, gain)
    rng = random.Random(0)  # noqa: S311  (block sizes for a test, not a secret)
    for sizes in ([1, 2], [999], [1 << 20]):
        assert streamed_quality(lead, split(samples, rng, sizes)) == quality.quality(lead)


def test_quality_refuses_a_stream_of_the_wrong_length() -> None:
    verdict = quality.Accumulator(LeadInfo("II", 10, 500.0, None))
    verdict.add(np.arange(9, dtype=np.int64))
    with pytest.raises(ValueError, match="9 samples of 10"):
        verdict.result()


@pytest.mark.parametrize("seed", range(20))
def test_zero_crossings_and_amplitude_streamed_equal_whole(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311  (block sizes for a test, not a secret)
    # Runs of zeros long enough to span blocks, so a crossing hides across several edges.
    pieces = [
        rng.choice([[0] * rng.randint(1, 40), [rng.randint(-9, 9)], [rng.randint(1, 9)] * 3])
        for _ in range(400)
    ]
    samples = np.array([x for piece in pieces for x in piece], dtype=np.int64)
    counter = zero_crossings.Counter()
    amp = amplitude.Accumulator("II")
    for block in split(samples, rng, [1, 2, 3, 17]):
        counter.add(block)
        amp.add(block)
    assert counter.result() == zero_crossings.zero_crossings(samples)
    want = amplitude.amplitude(LeadSignal("II", samples, None, None))
    got = amp.result()
    assert (got.min, got.max) == (want.min, want.max)
    assert got.mean == pytest.approx(want.mean, rel=1e-12, abs=1e-12)
    assert got.rms == pytest.approx(want.rms, rel=1e-12)

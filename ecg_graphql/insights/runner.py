"""Running the registry's analyses on an ECG: each isolated, results tagged with versions.

An analysis that raises is logged with the ECG's id and recorded as failed; the others'
results are kept and the ECG is stored all the same (a failing analysis never loses an
upload). Results are stored in their plain (BSON) form.

An ECG read from storage (`run_source`) is analysed in memory up to `Registry.stream_above`
samples, exactly as an upload is; above that (a Holter recording) it is never held whole:
the per-lead analyses' accumulators are fed every lead a block at a time, in one pass, and
the per-ECG analyses read the windows they need (`EcgAnalysis.windows`). Both forms give the
same results (tests/insights/test_streaming.py), so the threshold changes memory, not values.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from ecg_graphql.insights import amplitude
from ecg_graphql.insights.registry import ECG_ANALYSES, LEAD_ANALYSES, EcgAnalysis, LeadAnalysis
from ecg_graphql.insights.signals import (
    EcgSignal,
    EcgSource,
    LeadAccumulator,
    LeadSignal,
    ReadFailed,
)
from ecg_graphql.insights.stored import packed

logger = logging.getLogger(__name__)

LEAD_RESULTS = "insights"  # stored as {name: {"version", "values": [one per lead]}}
ECG_RESULTS = "analyses"  # stored as {name: {"version", "value"}}
Record = dict[str, Any]

# Samples (all leads together) up to which a stored ECG is read whole and analysed in
# memory (16 MB as int64, plus the analyses' float64 copies of one lead).
STREAM_ABOVE = 2_000_000
# Samples of every lead per read when streaming: the amplitude sums' own block, so the
# streamed means are exactly the in-memory ones.
BLOCK_SAMPLES = amplitude.BLOCK


class AnalysisStatus(StrEnum):
    """Whether every registered analysis has a current result for an ECG."""

    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Registry:
    """The analyses to run; the defaults are the registry's."""

    lead: Sequence[LeadAnalysis] = LEAD_ANALYSES
    ecg: Sequence[EcgAnalysis] = ECG_ANALYSES
    stream_above: int = STREAM_ABOVE  # see `run_source`
    block_samples: int = BLOCK_SAMPLES


DEFAULT = Registry()


@dataclass(slots=True)
class Results:
    """New records of one run: analysis name -> stored record."""

    lead: dict[str, Record] = field(default_factory=dict)
    ecg: dict[str, Record] = field(default_factory=dict)

    def as_update(self) -> dict[str, Record]:
        """The records as dotted fields of a `$set`."""
        return {
            **{f"{LEAD_RESULTS}.{name}": r for name, r in self.lead.items()},
            **{f"{ECG_RESULTS}.{name}": r for name, r in self.ecg.items()},
        }


def plain(value: object) -> Any:
    """A result in its stored form: dataclasses as dicts, numpy values as Python ones,
    non-finite floats as None, and a 1-D integer array (beat positions) packed as bytes
    (insights/stored.py)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        ints = packed(value)
        return ints if ints is not None else [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _failed(version: int, error: BaseException, *, ecg_id: str, name: str) -> Record:
    # The error's type only: messages may quote sample values.
    logger.error("analysis failed ecg=%s analysis=%s error=%s", ecg_id, name, type(error).__name__)
    return {"version": version, "error": type(error).__name__}


def run(
    ecg: EcgSignal,
    *,
    ecg_id: str,
    stored: Mapping[str, Record] | None = None,
    stored_leads: Mapping[str, Record] | None = None,
    only: Collection[str] | None = None,
    registry: Registry = DEFAULT,
) -> Results:
    """Compute the analyses named in `only` (all when None) over `ecg` (CPU only: call it
    off the event loop). Per-ECG analyses may build on the results of every per-lead
    analysis (a list, one value per lead) and of the per-ECG analyses before them, by name:
    fresh ones, else the ECG's `stored_leads` and `stored` records (failed ones as None)."""
    results = Results()
    for lead_analysis in registry.lead:
        if only is not None and lead_analysis.name not in only:
            continue
        try:
            if lead_analysis.every_lead is not None:
                values = [plain(value) for value in lead_analysis.every_lead(ecg.leads)]
            else:
                values = [plain(lead_analysis.compute(lead)) for lead in ecg.leads]
        except Exception as error:  # isolated: the other analyses and the upload go on
            results.lead[lead_analysis.name] = _failed(
                lead_analysis.version, error, ecg_id=ecg_id, name=lead_analysis.name
            )
        else:
            results.lead[lead_analysis.name] = {"version": lead_analysis.version, "values": values}
    _run_ecg_analyses(
        results,
        lambda analysis, prior: analysis.compute(ecg, prior),
        ecg_id=ecg_id,
        stored=stored,
        stored_leads=stored_leads,
        only=only,
        registry=registry,
    )
    return results


def _run_ecg_analyses(
    results: Results,
    compute: Callable[[EcgAnalysis, dict[str, object]], object],
    *,
    ecg_id: str,
    stored: Mapping[str, Record] | None,
    stored_leads: Mapping[str, Record] | None,
    only: Collection[str] | None,
    registry: Registry,
) -> None:
    prior: dict[str, object] = {
        **{name: r.get("values") for name, r in (stored_leads or {}).items()},
        **{name: r.get("values") for name, r in results.lead.items()},
        **{name: r.get("value") for name, r in (stored or {}).items()},
    }
    for ecg_analysis in registry.ecg:
        if only is not None and ecg_analysis.name not in only:
            continue
        try:
            value = plain(compute(ecg_analysis, dict(prior)))
        except ReadFailed:
            raise
        except Exception as error:
            results.ecg[ecg_analysis.name] = _failed(
                ecg_analysis.version, error, ecg_id=ecg_id, name=ecg_analysis.name
            )
            prior[ecg_analysis.name] = None
        else:
            results.ecg[ecg_analysis.name] = {"version": ecg_analysis.version, "value": value}
            prior[ecg_analysis.name] = value


def run_source(
    source: EcgSource,
    *,
    ecg_id: str,
    stored: Mapping[str, Record] | None = None,
    stored_leads: Mapping[str, Record] | None = None,
    only: Collection[str] | None = None,
    registry: Registry = DEFAULT,
) -> Results:
    """`run` on an ECG read from `source` (CPU and blocking reads: call it off the event
    loop). Up to `registry.stream_above` samples it is read whole and `run` runs; above,
    nothing holds the ECG: per-lead analyses are fed `registry.block_samples` of every lead
    at a time (one pass over the signal for all of them), per-ECG analyses run through their
    windowed forms. An analysis without a streaming form reads what it needs whole (one lead,
    or the ECG): memory is then that analysis's, as in `run`. Errors are isolated as in `run`."""
    if sum(lead.number_of_samples for lead in source.leads) <= registry.stream_above:
        return run(
            source.segment(0, source.longest),
            ecg_id=ecg_id,
            stored=stored,
            stored_leads=stored_leads,
            only=only,
            registry=registry,
        )
    results = Results()
    selected = [a for a in registry.lead if only is None or a.name in only]
    errors: dict[str, Exception] = {}
    streams: dict[str, list[LeadAccumulator]] = {}
    for lead_analysis in selected:
        if lead_analysis.stream is None:
            continue
        try:
            streams[lead_analysis.name] = [lead_analysis.stream(info) for info in source.leads]
        except Exception as error:
            errors[lead_analysis.name] = error
    if streams:
        for _, blocks in source.blocks(max(1, registry.block_samples)):
            for name, accumulators in list(streams.items()):
                try:
                    for accumulator, block in zip(accumulators, blocks, strict=True):
                        accumulator.add(block)
                except ReadFailed:
                    raise
                except Exception as error:  # this analysis fails; the others go on
                    errors[name] = error
                    del streams[name]
    for lead_analysis in selected:
        name = lead_analysis.name
        try:
            if name in errors:
                raise errors[name]
            if name in streams:
                values = [plain(accumulator.result()) for accumulator in streams[name]]
            else:
                values = [
                    plain(lead_analysis.compute(_whole_lead(source, i)))
                    for i in range(len(source.leads))
                ]
        except ReadFailed:
            raise
        except Exception as error:
            results.lead[name] = _failed(lead_analysis.version, error, ecg_id=ecg_id, name=name)
        else:
            results.lead[name] = {"version": lead_analysis.version, "values": values}

    def compute(analysis: EcgAnalysis, prior: dict[str, object]) -> object:
        if analysis.windows is not None:
            return analysis.windows(source, prior)
        return analysis.compute(source.segment(0, source.longest), prior)

    _run_ecg_analyses(
        results,
        compute,
        ecg_id=ecg_id,
        stored=stored,
        stored_leads=stored_leads,
        only=only,
        registry=registry,
    )
    return results


def _whole_lead(source: EcgSource, index: int) -> LeadSignal:
    info = source.leads[index]
    samples = source.read([index], 0, info.number_of_samples)[0]
    return LeadSignal(info.name, samples, info.sampling_rate, info.units_per_mv)


def _current(record: Record | None, version: int) -> bool:
    return record is not None and record.get("version", 0) >= version and "error" not in record


def stale(
    lead_records: Mapping[str, Record],
    ecg_records: Mapping[str, Record],
    registry: Registry = DEFAULT,
) -> set[str]:
    """The analyses an ECG lacks, has at an older version, or failed."""
    names = {a.name for a in registry.lead if not _current(lead_records.get(a.name), a.version)}
    names |= {a.name for a in registry.ecg if not _current(ecg_records.get(a.name), a.version)}
    # A per-ECG analysis builds on those before it: recompute what follows a stale one.
    order = [a.name for a in registry.ecg]
    first = min((order.index(n) for n in names if n in order), default=len(order))
    return names | set(order[first:])


def stale_query(registry: Registry = DEFAULT) -> dict[str, Any]:
    """A MongoDB filter for ECGs with some analysis missing, older or failed."""
    clauses: list[dict[str, Any]] = []
    for prefix, analyses in (
        (LEAD_RESULTS, registry.lead),
        (ECG_RESULTS, registry.ecg),
    ):
        for a in analyses:
            key = f"{prefix}.{a.name}"
            clauses += [
                {f"{key}.version": {"$exists": False}},
                {f"{key}.version": {"$lt": a.version}},
                {f"{key}.error": {"$exists": True}},
            ]
    return {"$or": clauses} if clauses else {"_id": {"$exists": False}}


def status(
    lead_records: Mapping[str, Record],
    ecg_records: Mapping[str, Record],
    registry: Registry = DEFAULT,
) -> AnalysisStatus:
    """FAILED when a current analysis failed, PENDING when one is missing or older, else DONE."""
    records = [(lead_records.get(a.name), a.version) for a in registry.lead]
    records += [(ecg_records.get(a.name), a.version) for a in registry.ecg]
    if any(r is not None and "error" in r and r.get("version", 0) >= v for r, v in records):
        return AnalysisStatus.FAILED
    if all(_current(r, v) for r, v in records):
        return AnalysisStatus.DONE
    return AnalysisStatus.PENDING

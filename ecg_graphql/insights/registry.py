"""The explicit list of analyses: the one place an analysis is declared.

Adding an analysis:
1. a module in `insights/` with a pure, typed numpy function and its `VERSION`;
2. one entry below (per lead, or per ECG);
3. its GraphQL field in `api/ecgs/insights.py`, the one map from results to fields;
4. for long ECGs (Holter), its streaming form beside it in the same module: an accumulator
   fed the lead a block at a time (per lead) or an entry point given an `EcgSource` that it
   reads a window at a time (per ECG). The runner uses it above a size threshold; without
   one, the lead (or the ECG) is read whole for that analysis.
`python -m ecg_graphql backfill` then computes it for stored ECGs (only what they lack, or
have at an older version, or failed); until then it reads as null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ecg_graphql.insights import amplitude, beats, measurements, quality, zero_crossings
from ecg_graphql.insights.signals import (
    EcgSignal,
    EcgSource,
    LeadAccumulator,
    LeadInfo,
    LeadSignal,
)


@dataclass(frozen=True, slots=True)
class LeadAnalysis:
    """A named, versioned analysis of one lead; bump `version` when its result changes.

    `compute` returns a number, a string, a dataclass of those, or None (unknown).
    """

    name: str
    version: int
    compute: Callable[[LeadSignal], object]
    # The same analysis fed a block at a time (bounded memory); None: read the lead whole.
    stream: Callable[[LeadInfo], LeadAccumulator] | None = None
    # The same analysis of every lead of an ECG in one call (one value per lead, as `compute`
    # gives), for analyses that share work across leads; None: `compute` lead by lead.
    every_lead: Callable[[Sequence[LeadSignal]], Sequence[object]] | None = None


@dataclass(frozen=True, slots=True)
class EcgAnalysis:
    """A named, versioned analysis of a whole ECG (every lead, sampling rate and gains).

    `compute` also gets, by name, the stored form of every per-lead result (one value per
    lead) and of the per-ECG analyses listed before it, so one can build on another
    (measurements on the detected beats and the leads' quality). Names are unique overall.
    """

    name: str
    version: int
    compute: Callable[[EcgSignal, Mapping[str, object]], object]
    # The same analysis reading the ECG a window at a time; None: read the ECG whole.
    windows: Callable[[EcgSource, Mapping[str, object]], object] | None = None


LEAD_ANALYSES: tuple[LeadAnalysis, ...] = (
    LeadAnalysis(
        "zero_crossings", zero_crossings.VERSION, zero_crossings.of_lead, zero_crossings.counter
    ),
    LeadAnalysis("amplitude", amplitude.VERSION, amplitude.amplitude, amplitude.accumulator),
    LeadAnalysis(
        "quality", quality.VERSION, quality.quality, quality.accumulator, quality.qualities
    ),
)
ECG_ANALYSES: tuple[EcgAnalysis, ...] = (
    EcgAnalysis("beats", beats.VERSION, beats.of_ecg, beats.of_source),
    # Builds on "beats" (listed before it): backfilling beats recomputes it too.
    EcgAnalysis("measurements", measurements.VERSION, measurements.of_ecg, measurements.of_source),
)

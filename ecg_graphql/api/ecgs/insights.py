"""The one map from stored analysis results to GraphQL fields, and their GraphQL types.

Each field of `LeadInsight` (besides `lead`) names the per-lead analysis it shows and, for
an analysis whose result has several parts, the part. A result an ECG lacks (stored before
the analysis existed, or failed) reads as None until `backfill` computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from ecg_graphql.ecgs.service import StoredEcg
from ecg_graphql.insights.runner import AnalysisStatus

strawberry.enum(AnalysisStatus, description="Whether the ECG's analyses are computed.")


@strawberry.enum
class LeadQuality(Enum):
    """Whether a lead is usable (rules in the README, "Per-lead quality")."""

    GOOD = "GOOD"
    FLAT = "FLAT"
    CLIPPED = "CLIPPED"
    NOISY = "NOISY"


@strawberry.enum
class Rhythm(Enum):
    """IRREGULAR for atrial fibrillation, REGULAR for sinus rhythm at rest (rule in the README)."""

    REGULAR = "REGULAR"
    IRREGULAR = "IRREGULAR"


@dataclass(frozen=True, slots=True)
class FromAnalysis:
    """A field's source: a registry analysis, a key of its result (None: all of it), and how
    the stored value becomes the field's (None: as stored)."""

    analysis: str
    key: str | None = None
    convert: Callable[[Any], object] | None = None


def _member(enum: type[Enum]) -> Callable[[Any], object]:
    """The member of `enum` with this value (ValueError for another), by one dict lookup:
    a page of 50 ECGs converts 600 of them, and calling the enum costs ten times more."""
    members = {member.value: member for member in enum}

    def convert(value: Any) -> object:
        member = members.get(value)
        if member is None:
            raise ValueError(f"{value!r} is not a valid {enum.__name__}")
        return member

    return convert


LEAD_INSIGHT_FIELDS: dict[str, FromAnalysis] = {
    "zero_crossings": FromAnalysis("zero_crossings"),
    "min": FromAnalysis("amplitude", "min"),
    "max": FromAnalysis("amplitude", "max"),
    "mean": FromAnalysis("amplitude", "mean"),
    "rms": FromAnalysis("amplitude", "rms"),
    "quality": FromAnalysis("quality", convert=_member(LeadQuality)),
}


def lead_insights(doc: StoredEcg) -> list[dict[str, object]]:
    """Per lead, the insight fields by name: each its stored value, or None. Built column by
    column (a page of 50 12-lead ECGs reads 600 of them)."""
    count = len(doc.leads)
    rows: list[dict[str, object]] = [{} for _ in range(count)]
    for name, source in LEAD_INSIGHT_FIELDS.items():
        record = doc.insights.get(source.analysis)
        stored = record.get("values") if record is not None else None
        if not isinstance(stored, list) or len(stored) != count:
            for row in rows:
                row[name] = None
            continue
        key, convert = source.key, source.convert
        for row, value in zip(rows, stored, strict=True):
            if key is not None:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None and convert is not None:
                value = convert(value)
            row[name] = value
    return rows


def ecg_result(doc: StoredEcg, analysis: str) -> Any:
    """The stored result of a per-ECG analysis, or None (missing, failed, or null)."""
    record = doc.analyses.get(analysis)
    return None if record is None else record.get("value")


@strawberry.type
class RrStatistics:
    """Intervals between consecutive detected beats, in ms (SDNN: sample SD, n - 1)."""

    count: int
    mean_ms: float
    median_ms: float
    min_ms: float
    max_ms: float
    sdnn_ms: float
    rmssd_ms: float


@strawberry.type
class Measurements:
    """What a 12-lead program prints; how each is computed and its accuracy: README."""

    beat_count: int
    heart_rate: float | None = strawberry.field(
        description="Beats per minute: 60000 / rr.meanMs; null with fewer than 2 beats."
    )
    rr: RrStatistics | None
    rhythm: Rhythm | None = strawberry.field(description="Null with fewer than 5 beats.")
    pr_interval: float | None = strawberry.field(
        description="ms, P onset to QRS onset; null when no P wave is measurable."
    )
    qrs_duration: float | None = strawberry.field(description="ms, QRS onset to QRS offset.")
    qt_interval: float | None = strawberry.field(description="ms, QRS onset to T end.")
    qtc_bazett: float | None = strawberry.field(description="ms, QT / sqrt(RR in s).")
    qtc_fridericia: float | None = strawberry.field(description="ms, QT / cbrt(RR in s).")
    qrs_axis: float | None = strawberry.field(description="Degrees in (-180, 180], frontal.")
    t_axis: float | None = strawberry.field(description="Degrees in (-180, 180], frontal.")

    @classmethod
    def from_stored(cls, value: dict[str, Any]) -> Measurements:
        """From the stored result of the `measurements` analysis."""
        rr = value.get("rr")
        rhythm = value.get("rhythm")
        return cls(
            **{
                **value,
                "rr": None if rr is None else RrStatistics(**rr),
                "rhythm": None if rhythm is None else Rhythm(rhythm),
            }
        )

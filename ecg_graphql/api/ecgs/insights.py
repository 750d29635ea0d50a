"""The one map from stored analysis results to GraphQL insight fields.

Each field of `LeadInsight` (besides `lead`) names the per-lead analysis it shows and, for
an analysis whose result has several parts, the part. A result an ECG lacks (stored before
the analysis existed, or failed) reads as None until `backfill` computes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecg_graphql.ecgs.service import StoredEcg


@dataclass(frozen=True, slots=True)
class FromAnalysis:
    """A field's source: a registry analysis, and a key of its result (None: all of it)."""

    analysis: str
    key: str | None = None


LEAD_INSIGHT_FIELDS: dict[str, FromAnalysis] = {
    "zero_crossings": FromAnalysis("zero_crossings"),
}


def lead_insight_values(doc: StoredEcg, index: int) -> dict[str, object]:
    """The insight fields of lead `index`: each its stored value, or None."""
    values: dict[str, object] = {}
    for name, source in LEAD_INSIGHT_FIELDS.items():
        record = doc.insights.get(source.analysis)
        stored = record.get("values") if record is not None else None
        value = stored[index] if stored is not None and index < len(stored) else None
        if source.key is not None:
            value = value.get(source.key) if isinstance(value, dict) else None
        values[name] = value
    return values

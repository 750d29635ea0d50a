"""The explicit list of analyses run on every lead at upload.

Adding an analysis: one module with a pure function, one entry here, one field on
`LeadInsight` (api/types.py); `python -m ecg_graphql backfill` brings old ECGs up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg_graphql.insights import zero_crossings


@dataclass(frozen=True, slots=True)
class Analysis:
    """A named, versioned per-lead analysis; bump `version` when its result changes."""

    name: str
    version: int
    compute: Callable[[npt.NDArray[np.integer]], int | float]


ANALYSES: tuple[Analysis, ...] = (
    Analysis("zero_crossings", zero_crossings.VERSION, zero_crossings.zero_crossings),
)


def run_all(
    leads: Sequence[npt.NDArray[np.integer]],
    analyses: Sequence[Analysis] = ANALYSES,
) -> dict[str, tuple[int, list[int | float]]]:
    """Every analysis over every lead: name -> (version, one value per lead in order)."""
    return {a.name: (a.version, [a.compute(lead) for lead in leads]) for a in analyses}

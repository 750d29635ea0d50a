"""What an analysis is given: one lead, or the whole ECG with its sampling rate and gains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class LeadSignal:
    """One lead: integer samples in the signal's own units, with what is known about them."""

    name: str  # canonical spelling for the twelve standard leads (I, II, aVR, V1, ...)
    samples: npt.NDArray[np.integer]
    sampling_rate: float | None  # Hz; None when the upload did not say
    units_per_mv: float | None  # counts per millivolt; None when unknown


@dataclass(frozen=True, slots=True)
class EcgSignal:
    """Every lead of one ECG, in upload order."""

    leads: tuple[LeadSignal, ...]
    sampling_rate: float | None

    def lead(self, name: str) -> LeadSignal | None:
        """The lead with this canonical name, if the ECG has it."""
        return next((lead for lead in self.leads if lead.name == name), None)

"""What an analysis is given: one lead, or the whole ECG with its sampling rate and gains,
in memory (`LeadSignal`, `EcgSignal`) or read a stretch at a time (`EcgSource`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

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


class ReadFailed(Exception):
    """Reading a source's samples failed (e.g. the database went away): not the analysis's
    fault, so the runner does not record it as a failed analysis but lets it through."""


class SampleReader(Protocol):
    """Reads samples [start, stop) of the leads at these indices (clipped to each lead's
    length: a lead that has ended gives fewer samples, or none)."""

    def __call__(
        self, leads: Sequence[int], start: int, stop: int
    ) -> list[npt.NDArray[np.int64]]: ...


@dataclass(frozen=True, slots=True)
class LeadInfo:
    """What is known about one lead without its samples."""

    name: str
    number_of_samples: int
    sampling_rate: float | None
    units_per_mv: float | None


@dataclass(frozen=True, slots=True)
class EcgSource:
    """An ECG whose samples are read on demand, a stretch at a time: the input of the
    windowed (bounded-memory) forms of the analyses, for ECGs too long to hold at once."""

    leads: tuple[LeadInfo, ...]
    sampling_rate: float | None
    read: SampleReader

    @property
    def longest(self) -> int:
        """Samples in the longest lead."""
        return max((lead.number_of_samples for lead in self.leads), default=0)

    def blocks(self, size: int) -> Iterator[tuple[int, list[npt.NDArray[np.int64]]]]:
        """(start, [samples [start, start + size) of every lead]) over the whole ECG, one
        read per block: memory is one block of every lead."""
        every = list(range(len(self.leads)))
        for start in range(0, self.longest, size):
            yield start, self.read(every, start, start + size)

    def segment(self, start: int, stop: int) -> EcgSignal:
        """Samples [start, stop) of every lead as an in-memory signal (one read)."""
        arrays = self.read(list(range(len(self.leads))), start, stop)
        return EcgSignal(
            tuple(
                LeadSignal(lead.name, samples, lead.sampling_rate, lead.units_per_mv)
                for lead, samples in zip(self.leads, arrays, strict=True)
            ),
            self.sampling_rate,
        )

    @classmethod
    def of(cls, ecg: EcgSignal) -> EcgSource:
        """An in-memory ECG as a source (reads are slices, no copies)."""

        def read(leads: Sequence[int], start: int, stop: int) -> list[npt.NDArray[np.int64]]:
            return [ecg.leads[i].samples[start:stop].astype(np.int64, copy=False) for i in leads]

        return cls(
            tuple(
                LeadInfo(lead.name, int(lead.samples.size), lead.sampling_rate, lead.units_per_mv)
                for lead in ecg.leads
            ),
            ecg.sampling_rate,
            read,
        )


class LeadAccumulator(Protocol):
    """The streaming form of a per-lead analysis: fed a lead's samples in order, a block at
    a time, then asked for the result (the same as the analysis of the whole lead)."""

    def add(self, block: npt.NDArray[np.integer]) -> None:
        """Take the next samples of the lead."""

    def result(self) -> object:
        """The analysis of every sample added so far."""

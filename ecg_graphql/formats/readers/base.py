"""What every reader produces, and the rules they share: integer samples where 0 is 0 mV,
`units_per_mv` from the file's gain, lead names the upload rules accept."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

# ecgdatakit's voltage units in microvolts (its resolution is in one of these per count).
MICROVOLTS = {"nV": 0.001, "uV": 1.0, "mV": 1000.0, "V": 1_000_000.0}
_NAME_JUNK = re.compile(r"[^A-Za-z0-9_-]+")
_LEAD_PREFIX = re.compile(r"^(ecg|ekg)[\s_-]+", re.IGNORECASE)


class UnreadableFile(Exception):  # a reason, reported as a validation message
    """The file is not an ECG this service reads, or is truncated or corrupt; `index` is the
    position of the file in the input and the message says why, for the client."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.problems: list[tuple[int, str]] = [(index, message)]

    @classmethod
    def of(cls, problems: list[tuple[int, str]]) -> UnreadableFile:
        """One exception reporting every (file index, message) at once."""
        error = cls(*problems[0])
        error.problems = list(problems)
        return error


@dataclass(frozen=True, slots=True)
class InputFile:
    """One file as received (already base64-decoded); `index` is its place in the input."""

    index: int
    name: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ParsedLead:
    """A lead as read: int64 samples with 0 at 0 mV, counts per mV (None: not stated)."""

    name: str
    samples: npt.NDArray[np.int64]
    units_per_mv: float | None


@dataclass(frozen=True, slots=True)
class ParsedEcg:
    """What a file says about an ECG; `index` is the input file that holds the record."""

    index: int
    format: str
    sampling_rate: float | None
    date: datetime | None
    leads: tuple[ParsedLead, ...]


def invert(value: float, numerator: float = 1.0) -> float:
    """The shortest decimal x with numerator / x == value to within a few float roundings:
    turns a stored resolution (mV per count) or period back into the gain or rate it was made
    from, so 800 comes back as 800.0 and not 799.9999999999999."""
    exact = numerator / value
    for digits in range(1, 18):
        candidate = float(f"{exact:.{digits}g}")
        if candidate and abs(numerator / candidate - value) <= 1e-15 * abs(value):
            return candidate
    return exact


def lead_name(label: str, position: int) -> str:
    """A lead name the upload rules accept: a leading "ECG " dropped, other characters than
    letters, digits, '_' and '-' become '_', at most 16; `L<n>` when nothing is left."""
    name = _NAME_JUNK.sub("_", _LEAD_PREFIX.sub("", label.strip())).strip("_")[:16]
    return name or f"L{position + 1}"


def zero_counts(offset_counts: float, index: int, lead: str) -> int:
    """The integer to add to the raw samples so 0 is 0 mV (the file's baseline or ADC zero,
    rounded to whole counts)."""
    if not math.isfinite(offset_counts) or abs(offset_counts) > 2**31:
        raise UnreadableFile(index, f"Lead {lead}: the file's baseline is not usable.")
    return round(offset_counts)


def as_int_samples(values: npt.ArrayLike, index: int, lead: str) -> npt.NDArray[np.int64]:
    """The samples as int64; a file that stores fractions or non-finite values is refused
    (samples stay the integers the file stores)."""
    array = np.asarray(values)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind != "f" or not np.all(np.isfinite(array)):
        raise UnreadableFile(index, f"Lead {lead}: samples are not finite numbers.")
    if np.any(np.abs(array) > 2**62):
        raise UnreadableFile(index, f"Lead {lead}: samples must be in the int32 range.")
    as_int = array.astype(np.int64)
    if not np.array_equal(as_int, array):
        raise UnreadableFile(index, f"Lead {lead}: samples are not integers.")
    return as_int

"""Validation of an uploaded ECG: every rule checked, every violation reported at once."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from ecg_graphql.errors import FieldIssue, ValidationFailed
from ecg_graphql.insights.signals import EcgSignal, LeadSignal

MIN_LEADS = 1
MAX_LEADS = 64
MAX_ID_LENGTH = 128
MAX_SAMPLING_RATE = 100_000.0
MAX_UNITS_PER_MV = 1_000_000.0
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

LEAD_NAME = re.compile(r"[A-Za-z0-9_-]{1,16}")
CANONICAL_LEADS = {
    name.lower(): name
    for name in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
}


@dataclass(frozen=True, slots=True)
class LeadUpload:
    """One lead as received: `signal` is the raw, not yet trusted value (a JSON list, or a
    file reader's integer array)."""

    name: str
    number_of_samples: int | None
    signal: object
    units_per_mv: float | None = None  # overrides the ECG's value for this lead


@dataclass(frozen=True, slots=True)
class EcgUpload:
    """An ECG as received from a client."""

    id: str | None
    date: datetime
    sampling_rate: float | None
    leads: list[LeadUpload]
    units_per_mv: float | None = None  # signal counts per mV of every lead (ADC gain)


@dataclass(frozen=True, slots=True)
class ValidEcg:
    """An ECG that passed every rule: its samples (int64) as the analyses receive them."""

    id: str | None
    date: datetime
    signal: EcgSignal


def canonical_lead_name(name: str) -> str:
    """The twelve standard names in canonical spelling (avr -> aVR); others unchanged."""
    return CANONICAL_LEADS.get(name.lower(), name)


def as_utc(value: datetime) -> datetime:
    """In UTC (a datetime without offset is UTC), at the millisecond precision MongoDB keeps,
    so what an upload answers is exactly what later reads return."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_samples(raw: object) -> tuple[npt.NDArray[np.int64] | None, str | None]:
    """The samples as int64, or an error message that never echoes the values.

    `raw` is a JSON list from a client, or an integer numpy array a file reader produced
    (taken as it is: no round trip through Python ints)."""
    if isinstance(raw, np.ndarray) and raw.ndim == 1 and raw.dtype.kind in "iu":
        array = raw.astype(np.int64, copy=False)
    elif not isinstance(raw, list):
        return None, "Signal must be a list of integers."
    # type() rather than isinstance(): bool is an int subclass but not a sample.
    elif raw and set(map(type, raw)) != {int}:
        return None, "Signal must contain only integers."
    else:
        try:
            # Only ints, checked above: fromiter converts them without np.array's look at
            # every element for a common type (about a third less time).
            array = np.fromiter(raw, dtype=np.int64, count=len(raw))
        except OverflowError:
            return None, "Signal values must be in the int32 range."
    if not array.size:
        return None, "Signal must have at least 1 sample."
    if int(array.min()) < INT32_MIN or int(array.max()) > INT32_MAX:
        return None, "Signal values must be in the int32 range."
    return array, None


def id_issue(ecg_id: str) -> str | None:
    """What is wrong with a client ECG id, or None: 1-128 printable characters, valid
    Unicode, no surrounding spaces."""
    if not 1 <= len(ecg_id) <= MAX_ID_LENGTH:
        return f"Id must be 1 to {MAX_ID_LENGTH} characters."
    try:
        ecg_id.encode("utf-8")
    except UnicodeEncodeError:
        return "Id must be valid Unicode text."
    if not ecg_id.isprintable() or ecg_id != ecg_id.strip():
        return "Id must not contain control characters or surrounding spaces."
    return None


def _check_id(ecg_id: str | None, issues: list[FieldIssue]) -> None:
    problem = None if ecg_id is None else id_issue(ecg_id)
    if problem is not None:
        issues.append(FieldIssue("id", problem))


def _check_rate(rate: float | None, issues: list[FieldIssue]) -> None:
    if rate is None:
        return
    if not math.isfinite(rate) or not 0 < rate <= MAX_SAMPLING_RATE:
        issues.append(FieldIssue("samplingRate", "Sampling rate must be > 0 and <= 100000 Hz."))


def _check_gain(gain: float | None, field: str, issues: list[FieldIssue]) -> None:
    if gain is None:
        return
    if not math.isfinite(gain) or not 0 < gain <= MAX_UNITS_PER_MV:
        issues.append(FieldIssue(field, "Units per millivolt must be > 0 and <= 1000000."))


def header_issues(
    ecg_id: str | None, rate: float | None, units_per_mv: float | None, lead_count: int
) -> list[FieldIssue]:
    """What is wrong with an ECG's id, sampling rate, gain and number of leads (the rules
    every way in shares: JSON upload, chunked upload, import)."""
    issues: list[FieldIssue] = []
    _check_id(ecg_id, issues)
    _check_rate(rate, issues)
    _check_gain(units_per_mv, "unitsPerMillivolt", issues)
    if not MIN_LEADS <= lead_count <= MAX_LEADS:
        issues.append(FieldIssue("leads", f"An ECG has {MIN_LEADS} to {MAX_LEADS} leads."))
    return issues


def validate_ecg(upload: EcgUpload) -> ValidEcg:
    """Check every rule of an upload; raise ValidationFailed listing all violations."""
    issues = header_issues(upload.id, upload.sampling_rate, upload.units_per_mv, len(upload.leads))
    seen: set[str] = set()
    leads: list[LeadSignal] = []
    # Past the cap, leads are not inspected: the error above already rejects the input.
    for i, lead in enumerate(upload.leads[: MAX_LEADS + 1]):
        path = f"leads.{i}"
        if not LEAD_NAME.fullmatch(lead.name):
            issues.append(
                FieldIssue(
                    f"{path}.name",
                    "Lead name must be 1 to 16 letters, digits, '_' or '-'.",
                )
            )
        elif lead.name.lower() in seen:
            issues.append(FieldIssue(f"{path}.name", "Lead names must be unique in an ECG."))
        seen.add(lead.name.lower())

        _check_gain(lead.units_per_mv, f"{path}.unitsPerMillivolt", issues)
        samples, problem = parse_samples(lead.signal)
        if problem is not None:
            issues.append(FieldIssue(f"{path}.signal", problem))
        if lead.number_of_samples is not None and (
            lead.number_of_samples < 0
            or (
                isinstance(lead.signal, list | np.ndarray)
                and lead.number_of_samples != len(lead.signal)
            )
        ):
            issues.append(
                FieldIssue(
                    f"{path}.numberOfSamples", "Number of samples must equal the signal length."
                )
            )
        if samples is not None:
            leads.append(
                LeadSignal(
                    canonical_lead_name(lead.name),
                    samples,
                    upload.sampling_rate,
                    upload.units_per_mv if lead.units_per_mv is None else lead.units_per_mv,
                )
            )

    if issues:
        raise ValidationFailed(issues)
    return ValidEcg(
        id=upload.id,
        date=as_utc(upload.date),
        signal=EcgSignal(tuple(leads), upload.sampling_rate),
    )

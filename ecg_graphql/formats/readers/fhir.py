"""Our own FHIR export (formats/fhir.py) read back: an Observation whose components carry
valueSampledData. value = origin + factor * sample in mV, so the stored sample is
sample + origin / factor and `units_per_mv` is 1 / factor; a component in UCUM unit `1` has no
gain. The period is in ms. Components without valueSampledData (measurements) are skipped."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import orjson

from ecg_graphql.formats.fhir import LEAD_CODES, MDC
from ecg_graphql.formats.readers.base import (
    InputFile,
    ParsedEcg,
    ParsedLead,
    UnreadableFile,
    invert,
    lead_name,
    zero_counts,
)

NAME = "FHIR Observation"
_LEADS_BY_CODE = {code: name for name, (code, _display) in LEAD_CODES.items()}
_START = re.compile(rb'^\s*\{\s*"resourceType"\s*:\s*"Observation"')
_INTEGER = re.compile(r"-?\d{1,12}")


def detect(file: InputFile) -> bool:
    """Whether the content is a JSON FHIR Observation (resourceType first, as we write it)."""
    return _START.match(file.data[:256]) is not None or (
        file.data[:1] == b"{"
        and b'"resourceType"' in file.data[:4096]
        and b'"Observation"' in file.data[:4096]
    )


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    try:
        resource = orjson.loads(file.data)
    except orjson.JSONDecodeError:
        raise UnreadableFile(file.index, f"{NAME}: the file is not valid JSON.") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
        raise UnreadableFile(file.index, f"{NAME}: the file is not an Observation.")
    leads: list[ParsedLead] = []
    periods: set[float] = set()
    for component in resource.get("component") or []:
        sampled = component.get("valueSampledData") if isinstance(component, dict) else None
        if not isinstance(sampled, dict):
            continue
        name = lead_name(_label(component.get("code")), len(leads))
        lead, period = _lead(sampled, name, file.index)
        leads.append(lead)
        periods.add(period)
    if not leads:
        raise UnreadableFile(file.index, f"{NAME}: the Observation has no sampled data.")
    if len(periods) > 1:
        raise UnreadableFile(file.index, f"{NAME}: components have different periods.")
    return (
        ParsedEcg(
            file.index,
            NAME,
            invert(periods.pop(), 1000.0),
            _date(resource, file.index),
            tuple(leads),
        ),
        {file.index},
    )


def _label(code: Any) -> str:
    if isinstance(code, dict):
        for coding in code.get("coding") or []:
            if isinstance(coding, dict) and coding.get("system") == MDC:
                name = _LEADS_BY_CODE.get(str(coding.get("code")))
                if name is not None:
                    return name
        if isinstance(code.get("text"), str):
            return str(code["text"])
    return ""


def _number(value: Any, what: str, name: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnreadableFile(index, f"{NAME}: lead {name} has no valid {what}.")
    return float(value)


def _lead(sampled: dict[str, Any], name: str, index: int) -> tuple[ParsedLead, float]:
    origin = sampled.get("origin")
    if not isinstance(origin, dict):
        raise UnreadableFile(index, f"{NAME}: lead {name} has no origin.")
    origin_value = _number(origin.get("value"), "origin", name, index)
    factor = _number(sampled.get("factor", 1), "factor", name, index)
    period = _number(sampled.get("period"), "period", name, index)
    if factor <= 0 or period <= 0:
        raise UnreadableFile(index, f"{NAME}: lead {name} needs a positive factor and period.")
    if sampled.get("dimensions", 1) != 1:
        raise UnreadableFile(index, f"{NAME}: lead {name} must have 1 dimension.")
    data = sampled.get("data", "")
    if not isinstance(data, str):
        raise UnreadableFile(index, f"{NAME}: lead {name} data is not text.")
    tokens = data.split()
    if not all(_INTEGER.fullmatch(token) for token in tokens):
        # E, L and U (error, below and above range) have no integer value to store.
        raise UnreadableFile(index, f"{NAME}: lead {name} data must be integers.")
    samples = np.array([int(token) for token in tokens], dtype=np.int64)
    in_mv = origin.get("code", origin.get("unit")) == "mV"
    gain = invert(factor) if in_mv else None
    zero = zero_counts(origin_value / factor, index, name)
    return ParsedLead(name, samples + zero if zero else samples, gain), period


def _date(resource: dict[str, Any], index: int) -> datetime | None:
    value = resource.get("effectiveDateTime")
    if value is None:
        period = resource.get("effectivePeriod")
        value = period.get("start") if isinstance(period, dict) else None
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UnreadableFile(index, f"{NAME}: effectiveDateTime is not a date.") from None

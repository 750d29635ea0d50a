"""EDF and EDF+ (European Data Format), read by ecgdatakit. EDF stores physical = (digital - dmin) *
(pmax - pmin) / (dmax - dmin) + pmin: the zero in counts is rarely a whole number, so it is
rounded (at most half a count off). The sampling rate is samples per data record / record
duration as the header states it (ecgdatakit rounds it to whole Hz: 256.5 Hz would be 256)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecgdatakit.parsing.parsers.edf import EDFParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "EDF"


def detect(file: InputFile) -> bool:
    """Whether the content is EDF (ecgdatakit's check of the first bytes)."""
    return toolkit.sniff(EDFParser, file, ".edf")


def _rate(meta: dict[str, Any], rounded: int) -> float | None:
    # The exact rates of the signals that ecgdatakit rounded to `rounded`, if they agree.
    rates = {
        float(rate)
        for rate in (meta.get("exact_sampling_rates") or {}).values()
        if isinstance(rate, int | float) and rate > 0 and round(rate) == rounded
    }
    return rates.pop() if len(rates) == 1 else None


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(EDFParser, NAME, file, ".edf", _rate), {file.index}

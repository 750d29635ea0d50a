"""EDF and EDF+ (European Data Format), read by ecgdatakit. EDF stores physical = (digital - dmin) *
(pmax - pmin) / (dmax - dmin) + pmin: the zero in counts is rarely a whole number, so it is
rounded (at most half a count off)."""

from __future__ import annotations

from collections.abc import Sequence

from ecgdatakit.parsing.parsers.edf import EDFParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "EDF"


def detect(file: InputFile) -> bool:
    """Whether the content is EDF (ecgdatakit's check of the first bytes)."""
    return toolkit.sniff(EDFParser, file, ".edf")


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(EDFParser, NAME, file, ".edf"), {file.index}

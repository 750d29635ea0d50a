"""HL7 aECG (annotated ECG, HL7 v3 XML), read by ecgdatakit through defusedxml."""

from __future__ import annotations

from collections.abc import Sequence

from ecgdatakit.parsing.parsers.hl7_aecg import HL7aECGParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "HL7 aECG"


def detect(file: InputFile) -> bool:
    """Whether the content is HL7 aECG (ecgdatakit's check of the first bytes)."""
    return toolkit.sniff(HL7aECGParser, file, ".xml")


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(HL7aECGParser, NAME, file, ".xml"), {file.index}

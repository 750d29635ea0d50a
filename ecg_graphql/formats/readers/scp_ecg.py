"""SCP-ECG (EN 1064 / ISO 11073-91064 binary), read by ecgdatakit."""

from __future__ import annotations

from collections.abc import Sequence

from ecgdatakit.parsing.parsers.scp_ecg import SCPECGParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "SCP-ECG"


def detect(file: InputFile) -> bool:
    """Whether the content is SCP-ECG (ecgdatakit's check of the first bytes)."""
    return toolkit.sniff(SCPECGParser, file, ".scp")


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(SCPECGParser, NAME, file, ".scp"), {file.index}

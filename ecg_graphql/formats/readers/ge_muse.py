"""GE MUSE XML (RestingECG), read by ecgdatakit through defusedxml."""

from __future__ import annotations

from collections.abc import Sequence

from ecgdatakit.parsing.parsers.ge_muse_xml import GEMuseXMLParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "GE MUSE XML"


def detect(file: InputFile) -> bool:
    """Whether the content is GE MUSE XML (ecgdatakit's check of the first bytes)."""
    return toolkit.sniff(GEMuseXMLParser, file, ".xml")


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(GEMuseXMLParser, NAME, file, ".xml"), {file.index}

"""Philips PageWriter / TraceMasterVue XML (restingecgdata, Sierra), read by ecgdatakit through
defusedxml."""

from __future__ import annotations

from collections.abc import Sequence

from ecgdatakit.parsing.parsers.sierra_xml import SierraXMLParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "Philips XML"


def detect(file: InputFile) -> bool:
    """Whether the content is Philips XML (ecgdatakit's check of the first bytes)."""
    return toolkit.sniff(SierraXMLParser, file, ".xml")


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(SierraXMLParser, NAME, file, ".xml"), {file.index}

"""WFDB records (PhysioNet): the `.hea` header and every signal file it names, as separate input
files (matched by name, since the header names them) or inside one zip (our own WFDB export).
Read by ecgdatakit; the stored sample is the digital value minus the signal's baseline (the
ADC zero when no baseline is given), so 0 is 0 mV, and the gain is the header's ADC gain.
Signals whose unit is not a voltage (PLETH and RESP in "NU", pressures in mmHg) are not ECG
leads and are left out. Multi-segment records are refused. WFDB has no time zone: base date
and time are taken as UTC; a header without a base date gives no date."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecgdatakit.parsing.parsers.wfdb import WFDBParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg, UnreadableFile

NAME = "WFDB"
_RECORD_LINE = re.compile(r"^([\w\-]+)(/\d+)?\s+(\d+)(?:\s|$)")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_TEXT = re.compile(rb"^[\x09\x0a\x0d\x20-\x7e]*$")


def _lines(file: InputFile) -> list[str] | None:
    head = file.data[: toolkit.SNIFF_BYTES]
    if not _TEXT.match(head):
        return None
    lines = [line.strip() for line in file.data.decode("latin-1").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def detect(file: InputFile) -> bool:
    """Whether the content is a WFDB header: plain text whose first line is a record line."""
    if not _TEXT.match(file.data[: toolkit.SNIFF_BYTES]):
        return False
    for line in file.data[: toolkit.SNIFF_BYTES].decode("latin-1").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return _RECORD_LINE.match(line) is not None
    return False


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG of the header `file` and its signal files, and the input files it used."""
    lines = _lines(file) or []
    match = _RECORD_LINE.match(lines[0]) if lines else None
    if match is None:
        raise UnreadableFile(file.index, f"{NAME}: the header has no record line.")
    if match.group(2):
        raise UnreadableFile(file.index, f"{NAME}: multi-segment records are not supported.")
    count = int(match.group(3))
    if count < 1 or count > len(lines) - 1:
        raise UnreadableFile(file.index, f"{NAME}: the header lists fewer signals than it says.")
    wanted: list[str] = []
    for line in lines[1 : count + 1]:
        name = line.split()[0]
        if not _FILE_NAME.fullmatch(name) or name.endswith(".hea"):
            raise UnreadableFile(
                file.index, f"{NAME}: signal file name {name[:40]!r} is not allowed."
            )
        if name not in wanted:
            wanted.append(name)
    by_name: dict[str, InputFile] = {}
    for other in files:
        base = other.name.replace("\\", "/").rsplit("/", 1)[-1]
        if other is not file and base in wanted:
            by_name.setdefault(base, other)
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise UnreadableFile(
            file.index,
            f"{NAME}: the header names signal file {missing[0]!r}, which is not among the files.",
        )
    with tempfile.TemporaryDirectory(prefix="ecg-import-") as folder:
        directory = Path(folder)
        for name, signal_file in by_name.items():
            (directory / name).write_bytes(signal_file.data)
        header = directory / f"{match.group(1)}.hea"
        if header.exists():  # a signal file of the same name: keep both apart
            header = directory / "record.hea"
        header.write_bytes(file.data)
        parsed = toolkit.read_path(WFDBParser, NAME, header, file.index, _rate)
    return parsed, {file.index, *(f.index for f in by_name.values())}


def _rate(meta: dict[str, Any], rounded: int) -> float | None:
    rate = meta.get("sampling_frequency")
    if isinstance(rate, int | float) and rate > 0 and round(rate) == rounded:
        return float(rate)
    return None

"""Every import format, listed explicitly in detection order (no discovery), and the one pure
function that reads a set of input files into one ECG."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from ecg_graphql.formats.readers import (
    dicom,
    edf,
    fhir,
    ge_muse,
    hl7_aecg,
    philips,
    scp_ecg,
    wfdb,
)
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg, UnreadableFile

MAX_ZIP_ENTRIES = 64


@dataclass(frozen=True, slots=True)
class Reader:
    """One format: its name, its content check and its reader."""

    name: str
    detect: Callable[[InputFile], bool]
    read: Callable[[InputFile, Sequence[InputFile]], tuple[ParsedEcg, set[int]]]


def _reader(module: ModuleType) -> Reader:
    return Reader(module.NAME, module.detect, module.read)


# Formats with a magic number first, loose text sniffers last.
READERS: tuple[Reader, ...] = tuple(
    _reader(module) for module in (dicom, scp_ecg, edf, hl7_aecg, ge_muse, philips, fhir, wfdb)
)
SUPPORTED = ", ".join(reader.name for reader in READERS)


def detect(file: InputFile) -> Reader | None:
    """The reader of the first format whose content check accepts the file."""
    return next((reader for reader in READERS if reader.detect(file)), None)


def expand(files: Sequence[InputFile], max_bytes: int) -> list[InputFile]:
    """The files, with each zip replaced by its entries (named by their base name, keeping
    the zip's index); at most `max_bytes` uncompressed in all, checked before inflating."""
    out: list[InputFile] = []
    budget = max_bytes
    for file in files:
        if not file.data.startswith(b"PK\x03\x04"):
            out.append(file)
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(file.data)) as archive:
                entries = [e for e in archive.infolist() if not e.is_dir()]
                if len(entries) > MAX_ZIP_ENTRIES:
                    raise UnreadableFile(file.index, "The zip holds too many files.")
                for entry in entries:
                    if entry.file_size > budget:
                        raise UnreadableFile(file.index, "The zip inflates beyond the size limit.")
                    with archive.open(entry) as stream:
                        # Read one byte past the stated size: a lying header is caught too.
                        data = stream.read(entry.file_size + 1)
                    if len(data) > entry.file_size:
                        raise UnreadableFile(file.index, "The zip is corrupt.")
                    budget -= len(data)
                    name = entry.filename.replace("\\", "/").rsplit("/", 1)[-1]
                    out.append(InputFile(file.index, name, data))
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            ValueError,
            NotImplementedError,
            OSError,
        ):
            raise UnreadableFile(file.index, "The zip is truncated or corrupt.") from None
    return out


def read_files(files: Sequence[InputFile], max_bytes: int) -> ParsedEcg:
    """The one ECG that the files hold, or UnreadableFile naming every file that is empty,
    not recognised, a second record, or not used by the record."""
    files = expand(files, max_bytes)
    problems: list[tuple[int, str]] = []
    primary: tuple[InputFile, Reader] | None = None
    for file in files:
        if not file.data:
            problems.append((file.index, "The file is empty."))
            continue
        reader = detect(file)
        if reader is None:
            continue
        if primary is None:
            primary = (file, reader)
        else:
            problems.append((file.index, "Only one ECG per import: this file is a second one."))
    if problems:
        raise UnreadableFile.of(problems)
    if primary is None:
        raise UnreadableFile.of(
            [(f.index, f"Not an ECG file of a supported format ({SUPPORTED}).") for f in files]
        )
    file, reader = primary
    parsed, used = reader.read(file, files)
    unused = sorted({f.index for f in files} - used)
    if unused:
        raise UnreadableFile.of(
            [(i, "This file is not part of the ECG (nor named by its header).") for i in unused]
        )
    return parsed

"""DICOM waveforms (12-lead ECG, general ECG and other waveform IODs), read by ecgdatakit
through pydicom. The rhythm multiplex group is imported (median beats are not); stored samples
are the raw values plus Channel Baseline / (Channel Sensitivity x Correction Factor), pydicom's
own scaling rule, so 0 is 0 mV. Acquisition times with a TimezoneOffsetFromUTC (or an offset of
their own) are converted to UTC; times without any offset are taken as UTC."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecgdatakit.parsing.parsers.dicom_waveform import DICOMWaveformParser

from ecg_graphql.formats.readers import toolkit
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg

NAME = "DICOM"


def detect(file: InputFile) -> bool:
    """Whether the content is a DICOM Part 10 file (the "DICM" preamble)."""
    return toolkit.sniff(DICOMWaveformParser, file, ".dcm")


def _rate(meta: dict[str, Any], rounded: int) -> float | None:
    # The group's SamplingFrequency as the file states it (ecgdatakit keeps whole Hz).
    for group in meta.get("multiplex_groups") or []:
        rate = group.get("sampling_frequency")
        if isinstance(rate, int | float) and rate > 0 and round(rate) == rounded:
            return float(rate)
    return None


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    return toolkit.read_single(DICOMWaveformParser, NAME, file, ".dcm", _rate), {file.index}

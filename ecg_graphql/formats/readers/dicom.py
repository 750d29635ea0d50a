"""DICOM waveforms (12-lead ECG, general ECG and other waveform IODs), read by ecgdatakit
through pydicom. The rhythm multiplex group is imported (median beats are not); stored samples
are the raw values plus Channel Baseline / (Channel Sensitivity x Correction Factor), pydicom's
own scaling rule, so 0 is 0 mV. Samples equal to Waveform Padding Value keep that value, as
pydicom's `multiplex_array` gives them (ecgdatakit makes them NaN): writers such as the ECG
Toolkit set a padding value of 0, which would otherwise turn every 0 uV sample into a gap.
Acquisition times with a TimezoneOffsetFromUTC (or an offset of their own) are converted to UTC;
times without any offset are taken as UTC."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pydicom
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


# Sample interpretations whose stored value is the code itself (not mu-law or A-law expanded).
_PLAIN = {"SS": "<i2", "US": "<u2", "SB": "i1", "UB": "u1", "SL": "<i4", "UL": "<u4"}


def _padding(data: bytes) -> float | None:
    """The one Waveform Padding Value of the file's multiplex groups, as a sample value."""
    try:
        # Waveform Data is large and not needed here: pydicom defers reading it.
        ds = pydicom.dcmread(io.BytesIO(data), defer_size=256, force=False)
        values = set()
        for group in ds.get("WaveformSequence") or []:
            raw = group.get("WaveformPaddingValue")
            dtype = _PLAIN.get(str(group.get("WaveformSampleInterpretation", "")))
            if raw is None or dtype is None:
                continue
            code = np.dtype(dtype)
            if len(raw) < code.itemsize:
                continue
            values.add(float(np.frombuffer(bytes(raw[: code.itemsize]), dtype=code)[0]))
    except Exception:  # ecgdatakit reports what is wrong with the file
        return None
    return values.pop() if len(values) == 1 else None


def read(file: InputFile, files: Sequence[InputFile]) -> tuple[ParsedEcg, set[int]]:
    """The ECG in `file`, and the input files it used (only itself)."""
    parsed = toolkit.read_single(
        DICOMWaveformParser, NAME, file, ".dcm", _rate, padding=_padding(file.data)
    )
    return parsed, {file.index}

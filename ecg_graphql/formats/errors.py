"""What a renderer refuses, as small typed exceptions (the HTTP layer maps them to statuses)."""

from __future__ import annotations


class FormatError(Exception):
    """This record cannot be written in this format."""


class SamplingRateRequired(FormatError):
    """The format needs the sampling rate (FHIR `period`, WFDB frequency) and the ECG has none."""

    def __init__(self, format_name: str) -> None:
        super().__init__(f"{format_name} export needs the ECG's sampling rate, which is unknown.")
        self.format_name = format_name


class TooLongToExport(FormatError):
    """The format holds every sample in one file built in memory, and the ECG has more than
    such a file may hold (a 24 h recording would take gigabytes of the API's memory)."""

    def __init__(self, format_name: str, samples: int, limit: int) -> None:
        super().__init__(
            f"{format_name} export holds at most {limit:,} samples and this ECG has "
            f"{samples:,}; read long ECGs with Lead.signal(offset, limit)."
        )
        self.format_name = format_name

"""The one place that turns an ecgdatakit record into a ParsedEcg, for every format read
through ecgdatakit (DICOM, HL7 aECG, GE MUSE, Philips, SCP-ECG, EDF, WFDB).

ecgdatakit is asked for raw samples (`auto_scale=False`), where physical = raw * resolution +
offset in the lead's unit. The stored sample is raw + offset / resolution (rounded to whole
counts), so 0 is 0 mV, and `units_per_mv` is 1 / resolution in mV. Leads in a unit that is not a
voltage (PLETH and RESP in "NU", pressures in mmHg) are not ECG leads and are left out.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ecgdatakit.parsing.parser import Parser

from ecg_graphql.formats.readers.base import (
    MICROVOLTS,
    InputFile,
    ParsedEcg,
    ParsedLead,
    UnreadableFile,
    as_int_samples,
    invert,
    lead_name,
    zero_counts,
)

_UNITS = {
    "nv": "nV",
    "uv": "uV",
    "\u00b5v": "uV",
    "\u03bcv": "uV",
    "microvolt": "uV",
    "microvolts": "uV",
    "mv": "mV",
    "millivolt": "mV",
    "millivolts": "mV",
    "v": "V",
    "volt": "V",
    "volts": "V",
}
SNIFF_BYTES = 4096


def sniff(parser: type[Parser], file: InputFile, suffix: str) -> bool:
    """Whether ecgdatakit's own content check of `parser` recognises the file."""
    try:
        return bool(parser.can_parse(Path(f"ecg{suffix}"), file.data[:SNIFF_BYTES]))
    except Exception:  # a sniffer that trips on junk simply does not match
        return False


def read_single(
    parser: type[Parser],
    fmt: str,
    file: InputFile,
    suffix: str,
    exact_rate: Callable[[dict[str, Any], int], float | None] | None = None,
    padding: float | None = None,
) -> ParsedEcg:
    """Parse one self-contained file with `parser` (in a private temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="ecg-import-") as folder:
        path = Path(folder) / f"ecg{suffix}"
        path.write_bytes(file.data)
        return read_path(parser, fmt, path, file.index, exact_rate, padding)


def read_path(
    parser: type[Parser],
    fmt: str,
    path: Path,
    index: int,
    exact_rate: Callable[[dict[str, Any], int], float | None] | None = None,
    padding: float | None = None,
) -> ParsedEcg:
    """Parse the file at `path` with `parser`; any failure is UnreadableFile for `index`."""
    try:
        with warnings.catch_warnings():
            # Its notes (extra groups, raw ADC samples) are about choices made here.
            warnings.simplefilter("ignore")
            record = parser().parse(path)
    except MemoryError:
        raise UnreadableFile(index, f"{fmt}: the file needs more memory than allowed.") from None
    except Exception as error:  # any parser failure, ECGDataKitError or not
        raise UnreadableFile(
            index, f"{fmt}: the file is truncated or corrupt ({_why(error)})."
        ) from None
    return convert(record, fmt, index, exact_rate, padding)


def _why(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    # The temporary path means nothing to the client.
    return text.replace(str(tempfile.gettempdir()), "")[:200]


def convert(
    record: Any,
    fmt: str,
    index: int,
    exact_rate: Callable[[dict[str, Any], int], float | None] | None = None,
    padding: float | None = None,
) -> ParsedEcg:
    """The ECG leads of an ecgdatakit record, baseline removed, gain in counts per mV.

    `padding` is the raw value the file stores where ecgdatakit gives NaN (DICOM marks every
    sample equal to Waveform Padding Value so); None leaves NaN, which is then refused."""
    leads: list[ParsedLead] = []
    rates: set[int] = set()
    for position, lead in enumerate(record.leads):
        unit_text = str(lead.resolution_unit or "")
        unit = _UNITS.get(unit_text.strip().lower()) if unit_text else None
        if unit_text and unit is None:
            continue  # not a voltage: not an ECG lead
        name = lead_name(str(lead.label), position)
        resolution = float(lead.resolution)
        gain = None
        zero = 0
        if unit is not None and resolution > 0:
            gain = invert(resolution * MICROVOLTS[unit] / 1000.0)
            zero = zero_counts(float(lead.offset) / resolution, index, name)
        values = lead.samples
        if padding is not None:
            values = np.where(np.isnan(values), padding, values)
        samples = as_int_samples(values, index, name)
        if zero:
            samples = samples + zero
        rates.add(int(lead.sampling_rate))
        leads.append(ParsedLead(name, samples, gain))
    if not leads:
        raise UnreadableFile(index, f"{fmt}: the file holds no ECG lead (no signal in volts).")
    if len(rates) > 1:
        raise UnreadableFile(
            index, f"{fmt}: leads with different sampling rates are not supported."
        )
    rate: float | None = float(rates.pop())
    if exact_rate is not None and rate:
        # ecgdatakit rounds rates to whole Hz; the file's own value is more exact.
        rate = exact_rate(record.raw_metadata, int(rate)) or rate
    if not rate or rate <= 0:
        rate = None
    date = record.recording.date
    return ParsedEcg(index, fmt, rate, date, tuple(leads))

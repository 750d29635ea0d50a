"""A WFDB record (PhysioNet's format) in a zip: `<name>.hea` with the base date and time, and
`<name>.dat` with the samples interleaved frame by frame.

Samples are written in format 16 (16-bit two's complement, little-endian) when every sample fits
in [-32767, 32767], otherwise in format 32; the baseline is 0 (a stored 0 is 0 mV) and the gain
is the lead's `units_per_mv` (0, WFDB's "uncalibrated", when unknown). WFDB has no time zone:
the base date and time are the ECG's date in UTC, as the header's comment says. WFDB frames hold
every signal, so a lead shorter than the longest is padded with WFDB's invalid-sample value.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC

import numpy as np
import numpy.typing as npt

from ecg_graphql.formats.errors import SamplingRateRequired
from ecg_graphql.formats.record import EcgRecord

MEDIA_TYPE = "application/zip"

_INVALID = {16: -32768, 32: -(2**31)}
_DTYPE = {16: "<i2", 32: "<i4"}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Fixed timestamp for the zip entries, so the same ECG always gives the same bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def record_name(ecg_id: str) -> str:
    """A WFDB record name for the ECG id: its letters, digits and underscores (others become
    `_`), at most 64 characters; `ecg` when nothing is left."""
    name = _NAME_CHARS.sub("_", ecg_id)[:64].strip("_")
    return name or "ecg"


def render_wfdb_zip(record: EcgRecord) -> bytes:
    """The zip of `<name>.hea` and `<name>.dat`; raises SamplingRateRequired without a rate."""
    if record.sampling_rate is None:
        raise SamplingRateRequired("WFDB")
    name = record_name(record.id)
    fmt = 16 if all(_fits16(lead.samples) for lead in record.leads) else 32
    frames = _frames(record, fmt)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for filename, data in (
            (f"{name}.hea", _header(record, record.sampling_rate, name, fmt, frames).encode()),
            (f"{name}.dat", frames.astype(_DTYPE[fmt]).tobytes()),
        ):
            info = zipfile.ZipInfo(filename, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _fits16(samples: npt.NDArray[np.integer]) -> bool:
    return len(samples) == 0 or (int(samples.min()) > -32768 and int(samples.max()) <= 32767)


def _frames(record: EcgRecord, fmt: int) -> npt.NDArray[np.int64]:
    """Samples as (frames, signals), shorter leads padded with the invalid value."""
    frames = np.full((record.longest, len(record.leads)), _INVALID[fmt], dtype=np.int64)
    for column, lead in enumerate(record.leads):
        frames[: len(lead.samples), column] = lead.samples
    return frames


def _checksum(column: npt.NDArray[np.int64]) -> int:
    """WFDB's checksum: the 16-bit two's complement sum of the signal's samples."""
    total = int(column.sum()) % 65536
    return total - 65536 if total > 32767 else total


def _header(
    record: EcgRecord, rate: float, name: str, fmt: int, frames: npt.NDArray[np.int64]
) -> str:
    start = record.date.astimezone(UTC)
    time = start.strftime("%H:%M:%S") + (f".{start.microsecond:06d}" if start.microsecond else "")
    lines = [
        f"{name} {len(record.leads)} {rate!r} {len(frames)} "
        f"{time} {start.strftime('%d/%m/%Y')}"
    ]
    for column, lead in enumerate(record.leads):
        gain = repr(float(lead.units_per_mv)) if lead.units_per_mv is not None else "0"
        initial = int(frames[0, column]) if len(frames) else 0
        description = _CONTROL.sub(" ", lead.name).strip() or f"lead {column + 1}"
        lines.append(
            f"{name}.dat {fmt} {gain}(0)/mV {fmt} 0 {initial} "
            f"{_checksum(frames[:, column])} 0 {description}"
        )
    # Comments are JSON strings: an id cannot break the header with a newline.
    lines.append(f"# ecg-graphql id {json.dumps(record.id)}")
    lines.append("# base date and time are UTC")
    return "\n".join(lines) + "\n"

"""The clinical ECG page, computed once for every image format (SVG and PDF draw this).

An A4 landscape sheet in millimetres, y pointing down: a header, a 1 mm / 5 mm grid, and the
leads at 25 mm/s and 10 mm/mV with a 1 mV calibration pulse at the start of each row.

Traces are reduced to the paper's resolution, not drawn sample by sample: the time axis is cut
into columns of `COLUMN_MM` (0.1 mm, 254 dpi: finer than an ECG printer's 200 dpi) and each column
keeps the lowest and highest sample it covers, so every peak survives and a 10 s 12-lead at
1 kHz draws at most 2 points per column whatever the sampling rate.

Choices where the ECG lacks information (each one is also printed on the page):
- no `units_per_mv` on a lead: its amplitude is fitted to the row height, at a round number of
  counts per 10 mm, the label gets a `*` and the calibration pulse does not apply to it;
- no `sampling_rate`: the page cannot have a time axis in seconds, so the longest lead is spread
  over the 10 s width of the paper and the page says that time is not to scale;
- more than 10 s: the first 10 s are drawn (the page says how much there is).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ecg_graphql.formats.record import MEASUREMENT_UNITS, EcgRecord, RecordLead

PAGE_WIDTH_MM = 297.0
PAGE_HEIGHT_MM = 210.0
MM_PER_SECOND = 25.0
MM_PER_MV = 10.0
MINOR_MM = 1.0
MAJOR_MM = 5.0
COLUMN_MM = 0.1
# Trace points are integers in tenths of a millimetre (DMM), exactly the drawing resolution.
DMM_PER_MM = 10
PAGE_SECONDS = 10.0

GRID_LEFT = 16.0
GRID_TOP = 40.0
GRID_WIDTH = 265.0
GRID_HEIGHT = 160.0
LEAD_IN_MM = 10.0  # room for the calibration pulse before the traces start
TRACE_LEFT = GRID_LEFT + LEAD_IN_MM

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
RHYTHM_LEAD = "II"


class Layout(enum.Enum):
    """How the leads are arranged on the page."""

    STANDARD = "STANDARD"  # 3 rows x 4 columns of 2.5 s, plus a 10 s lead II rhythm strip
    SIX_BY_TWO = "SIX_BY_TWO"  # 6 rows x 2 columns of 5 s
    TWELVE_BY_ONE = "TWELVE_BY_ONE"  # 12 rows of 10 s


# Standard lead slots, row by row; each column is the next time window of the same 10 s.
_SLOTS: dict[Layout, tuple[tuple[str, ...], ...]] = {
    Layout.STANDARD: (
        ("I", "aVR", "V1", "V4"),
        ("II", "aVL", "V2", "V5"),
        ("III", "aVF", "V3", "V6"),
    ),
    Layout.SIX_BY_TWO: (
        ("I", "V1"),
        ("II", "V2"),
        ("III", "V3"),
        ("aVR", "V4"),
        ("aVL", "V5"),
        ("aVF", "V6"),
    ),
    Layout.TWELVE_BY_ONE: tuple((name,) for name in STANDARD_LEADS),
}
_ROW_PITCH_MM = {Layout.STANDARD: 40.0, Layout.SIX_BY_TWO: 25.0, Layout.TWELVE_BY_ONE: 13.0}


@dataclass(frozen=True, slots=True)
class Text:
    """A line of text; `y` is its baseline, `size` the font size, both in mm."""

    x: float
    y: float
    text: str
    size: float
    bold: bool = False
    anchor: str = "start"  # or "end"
    role: str = "header"  # header, label, note, footer


@dataclass(frozen=True, slots=True)
class Trace:
    """One lead's piece of paper: a polyline in DMM (x, y) integer points."""

    lead: str
    row: int
    column: int
    points: npt.NDArray[np.int32]  # shape (n, 2)
    fitted: bool  # amplitude fitted (gain unknown), not 10 mm/mV


@dataclass(frozen=True, slots=True)
class Page:
    """Everything a renderer draws, in mm on a `width` x `height` sheet, y pointing down."""

    width: float
    height: float
    title: str
    grid: tuple[float, float, float, float]  # x, y, width, height
    minor_x: tuple[float, ...]
    minor_y: tuple[float, ...]
    major_x: tuple[float, ...]
    major_y: tuple[float, ...]
    calibrations: tuple[tuple[tuple[float, float], ...], ...]  # one polyline per row
    separators: tuple[tuple[float, float, float], ...]  # x, y from, y to
    traces: tuple[Trace, ...]
    texts: tuple[Text, ...]


@dataclass(frozen=True, slots=True)
class _Cell:
    lead: RecordLead
    row: int
    column: int
    start_s: float
    end_s: float


def layout_page(record: EcgRecord, layout: Layout = Layout.STANDARD) -> Page:
    """The page of `record` in `layout`: grid, calibration, traces, labels and header."""
    rows = _arrange(record, layout)
    pitch = _ROW_PITCH_MM[layout]
    top = GRID_TOP + (GRID_HEIGHT - pitch * len(rows)) / 2
    baselines = [top + pitch * (i + 0.5) for i in range(len(rows))]

    rate, time_to_scale = _drawing_rate(record)
    fitted_scale = _fitted_units_per_mv(record, pitch)
    shown = {cell.lead.name for row in rows for cell in row}

    traces: list[Trace] = []
    texts: list[Text] = []
    separators: list[tuple[float, float, float]] = []
    for row_index, row in enumerate(rows):
        baseline = baselines[row_index]
        for cell in row:
            lead = cell.lead
            units_per_mv = lead.units_per_mv or fitted_scale
            points = trace_points(
                lead.samples,
                rate=rate,
                units_per_mv=units_per_mv,
                start_s=cell.start_s,
                end_s=cell.end_s,
                x0_mm=TRACE_LEFT,
                baseline_mm=baseline,
            )
            traces.append(
                Trace(lead.name, row_index, cell.column, points, lead.units_per_mv is None)
            )
            x = TRACE_LEFT + cell.start_s * MM_PER_SECOND
            label = lead.name + ("*" if lead.units_per_mv is None else "")
            texts.append(
                Text(x + 1.5, baseline - min(pitch / 2 - 4.0, 12.0), label, 3.2, True, role="label")
            )
            if cell.column > 0:
                separators.append((x, baseline - 3.0, baseline + 3.0))

    calibrated = any(lead.units_per_mv is not None for lead in record.leads if lead.name in shown)
    calibrations = tuple(_calibration(b) for b in baselines) if calibrated else ()
    texts.extend(_header(record, layout, rate, time_to_scale, fitted_scale, shown, calibrated))
    return Page(
        width=PAGE_WIDTH_MM,
        height=PAGE_HEIGHT_MM,
        title=f"ECG {record.id}",
        grid=(GRID_LEFT, GRID_TOP, GRID_WIDTH, GRID_HEIGHT),
        minor_x=_lines(GRID_LEFT, GRID_WIDTH, MINOR_MM, skip=MAJOR_MM),
        minor_y=_lines(GRID_TOP, GRID_HEIGHT, MINOR_MM, skip=MAJOR_MM),
        major_x=_lines(GRID_LEFT, GRID_WIDTH, MAJOR_MM),
        major_y=_lines(GRID_TOP, GRID_HEIGHT, MAJOR_MM),
        calibrations=calibrations,
        separators=tuple(separators),
        traces=tuple(traces),
        texts=tuple(texts),
    )


def trace_points(
    samples: npt.NDArray[np.integer],
    *,
    rate: float,
    units_per_mv: float,
    start_s: float,
    end_s: float,
    x0_mm: float,
    baseline_mm: float,
) -> npt.NDArray[np.int32]:
    """The polyline (DMM points) of the samples in [start_s, end_s), sample k at
    x0 + 25 mm/s * k / rate and baseline - 10 mm/mV * value / units_per_mv, reduced to the
    lowest and highest point of each 0.1 mm column (in the order the trace passes them)."""
    first = max(0, math.ceil(start_s * rate - 1e-9))
    last = min(len(samples), math.ceil(end_s * rate - 1e-9))
    if last <= first:
        return np.zeros((0, 2), dtype=np.int32)
    values = samples[first:last].astype(np.float64)
    index = np.arange(first, last, dtype=np.float64)
    dmm_per_sample = MM_PER_SECOND * DMM_PER_MM / rate
    columns = np.floor(index * dmm_per_sample + x0_mm * DMM_PER_MM + 1e-6).astype(np.int64)
    ys = np.rint(baseline_mm * DMM_PER_MM - values * (MM_PER_MV * DMM_PER_MM / units_per_mv))
    ys = ys.astype(np.int64)

    starts = np.flatnonzero(np.r_[True, columns[1:] != columns[:-1]])
    low = np.minimum.reduceat(ys, starts)
    high = np.maximum.reduceat(ys, starts)
    # The trace enters each column from the previous column's last sample: the extreme nearer
    # to that sample is passed first.
    entering = ys[np.maximum(starts - 1, 0)]
    low_first = np.abs(low - entering) <= np.abs(high - entering)
    first_y = np.where(low_first, low, high)
    second_y = np.where(low_first, high, low)
    xs = columns[starts]
    points = np.empty((len(starts) * 2, 2), dtype=np.int64)
    points[0::2, 0] = xs
    points[1::2, 0] = xs
    points[0::2, 1] = first_y
    points[1::2, 1] = second_y
    keep = np.ones(len(points), dtype=bool)
    keep[1::2] = low != high  # a column with one value is one point
    return points[keep].astype(np.int32)


def _arrange(record: EcgRecord, layout: Layout) -> list[list[_Cell]]:
    """Cells row by row: standard leads in their standard slot, other leads in the free slots
    in upload order, a missing lead leaving its slot empty; STANDARD adds the rhythm strip."""
    slots = _SLOTS[layout]
    by_name = {lead.name: lead for lead in record.leads}
    others = [lead for lead in record.leads if lead.name not in STANDARD_LEADS]
    columns = len(slots[0])
    window = PAGE_SECONDS / columns
    rows: list[list[_Cell]] = []
    placed: list[tuple[int, int, str]] = []
    for r, names in enumerate(slots):
        for c, name in enumerate(names):
            placed.append((r, c, name))
    assignment: dict[tuple[int, int], RecordLead] = {}
    for r, c, name in placed:
        if name in by_name:
            assignment[(r, c)] = by_name[name]
    free = [(r, c) for r, c, name in placed if name not in by_name]
    for (r, c), lead in zip(free, others, strict=False):
        assignment[(r, c)] = lead
    for r in range(len(slots)):
        rows.append(
            [
                _Cell(assignment[(r, c)], r, c, c * window, (c + 1) * window)
                for c in range(columns)
                if (r, c) in assignment
            ]
        )
    if layout is Layout.STANDARD:
        rhythm = by_name.get(RHYTHM_LEAD, record.leads[0])
        rows.append([_Cell(rhythm, len(rows), 0, 0.0, PAGE_SECONDS)])
    return rows


def _drawing_rate(record: EcgRecord) -> tuple[float, bool]:
    """Samples per second along the paper, and whether that is the real time scale."""
    if record.sampling_rate is not None:
        return record.sampling_rate, True
    return max(record.longest, 1) / PAGE_SECONDS, False


def _fitted_units_per_mv(record: EcgRecord, pitch: float) -> float:
    """Counts drawn per 10 mm for leads of unknown gain: a round number (1, 2 or 5 x 10^k) at
    which their largest absolute value stays within 45 % of the row pitch from the baseline."""
    peak = max(
        (
            float(np.max(np.abs(lead.samples)))
            for lead in record.leads
            if lead.units_per_mv is None and len(lead.samples)
        ),
        default=0.0,
    )
    if peak == 0:
        return 1.0
    needed = peak / (pitch * 0.45) * MM_PER_MV
    exponent = math.floor(math.log10(needed))
    for step in (1.0, 2.0, 5.0, 10.0):
        nice = step * 10.0**exponent
        if nice >= needed:
            return nice
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop ends at 10 x 10^k


def _calibration(baseline: float) -> tuple[tuple[float, float], ...]:
    """A 1 mV pulse, 0.2 s wide, standing on the row's baseline in the lead-in."""
    left = GRID_LEFT + 2.0
    width = 0.2 * MM_PER_SECOND
    top = baseline - MM_PER_MV
    return (
        (GRID_LEFT, baseline),
        (left, baseline),
        (left, top),
        (left + width, top),
        (left + width, baseline),
        (TRACE_LEFT, baseline),
    )


def _lines(
    start: float, length: float, pitch: float, skip: float | None = None
) -> tuple[float, ...]:
    count = round(length / pitch)
    positions = [start + i * pitch for i in range(count + 1)]
    if skip is None:
        return tuple(positions)
    every = round(skip / pitch)
    return tuple(p for i, p in enumerate(positions) if i % every)


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.3g}"


def _measurement_line(record: EcgRecord) -> str:
    if record.measurements is None:
        if record.zero_crossings:
            counts = "  ".join(f"{name} {n}" for name, n in record.zero_crossings.items())
            return f"Zero crossings: {counts}"
        return "Measurements: not available"
    names = {
        "heart_rate": "HR",
        "pr_interval": "PR",
        "qrs_duration": "QRS",
        "qt_interval": "QT",
        "qtc_bazett": "QTc Bazett",
        "qtc_fridericia": "QTc Fridericia",
        "qrs_axis": "QRS axis",
        "t_axis": "T axis",
        "rhythm": "Rhythm",
    }
    parts = []
    for key, label in names.items():
        value = record.measurements.get(key)
        unit = {"deg": "°", "": ""}.get(MEASUREMENT_UNITS[key], " " + MEASUREMENT_UNITS[key])
        if value is None:
            parts.append(f"{label} —")
        elif isinstance(value, str):
            parts.append(f"{label} {value}")
        else:
            parts.append(f"{label} {_number(value)}{unit}")
    return "   ".join(parts)


def _header(
    record: EcgRecord,
    layout: Layout,
    rate: float,
    time_to_scale: bool,
    fitted_scale: float,
    shown: set[str],
    calibrated: bool,
) -> list[Text]:
    width = GRID_WIDTH
    title = f"ECG {record.id}"
    # Helvetica averages about 0.55 em per character: a long id gets a smaller font, not cut.
    title_size = min(5.0, width / (0.55 * max(len(title), 1)))
    duration = f"{record.longest / record.sampling_rate:g} s" if record.sampling_rate else (
        f"{record.longest} samples"
    )
    rate_text = f"{record.sampling_rate:g} Hz" if record.sampling_rate else "unknown"
    texts = [
        Text(GRID_LEFT, 12.0, title, title_size, True),
        Text(
            GRID_LEFT,
            19.0,
            f"Recorded {record.date.isoformat(sep=' ')}    Sampling rate {rate_text}    "
            f"{len(record.leads)} leads, {duration}",
            3.2,
        ),
        Text(GRID_LEFT, 25.5, _measurement_line(record), 3.0),
    ]
    notes = []
    if not time_to_scale:
        notes.append(
            "Sampling rate unknown: time is NOT to scale (the record is spread over the width)."
        )
    fitted = [
        lead.name for lead in record.leads if lead.units_per_mv is None and lead.name in shown
    ]
    if fitted:
        notes.append(
            f"Gain unknown for {', '.join(fitted)} (*): amplitude fitted, "
            f"10 mm = {fitted_scale:g} counts, not 1 mV."
        )
    if time_to_scale and record.longest / rate > PAGE_SECONDS + 1e-9:
        notes.append(f"Showing the first {PAGE_SECONDS:g} s of {record.longest / rate:g} s.")
    hidden = [lead.name for lead in record.leads if lead.name not in shown]
    if hidden:
        notes.append(f"Not shown in this layout: {', '.join(hidden)}.")
    # Two lines of notes fit above the grid; a third note shares the second line.
    for i, line in enumerate((notes[:1], notes[1:]) if notes else ()):
        if line:
            texts.append(Text(GRID_LEFT, 31.5 + 4.0 * i, "  ".join(line), 2.8, True, role="note"))
    speed = f"{MM_PER_SECOND:g} mm/s" if time_to_scale else "time not to scale"
    gain = f"{MM_PER_MV:g} mm/mV" if calibrated else "gain unknown"
    texts.append(
        Text(GRID_LEFT, 206.0, f"{speed}    {gain}    Layout {layout.value}", 3.0, role="footer")
    )
    texts.append(
        Text(GRID_LEFT + width, 206.0, "ecg-graphql", 3.0, anchor="end", role="footer")
    )
    return texts

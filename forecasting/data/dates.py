"""Find a table's date column and read it: its format, its day/month order and its UTC offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from forecasting.data.cells import at_lines, distinct, joined, listed, per_distinct, spread, text
from forecasting.data.frequency import infer_freq
from forecasting.data.panel import Note
from forecasting.errors import DataError

ISO = "ISO8601"
TIME_WORDS = {"date", "ds", "time", "timestamp", "datetime", "period", "month", "week", "day"}
_TIMES = ["", " %H:%M", " %H:%M:%S"]
_YEAR_FIRST = ["%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"]
_MONTH_FIRST = ["%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y", "%m/%d/%y"]
_DAY_FIRST = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d.%m.%y"]
_NAMED_MONTHS = ["%Y/%m", "%m/%Y", "%b %Y", "%b-%y", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y"]
_DAY_MONTH = {date + time for date in _MONTH_FIRST + _DAY_FIRST for time in _TIMES}
_ORDER_SERIES = 200  # series (evenly chosen) whose regularity decides between day-first and month-first
# A UTC offset (Z, +02:00, +0200, +02) after the time of an ISO 8601 timestamp; a date alone ends in "-31".
_OFFSET = r"(?:T|\s|:)\d[\d:.,]*\s*(Z|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class DateColumn:
    """The date column and the formats that read the most of it: two when both day orders read it alike."""

    name: str
    formats: tuple[str, ...]


@dataclass(frozen=True)
class DateOrder:
    """The format chosen, its day/month order (None when it has none) and how sure that order is."""

    date_format: str
    dayfirst: bool | None = None
    other_reads: bool = False  # the other order reads every date too
    ambiguous: bool = False  # the data could not tell the orders apart: a guess, explained in the note
    note: Note | None = None


def find_date_column(table: pd.DataFrame, time_col: str | None, dayfirst: bool | None, name: str) -> DateColumn:
    """The date column and its format(s): the column named, else a name hint, else the first that parses."""
    if time_col is not None:
        if time_col not in table.columns:
            raise DataError(f"{name}: no column '{time_col}' (time_col). Columns present: {listed(table.columns)}.")
        candidates, hinted = [time_col], []
    else:
        hinted = [c for c in table.columns if set(re.split(r"[^a-z0-9]+", c.lower())) & TIME_WORDS]
        candidates = hinted + [c for c in table.columns if c not in hinted and not _looks_numeric(table[c])]
    for column in candidates:
        least = 0.0 if column == time_col else 0.5 if column in hinted else 0.8
        date_format, share = _date_format(table[column], dayfirst)
        if date_format is not None and share >= least and share > 0:
            return DateColumn(column, _best_orders(table[column], date_format, dayfirst))
    if time_col is not None:
        raise DataError(
            f"{name}: column '{time_col}' holds no dates that can be read, first at "
            f"{at_lines(text(table[time_col].dropna()))}. Write the dates like 2024-01-31 (or 31/01/2024), "
            "or pass time_col= to name the date column."
        )
    raise DataError(
        f"{name}: no column holds dates. Columns present: {listed(table.columns)}. "
        "Pass time_col= to name the date column."
    )


def read_dates(raw: pd.Series, date_format: str) -> pd.Series:
    """Cells as naive timestamps (those with a UTC offset at UTC); NaT where a cell is not in the format."""
    def read(cells: pd.Series) -> pd.Series:
        times = _to_datetime(cells.str.strip(), date_format)
        return times.dt.tz_localize(None) if date_format == ISO else times

    return per_distinct(raw, read)


def _to_datetime(text: pd.Series, date_format: str) -> pd.Series:
    """Only ISO 8601 dates can carry UTC offsets (Z, +02:00): read at UTC, so that mixed offsets parse."""
    return pd.to_datetime(text, format=date_format, errors="coerce", utc=date_format == ISO)


def is_dotted(date_format: str) -> bool:
    """Day and month joined by dots (31.01.2024): written where the decimal mark is a comma."""
    return date_format in _DAY_MONTH and "." in date_format


def settle_order(
    raw: pd.Series, dates: DateColumn, ids: pd.Series | None, conventions: list[str], dayfirst: bool | None
) -> DateOrder:
    """Day-first or month-first, when the format has a day and a month: the one that reads the dates, else the
    one that makes the series (per id) regular, else the file's conventions or the longer step, noted as a guess.
    """
    first = dates.formats[0]
    if first not in _DAY_MONTH:
        return DateOrder(first)
    if len(dates.formats) == 1:
        other_reads = dayfirst is not None and _misses(raw, _swapped(first)) == 0
        return DateOrder(first, _is_dayfirst(first), other_reads)
    readings = {fmt: read_dates(raw, fmt) for fmt in dates.formats}
    day_first, month_first = sorted(dates.formats, key=_is_dayfirst, reverse=True)
    if readings[day_first].equals(readings[month_first]):  # every day equals its month: either reads the same
        chosen = day_first if conventions else month_first
        return DateOrder(chosen, _is_dayfirst(chosen), other_reads=True)
    scores = {fmt: _regular_series(readings[fmt], ids) for fmt in dates.formats}
    if scores[day_first] != scores[month_first]:
        chosen = max(dates.formats, key=scores.__getitem__)
        return DateOrder(chosen, _is_dayfirst(chosen), other_reads=True)
    chosen, reason = _guess_order(readings, day_first, month_first, conventions)
    other = month_first if chosen == day_first else day_first
    note = _order_note(dates.name, raw, readings[chosen], readings[other], _is_dayfirst(chosen), reason)
    return DateOrder(chosen, _is_dayfirst(chosen), other_reads=True, ambiguous=True, note=note)


def _order_note(column: str, raw: pd.Series, chosen: pd.Series, other: pd.Series, dayfirst: bool, reason: str) -> Note:
    """The note on a guessed day order: a date the two orders read differently, both readings, and the switch."""
    # a date both orders read (a damaged cell reads as NaT in both, and NaT != NaT)
    line = raw.index[(chosen.notna() & other.notna() & (chosen != other)).to_numpy()][0]
    words = ("month-first", "day-first") if dayfirst else ("day-first", "month-first")
    return Note("date_order", column, (
        f"column '{column}': dates like '{raw[line].strip()}' read both day-first and month-first "
        f"({_when(chosen[line])} or {_when(other[line])}); read {words[1]}, {reason}. "
        f"Pass dayfirst={not dayfirst} to read them {words[0]}."
    ))


def parse_dates(
    table: pd.DataFrame, column: str, date_format: str, timezone: str, name: str
) -> tuple[pd.Series, str | None, Note | None]:
    """The whole column in one format, as naive timestamps: dates with UTC offsets converted to `timezone`.

    Returns the times, the zone they were converted to (None when they had no offsets) and a note saying so.
    Values in another format, and offsets on some dates but not others, are errors naming their lines.
    """
    raw = table[column]
    cells = distinct(raw)  # each distinct cell read once
    stripped = cells.cells.str.strip()
    times = _to_datetime(stripped, date_format)
    bad = cells.rows(times.isna())
    if bad.any():
        example = "2024-01-31" if date_format == ISO else pd.Timestamp("2024-01-31 13:45").strftime(date_format)
        raise DataError(
            f"{name}: column '{column}' has {bad.sum()} date(s) not in the format of the others "
            f"({date_format}, e.g. {example}), first at {at_lines(_stripped(raw[bad]))}. Write all dates in one "
            f"format{', or pass dayfirst=True or False to set the day order' if date_format in _DAY_MONTH else ''}."
        )
    if date_format != ISO:
        return cells.spread(times), None, None
    offsets = _offsets(stripped)
    if offsets.isna().all():
        return cells.spread(times.dt.tz_localize(None)), None, None
    offsets = cells.spread(offsets)
    aware = offsets.notna()
    naive = raw.notna() & ~aware
    if naive.any():
        raise DataError(
            f"{name}: column '{column}' mixes dates with a UTC offset ({at_lines(_stripped(raw[aware].head(3)))}) "
            f"and dates without one ({at_lines(_stripped(raw[naive].head(3)))}). Write every date with its offset "
            "(e.g. 2024-01-31T13:45:00+01:00), or none."
        )
    shown = ", ".join(f"'{offset}'" for offset in offsets.unique()[:3])
    note = Note("timezone", column, (
        f"column '{column}': dates carry UTC offsets ({shown}{' and more' if offsets.nunique() > 3 else ''}); "
        f"converted to {timezone} and kept as {timezone} clock times. Pass timezone= to choose another zone."
    ))
    return cells.spread(times.dt.tz_convert(timezone).dt.tz_localize(None)), timezone, note


def _stripped(cells: pd.Series) -> pd.Series:
    return text(cells).str.strip()


def _offsets(raw: pd.Series) -> pd.Series:
    """Each cell's UTC offset as written, NaN where it has none (found in Arrow: most columns have none)."""
    cells = pa.array(raw.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    aware = pc.fill_null(pc.match_substring_regex(cells, _OFFSET), False).to_numpy(zero_copy_only=False)
    offsets = pd.Series(np.nan, index=raw.index, dtype=object)
    if aware.any():
        offsets[aware] = raw[aware].str.extract(_OFFSET, expand=False)
    return offsets


def check_timezone(timezone: str, name: str) -> str:
    """The zone name, if pandas knows it (DataError otherwise)."""
    try:
        pd.Timestamp("2000-01-01", tz="UTC").tz_convert(timezone)
    except (KeyError, ValueError, TypeError) as error:
        raise DataError(
            f"{name}: timezone={timezone!r} is not a known time zone ({error}). "
            "Pass a name like 'UTC' or 'Europe/Berlin'."
        ) from error
    return timezone


def _looks_numeric(values: pd.Series) -> bool:
    """Whether nearly all of a sample of the cells are plain numbers (such a column is not a date candidate)."""
    sample = text(spread(values))
    return len(sample) > 0 and pd.to_numeric(sample, errors="coerce").notna().mean() > 0.9


def _date_format(values: pd.Series, dayfirst: bool | None) -> tuple[str | None, float]:
    """The format parsing most of a sample (the first listed on a tie), and the share it parses."""
    sample = _stripped(spread(values))
    if sample.empty:
        return None, 0.0
    formats = [ISO] + [date + time for date in _YEAR_FIRST for time in _TIMES]
    if dayfirst is not True:
        formats += [date + time for date in _MONTH_FIRST for time in _TIMES]
    if dayfirst is not False:
        formats += [date + time for date in _DAY_FIRST for time in _TIMES]
    formats += _NAMED_MONTHS
    present = set("".join(sample.head(50)))
    best, best_count = None, 0
    for date_format in formats:
        if date_format != ISO and not set(re.sub("%.", "", date_format)) <= present:
            continue  # a separator no value holds: the format reads none of them
        count = int(_to_datetime(sample, date_format).notna().sum())
        if count > best_count:
            best, best_count = date_format, count
        if date_format == ISO and count == len(sample):
            break  # ISO dates are unambiguous
    return best, best_count / len(sample)


def _best_orders(values: pd.Series, date_format: str, dayfirst: bool | None) -> tuple[str, ...]:
    """The format, and the same with day and month swapped when that reads as many of all the values."""
    if date_format not in _DAY_MONTH or dayfirst is not None:
        return (date_format,)
    misses = {fmt: _misses(values, fmt) for fmt in (date_format, _swapped(date_format))}
    fewest = min(misses.values())
    return tuple(fmt for fmt, count in misses.items() if count == fewest)


def _misses(values: pd.Series, date_format: str) -> int:
    """The filled cells the format does not read."""
    return int((read_dates(values, date_format).isna() & values.notna()).sum())


def _swapped(date_format: str) -> str:
    return date_format.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _is_dayfirst(date_format: str) -> bool:
    return date_format.index("%d") < date_format.index("%m")


def _regular_series(times: pd.Series, ids: pd.Series | None) -> tuple[int, int]:
    """How many series the reading makes regular: (without gaps, allowing gaps), over up to _ORDER_SERIES series."""
    if ids is None:
        groups = [times]
    else:
        names = ids.dropna().unique()
        names = names[np.linspace(0, len(names) - 1, min(len(names), _ORDER_SERIES)).astype(int)]
        kept = ids.isin(names)
        groups = [group for _, group in times[kept].groupby(ids[kept], sort=False)]
    scores = [_regularity(group) for group in groups]
    return sum(strict for strict, _ in scores), sum(loose for _, loose in scores)


def _regularity(times: pd.Series) -> tuple[bool, bool]:
    """(pandas finds a frequency without gaps, infer_freq finds one allowing gaps)."""
    stamps = pd.DatetimeIndex(times.dropna().unique()).sort_values()
    return len(stamps) >= 3 and pd.infer_freq(stamps) is not None, infer_freq(times) is not None


def _guess_order(
    readings: dict[str, pd.Series], day_first: str, month_first: str, conventions: list[str]
) -> tuple[str, str]:
    """The order to take when both read every date and fit the data alike, and why, for the note."""
    if conventions:
        return day_first, f"as the file uses {joined(conventions)}, like files with day-first dates do"
    steps = {fmt: _median_step(readings[fmt]) for fmt in (day_first, month_first)}
    if steps[day_first] != steps[month_first]:
        chosen = max(steps, key=steps.__getitem__)
        other = month_first if chosen == day_first else day_first
        return chosen, f"which gives {_span(readings[chosen])} rather than {_span(readings[other])}"
    return month_first, "the default when nothing in the file tells them apart"


def _median_step(times: pd.Series) -> pd.Timedelta:
    stamps = pd.DatetimeIndex(times.dropna().unique()).sort_values()
    return pd.Series(stamps).diff().median() if len(stamps) > 1 else pd.Timedelta(0)


def _span(times: pd.Series) -> str:
    """'dates from 2024-01-01 to 2024-12-01 (frequency MS)', for a note."""
    freq = infer_freq(times)
    return f"dates from {_when(times.min())} to {_when(times.max())} ({f'frequency {freq}' if freq else 'irregular'})"


def _when(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else str(stamp)

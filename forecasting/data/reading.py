"""Read a CSV/TSV table (optionally gzipped) or a Parquet file into a validated long frame, sniffing its format."""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import unicodedata
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from forecasting.data.frame import LINE, validate_frame
from forecasting.data.frequency import infer_freq
from forecasting.data.panel import Panel, TableFormat
from forecasting.errors import DataError

_SEPARATORS = ",;\t|"
PARQUET_MAGIC = b"PAR1"
_SNIFF_LINES = 50
_SAMPLE = 1000  # values tried per format or number style; evenly spread over the column
_TIME_HINTS = {"date", "ds", "time", "timestamp", "datetime", "period", "month", "week", "day"}
_NUMBER_STYLES = {  # (decimal, thousands), most likely first: a tie between styles goes to the earlier one
    ",": [(".", None), (".", ","), (",", None), (",", ".")],
    "other": [(".", None), (",", None), (",", "."), (".", ",")],
}
_ISO = "ISO8601"
_TIMES = ["", " %H:%M", " %H:%M:%S"]
_YEAR_FIRST = ["%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"]
_MONTH_FIRST = ["%m/%d/%Y", "%m-%d-%Y", "%m.%d.%Y", "%m/%d/%y"]
_DAY_FIRST = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%y", "%d.%m.%y"]
_NAMED_MONTHS = ["%Y/%m", "%m/%Y", "%b %Y", "%b-%y", "%d %b %Y", "%d-%b-%Y", "%d-%b-%y"]


def read_table(
    source: str | os.PathLike | IO[bytes] | IO[str],
    *,
    id_col: str | None = None,
    time_col: str | None = None,
    target_col: str | list[str] | None = None,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
    dayfirst: bool | None = None,
    freq: str | None = None,
    min_length: int | None = None,
    fill: str = "interpolate",
    duplicates: str = "error",
) -> Panel:
    """Read a CSV/TSV file (or .gz, or an open file) or a Parquet file into a Panel: the validated
    long frame (unique_id, ds, y, covariates), its FrameReport and the sniffed TableFormat. Parquet
    is recognised by its magic bytes or a .parquet name.

    Raises DataError naming the file, column, first offending lines and the fix.
    """
    name = _source_name(source)
    content = _read_bytes(source, name)
    if _is_parquet(content, name):
        table, used_encoding, sep, decimal = _parse_parquet(content, name), "parquet", "", "."
    else:
        text, used_encoding = _decode(content, encoding, name)
        sep = sep or _sniff_separator(text)
        table = _parse_table(text, sep, name)
    time_col, times, date_format = _find_times(table, time_col, dayfirst, name)
    if id_col is not None and id_col not in table.columns:
        raise DataError(f"{name}: no column '{id_col}' (id_col). Columns present: {_listed(table.columns)}.")
    if id_col is None and "unique_id" in table.columns:
        id_col = "unique_id"  # the contract's own name needs no guessing
    others = [column for column in table.columns if column not in (time_col, id_col)]
    decimal, thousands = _number_style(table[others], sep, decimal)
    numbers = _numeric_columns(table[others], decimal, thousands, name)
    id_col = id_col or _find_id_column(table, others, numbers, times)
    layout = "long" if id_col else "wide"
    targets = _targets(table, target_col, numbers, id_col, time_col, name)
    columns = {column: numbers.get(column, table[column]) for column in others}
    columns[time_col] = times
    if id_col or len(targets) == 1:
        # Already long (or one series): keep the user's column names, so messages speak of them.
        frame = pd.DataFrame({id_col: table[id_col], **columns} if id_col else columns)
        id_name, target = id_col or "unique_id", targets[0]
    else:
        frame = _melt(columns, targets)
        id_name, target = "unique_id", "y"
    panel = validate_frame(
        frame.rename_axis(LINE),  # validate_frame then names offending rows by their line in the file
        id_col=id_name, time_col=time_col, target_col=target, freq=freq, min_length=min_length,
        fill=fill, duplicates=duplicates, source=name,
    )
    return Panel(panel.frame, panel.report, TableFormat(used_encoding, sep, decimal, thousands, time_col, date_format,
                                                        layout))


def _source_name(source: str | os.PathLike | IO[bytes] | IO[str]) -> str:
    """The path, or an open file's name, for messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", None) or "the uploaded file")


def _read_bytes(source: str | os.PathLike | IO[bytes] | IO[str], name: str) -> bytes | str:
    """The file's content, gunzipped when it is gzip data."""
    content = Path(source).read_bytes() if isinstance(source, (str, os.PathLike)) else source.read()
    if isinstance(content, bytes) and content[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(content)
        except (OSError, EOFError) as error:
            raise DataError(
                f"{name} is a damaged gzip file ({error}). Compress it again, or save it as plain CSV."
            ) from error
    return content


def _decode(content: bytes | str, encoding: str | None, name: str) -> tuple[str, str]:
    """The text and the encoding used: the one given, else UTF-8 (with or without BOM), else cp1252/Latin-1."""
    if isinstance(content, str):
        text, used = content, "text"
    elif b"\x00" in content[:65536]:
        raise _not_text(name)
    elif encoding is not None:
        try:
            text, used = content.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as error:
            raise DataError(
                f"{name} cannot be decoded as encoding='{encoding}' ({error}). Leave encoding out to have it detected, "
                "or save the file as UTF-8 CSV."
            ) from error
    elif content.startswith(b"\xef\xbb\xbf"):
        text, used = content.decode("utf-8-sig"), "utf-8-sig"
    else:
        text, used = _decode_guess(content)
    if not text.strip():
        raise DataError(f"{name} is empty. Choose a CSV file with a header row and data rows.")
    sample = text[:65536]
    controls = sum(unicodedata.category(char) == "Cc" and char not in "\t\r\n\f" for char in sample)
    if "\x00" in sample or controls > 0.01 * len(sample):
        raise _not_text(name)
    return text.lstrip("\ufeff"), used


def _decode_guess(content: bytes) -> tuple[str, str]:
    """UTF-8 if it decodes, else Windows-1252, else Latin-1 (which decodes any byte)."""
    for candidate in ("utf-8", "cp1252"):
        try:
            return content.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    return content.decode("latin-1"), "latin-1"


def _not_text(name: str) -> DataError:
    """The error for bytes that are not a text table."""
    return DataError(
        f"{name} is not a text table (it holds binary data, e.g. an Excel or zip file). "
        "Save it as CSV (comma- or semicolon-separated text) and read that."
    )


def _sniff_separator(text: str) -> str:
    """The delimiter among , ; tab |: csv.Sniffer's guess if it splits all sampled lines alike, else the steadiest."""
    lines = [line for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    try:
        guess = csv.Sniffer().sniff("\n".join(lines), delimiters=_SEPARATORS).delimiter
    except csv.Error:
        guess = None
    counts = {sep: [len(row) for row in csv.reader(lines, delimiter=sep)] for sep in _SEPARATORS}
    if guess in counts and counts[guess][0] > 1 and len(set(counts[guess])) == 1:
        return guess

    def consistency(sep: str) -> tuple[float, int]:
        fields = counts[sep]
        return (sum(count == fields[0] for count in fields) / len(fields), fields[0])

    best = max(_SEPARATORS, key=consistency)
    return best if counts[best][0] > 1 else ","


def _is_parquet(content: bytes | str, name: str) -> bool:
    return isinstance(content, bytes) and (content[:4] == PARQUET_MAGIC or name.lower().endswith(".parquet"))


def _parse_parquet(content: bytes, name: str) -> pd.DataFrame:
    """A Parquet file as the text table _parse_table gives, so that it takes the same detection path.

    Cells become text (numbers by their repr, which reads back exactly; empty cells NaN); a stored
    pandas index (e.g. the dates) is a column like the others; the index counts rows from 1, since a
    Parquet file has no lines.
    """
    try:
        stored = pd.read_parquet(io.BytesIO(content))
    except (ValueError, OSError, ArrowException) as error:
        raise DataError(
            f"{name} is not a readable Parquet file ({error}). Write it again, or save it as CSV."
        ) from error
    if not isinstance(stored.index, pd.RangeIndex):
        stored = stored.reset_index()
    table = stored.astype(str).where(stored.notna().to_numpy())
    table.columns = [str(column).strip() for column in table.columns]
    table.index = pd.RangeIndex(1, len(table) + 1, name=LINE)
    if table.empty:
        raise DataError(f"{name} has columns ({_listed(table.columns)}) but no rows. Add the data rows.")
    return table


def _parse_table(text: str, sep: str, name: str) -> pd.DataFrame:
    """All cells as text (empty cells NaN), index = 1-based file line numbers, blank lines left out."""
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, skip_blank_lines=False, index_col=False)
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, saw = found.groups()
            detail = f"line {line} has {saw} fields but the header has {expected}"
        else:
            detail = f"it cannot be split into columns ({error})"
        raise DataError(
            f"{name}: {detail}. Check that line, or pass sep= if the delimiter {sep!r} is wrong."
        ) from error
    table.columns = [str(column).strip() for column in table.columns]
    table.index = pd.RangeIndex(2, len(table) + 2, name=LINE)
    table = table.dropna(how="all")  # blank lines: they hold no data
    # Trailing delimiters make headless, empty columns: they hold no data either.
    table = table.drop(columns=[c for c in table.columns if c.startswith("Unnamed: ") and table[c].isna().all()])
    if table.empty:
        raise DataError(f"{name} has a header ({_listed(table.columns)}) but no data rows. Add the data rows.")
    return table


def _find_times(
    table: pd.DataFrame, time_col: str | None, dayfirst: bool | None, name: str
) -> tuple[str, pd.Series, str]:
    """The date column, its parsed values and format: the one named, else a name hint, else the first that parses."""
    if time_col is not None:
        if time_col not in table.columns:
            raise DataError(f"{name}: no column '{time_col}' (time_col). Columns present: {_listed(table.columns)}.")
        candidates, hinted = [time_col], []
    else:
        hinted = [c for c in table.columns if set(re.split(r"[^a-z0-9]+", c.lower())) & _TIME_HINTS]
        candidates = hinted + [c for c in table.columns if c not in hinted and not _looks_numeric(table[c])]
    for column in candidates:
        least = 0.0 if column == time_col else 0.5 if column in hinted else 0.8
        values = table[column].dropna().str.strip()
        date_format, share = _date_format(values, dayfirst)
        if date_format is not None and share >= least and share > 0:
            return column, _parse_dates(table, column, date_format, name), date_format
    if time_col is not None:
        raise DataError(
            f"{name}: column '{time_col}' holds no dates that can be read, first at "
            f"{_lines(table[time_col].dropna())}. Write the dates like 2024-01-31 (or 31/01/2024), "
            "or pass time_col= to name the date column."
        )
    raise DataError(
        f"{name}: no column holds dates. Columns present: {_listed(table.columns)}. "
        "Pass time_col= to name the date column."
    )


def _looks_numeric(values: pd.Series) -> bool:
    """Whether nearly all of a sample of the cells are plain numbers (such a column is not a date candidate)."""
    sample = _spread(values.dropna())
    return len(sample) > 0 and pd.to_numeric(sample, errors="coerce").notna().mean() > 0.9


def _date_format(values: pd.Series, dayfirst: bool | None) -> tuple[str | None, float]:
    """The format parsing most of a sample, and the share it parses; ambiguous day/month goes to the regular reading."""
    sample = _spread(values)
    if sample.empty:
        return None, 0.0
    formats = [_ISO] + [date + time for date in _YEAR_FIRST for time in _TIMES]
    if dayfirst is not True:
        formats += [date + time for date in _MONTH_FIRST for time in _TIMES]
    if dayfirst is not False:
        formats += [date + time for date in _DAY_FIRST for time in _TIMES]
    formats += _NAMED_MONTHS
    best: list[tuple[str, pd.Series]] = []
    best_count = 0
    for date_format in formats:
        parsed = pd.to_datetime(sample, format=date_format, errors="coerce")
        count = int(parsed.notna().sum())
        if count > best_count:
            best, best_count = [(date_format, parsed)], count
        elif count == best_count and count > 0:
            best.append((date_format, parsed))
        if date_format == _ISO and count == len(sample):
            break  # ISO dates are unambiguous
    if not best:
        return None, 0.0
    # 01/02/2020 reads both ways; the reading that makes the first rows a regular series is the right one.
    head = values.head(_SAMPLE)
    chosen = max(
        (fmt for fmt, _ in best), key=lambda fmt: _regularity(pd.to_datetime(head, format=fmt, errors="coerce"))
    )
    return chosen, best_count / len(sample)


def _regularity(times: pd.Series) -> tuple[bool, bool]:
    """(pandas finds a frequency without gaps, infer_freq finds one allowing gaps): more is more regular."""
    stamps = pd.DatetimeIndex(times.dropna().unique()).sort_values()
    return len(stamps) >= 3 and pd.infer_freq(stamps) is not None, infer_freq(times) is not None


def _parse_dates(table: pd.DataFrame, column: str, date_format: str, name: str) -> pd.Series:
    """Parse the whole column in one format; values in another format are an error naming their lines."""
    raw = table[column].str.strip()
    times = pd.to_datetime(raw, format=date_format, errors="coerce")
    bad = times.isna() & raw.notna()
    if bad.any():
        example = "2024-01-31" if date_format == _ISO else pd.Timestamp("2024-01-31 13:45").strftime(date_format)
        raise DataError(
            f"{name}: column '{column}' has {bad.sum()} date(s) not in the format of the others "
            f"({date_format}, e.g. {example}), first at {_lines(raw[bad])}. Write all dates in one format"
            f"{', or pass dayfirst=' if date_format in _day_month_formats() else ''}."
        )
    return times


def _day_month_formats() -> set[str]:
    """The formats whose reading depends on day-first versus month-first."""
    return {date + time for date in _MONTH_FIRST + _DAY_FIRST for time in _TIMES}


def _number_style(table: pd.DataFrame, sep: str, decimal: str | None) -> tuple[str, str | None]:
    """(decimal, thousands) that reads the most cells as numbers; ties go to the usual style for the delimiter."""
    styles = _NUMBER_STYLES["," if sep == "," else "other"]
    if decimal is not None:
        styles = [style for style in styles if style[0] == decimal] or [(decimal, None)]
    cells = [_spread(table[column].dropna()).str.strip() for column in table.columns]
    sample = pd.concat(cells) if cells else pd.Series(dtype=str)
    counts = [int(sample.str.fullmatch(_number_pattern(*style), na=False).sum()) for style in styles]
    return styles[int(np.argmax(counts))]


def _number_pattern(decimal: str, thousands: str | None) -> str:
    """A regex for one number written with this decimal mark and optional thousands separator (or inf)."""
    digits = rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)" if thousands else r"\d+"
    point = re.escape(decimal)
    return rf"[+-]?(?:(?:{digits}(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity))"


def _numeric_columns(table: pd.DataFrame, decimal: str, thousands: str | None, name: str) -> dict[str, pd.Series]:
    """Columns whose cells are mostly numbers, parsed; a cell in them that is not a number is an error."""
    numbers = {}
    for column in table.columns:
        raw = table[column]
        parsed = _to_numbers(raw, decimal, thousands)
        filled = int(raw.notna().sum())
        if filled == 0 or parsed.notna().sum() < 0.5 * filled:
            continue
        bad = raw.notna() & parsed.isna()
        if bad.any():
            raise DataError(
                f"{name}: column '{column}' has {bad.sum()} value(s) that are not numbers, first at "
                f"{_lines(raw[bad])}. Correct them, or empty those cells to have them filled"
                f" (numbers are read with decimal {decimal!r}{f' and thousands {thousands!r}' if thousands else ''};"
                " pass decimal= if that is wrong)."
            )
        numbers[column] = parsed
    return numbers


def _to_numbers(raw: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    """Cells as numbers in the given style; NaN where a cell is empty or not a number."""
    if decimal == "." and thousands is None:
        return pd.to_numeric(raw, errors="coerce")  # the plain style: pandas' C parser is the fast path
    text = raw.str.strip()
    valid = text.str.fullmatch(_number_pattern(decimal, thousands), na=False)
    cleaned = text.str.replace(thousands, "", regex=False) if thousands else text
    return pd.to_numeric(cleaned.str.replace(decimal, ".", regex=False).where(valid), errors="coerce")


def _find_id_column(
    table: pd.DataFrame, others: list[str], numbers: dict[str, pd.Series], times: pd.Series
) -> str | None:
    """A text column telling series apart: its values repeat, and the dates repeat across them."""
    repeated_dates = int(times.duplicated().sum())
    if repeated_dates == 0:
        return None
    best, best_repeats = None, repeated_dates
    for column in others:
        if column in numbers or not 2 <= table[column].nunique() < len(table):
            continue
        repeats = int(pd.DataFrame({"id": table[column], "ds": times}).duplicated().sum())
        if repeats < best_repeats:
            best, best_repeats = column, repeats
    return best


def _targets(
    table: pd.DataFrame, target_col: str | list[str] | None, numbers: dict[str, pd.Series],
    id_col: str | None, time_col: str, name: str,
) -> list[str]:
    """The value column(s): as named, else 'y' or the one numeric column (long), else every numeric column (wide)."""
    if target_col is not None:
        named = [target_col] if isinstance(target_col, str) else list(target_col)
        lacking = [column for column in named if column not in table.columns]
        if lacking:
            raise DataError(
                f"{name}: no column {_listed(lacking)} (target_col). Columns present: {_listed(table.columns)}."
            )
        if id_col and len(named) != 1:
            raise DataError(
                f"{name}: a long table (one row per series and date, id column '{id_col}') has one value column, "
                f"but target_col names {len(named)}. Pass one of {_listed(named)}."
            )
        return named
    if id_col:
        if "y" in table.columns:
            return ["y"]
        if len(numbers) == 1:
            return list(numbers)
    elif numbers:
        return list(numbers)
    if not numbers:
        raise DataError(
            f"{name}: no column besides '{time_col}'{f' and {id_col!r}' if id_col else ''} holds numbers to forecast. "
            f"Columns present: {_listed(table.columns)}. Pass target_col= to name the value column."
        )
    raise DataError(
        f"{name}: several columns hold numbers ({_listed(numbers)}); which one is the value to forecast? "
        "Pass target_col= to name it (the others are kept as covariates)."
    )


def _melt(columns: dict[str, pd.Series], targets: list[str]) -> pd.DataFrame:
    """Wide to long: one block of rows per target column, unique_id = its name, covariates repeated."""
    shared = {column: values for column, values in columns.items() if column not in targets}
    blocks = [pd.DataFrame({"unique_id": target, "y": columns[target], **shared}) for target in targets]
    return pd.concat(blocks)


def _spread(values: pd.Series) -> pd.Series:
    """Up to _SAMPLE values evenly spread over the column, first and last included."""
    if len(values) <= _SAMPLE:
        return values
    return values.iloc[np.linspace(0, len(values) - 1, _SAMPLE).astype(int)]


def _lines(values: pd.Series) -> str:
    """The first offending values with their file line numbers."""
    shown = ", ".join(f"line {line}: {value!r}" for line, value in values.head(5).items())
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _listed(names: object) -> str:
    """Up to ten names in quotes, then how many more."""
    names = list(names)
    shown = ", ".join(f"'{name}'" for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")

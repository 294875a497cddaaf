"""Read a CSV/TSV table (optionally gzipped) or a Parquet file into a validated long frame, sniffing its format.

Whatever was decided rather than read plainly from the file (a day order or decimal mark that the data
alone could not settle, the id column, a column not read as numbers, converted time zones) is a Note in
the report and, where the app offers a switch, a field of the TableFormat.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ArrowException

from forecasting.data.cells import at_lines, joined, listed, spread
from forecasting.data.dates import (
    TIME_WORDS, DateColumn, check_timezone, find_date_column, is_dotted, parse_dates, read_dates, settle_order,
)
from forecasting.data.frame import LINE, validate_frame
from forecasting.data.panel import Note, Panel, TableFormat
from forecasting.errors import DataError

_SEPARATORS = ",;\t|"
PARQUET_MAGIC = b"PAR1"
_SNIFF_LINES = 50
_SNIFF_WIDTH = 100_000  # characters of a line the sniffer looks at: the csv module refuses fields over 131,072
_EXTRA = "Unnamed: extra"  # the headless last field of lines that hold one more field than the header
_SEP_LINE = re.compile(r'"?sep=(.)"?', re.IGNORECASE)  # Excel's first line naming the delimiter
_NUMBER_STYLES = {  # (decimal, thousands), most likely first: where styles read alike the earlier one is taken
    ",": [(".", None), (".", ","), (",", None), (",", ".")],
    "other": [(".", None), (",", None), (",", "."), (".", ",")],
}
# Cells that stand for a missing value (compared stripped and in lower case); blank cells are missing too.
PLACEHOLDERS = ("-", "--", "n/a", "na", "#n/a", "#na", "null", "nan", "-nan", "none", "<na>", "nat")
_PLACEHOLDERS = pa.array(PLACEHOLDERS)
_NOT_IDS = TIME_WORDS | {"hour", "minute", "second", "year", "quarter", "weekday", "dow"}


@dataclass(frozen=True)
class _Header:
    """Where the header row is: its file line, the delimiter an Excel 'sep=' line named, and the text from it on."""

    line: int
    sep: str | None
    text: str


@dataclass(frozen=True)
class _NumberStyle:
    decimal: str
    thousands: str | None
    ambiguous: bool = False


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
    timezone: str = "UTC",
    freq: str | None = None,
    min_length: int | None = None,
    fill: str = "interpolate",
    duplicates: str = "error",
) -> Panel:
    """Read a CSV/TSV file (or .gz, or an open file) or a Parquet file into a Panel: the validated
    long frame (unique_id, ds, y, covariates), its FrameReport (repairs, and notes on what was decided
    while reading) and the sniffed TableFormat. Parquet is recognised by its magic bytes or a .parquet name.
    Dates with UTC offsets are converted to `timezone` and kept as its clock times.

    Raises DataError naming the file, column, first offending lines and the fix.
    """
    name = _source_name(source)
    timezone = check_timezone(timezone, name)
    content = _read_bytes(source, name)
    if _is_parquet(content, name):
        table, used_encoding, sep, decimal, notes = _parse_parquet(content, name), "parquet", "", ".", []
    else:
        table, used_encoding, sep, notes = _read_text(content, encoding, sep, name)
    table, cell_notes = _clean_cells(table, sep, name)
    dates = find_date_column(table, time_col, dayfirst, name)
    time_col = dates.name
    if id_col is not None and id_col not in table.columns:
        raise DataError(f"{name}: no column '{id_col}' (id_col). Columns present: {listed(table.columns)}.")
    if id_col is None and "unique_id" in table.columns:
        id_col = "unique_id"  # the contract's own name needs no guessing
    others = [column for column in table.columns if column not in (time_col, id_col)]
    style, style_note = _number_style(table[others], sep, decimal, _number_conventions(sep, dates))
    numbers, column_notes = _numeric_columns(table[others], style, name)
    id_note = None
    if id_col is None:
        id_note = _find_id_column(table, others, numbers, read_dates(table[time_col], dates.formats[0]), target_col)
        if id_note is not None:
            id_col = id_note.column
            numbers.pop(id_col, None)
            others.remove(id_col)
    layout = "long" if id_col else "wide"
    targets = _targets(table, target_col, numbers, id_col, time_col, name)
    conventions = _date_conventions(sep, style, dates)
    order = settle_order(table[time_col], dates, table[id_col] if id_col else None, conventions, dayfirst)
    times, zone, zone_note = parse_dates(table, time_col, order.date_format, timezone, name)
    notes += [*cell_notes, id_note, *(note for note in column_notes if note.column != id_col), style_note,
              order.note, zone_note]
    columns = {column: numbers.get(column, table[column]) for column in others}
    columns[time_col] = times
    frame, id_name, target = _long_frame(columns, table[id_col] if id_col else None, targets)
    panel = validate_frame(
        frame.rename_axis(LINE),  # validate_frame then names offending rows by their line in the file
        id_col=id_name, time_col=time_col, target_col=target, freq=freq, min_length=min_length,
        fill=fill, duplicates=duplicates, source=name,
    )
    table_format = TableFormat(
        used_encoding, sep, style.decimal, style.thousands, time_col, order.date_format, layout, id_col,
        order.dayfirst, order.other_reads, order.ambiguous, style.ambiguous, zone,
    )
    report = replace(panel.report, notes=tuple(note for note in notes if note is not None))
    return Panel(panel.frame, report, table_format)


def _read_text(
    content: bytes | str, encoding: str | None, sep: str | None, name: str
) -> tuple[pd.DataFrame, str, str, list[Note]]:
    """A text table as cells: the table, the encoding and delimiter used, and a note if Excel's 'sep=' line named it."""
    text, used_encoding = _decode(content, encoding, name)
    header = _find_header(text, name)
    notes = []
    if header.sep is not None:
        notes.append(Note("header", None, (
            f"line {header.line - 1} ('sep={header.sep}', written by Excel) names the delimiter {header.sep!r}; "
            f"{'it was used and ' if sep in (None, header.sep) else ''}the line skipped."
        )))
    sep = sep or header.sep or _sniff_separator(header.text)
    return _parse_table(header.text, sep, name, header.line), used_encoding, sep, notes


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
        body = content[3:]
        try:
            text, used = body.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as error:
            line = body[:error.start].count(b"\n") + 1
            raise DataError(
                f"{name} starts with the UTF-8 byte-order mark but is not UTF-8: line {line} holds the byte "
                f"{body[error.start]:#04x}, which UTF-8 does not allow there. Save the file again as UTF-8 CSV, "
                "or pass encoding= (e.g. encoding='cp1252') if that is how it was written."
            ) from error
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


def _find_header(text: str, name: str) -> _Header:
    """Skip blank lines before the header row, and an Excel 'sep=;' line naming the delimiter."""
    start, line, sep = 0, 1, None
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        content = text[start:end].rstrip("\r\n")
        hint = _SEP_LINE.fullmatch(content.strip(" ")) if sep is None else None  # the delimiter may be a tab
        if content.strip() and hint is None:
            return _Header(line, sep, text[start:])
        if hint is not None:
            sep = hint.group(1)
        start, line = end, line + 1
    raise DataError(f"{name} has no header row: it holds no line with column names. Put them (e.g. ds,y) on line 1.")


def _sniff_separator(text: str) -> str:
    """The delimiter among , ; tab |: csv.Sniffer's guess if it splits all sampled lines alike, else the steadiest."""
    lines = [line[:_SNIFF_WIDTH] for line in _first_lines(text) if line.strip()]
    try:
        guess = csv.Sniffer().sniff("\n".join(lines), delimiters=_SEPARATORS).delimiter
    except csv.Error:
        guess = None
    counts = {sep: _field_counts(lines, sep) for sep in _SEPARATORS}
    if guess in counts and counts[guess][0] > 1 and len(set(counts[guess])) == 1:
        return guess

    def consistency(sep: str) -> tuple[float, int]:
        fields = counts[sep]
        return (sum(count == fields[0] for count in fields) / len(fields), fields[0])

    best = max(_SEPARATORS, key=consistency)
    return best if counts[best][0] > 1 else ","


def _first_lines(text: str) -> list[str]:
    """The first _SNIFF_LINES lines, without splitting the whole text."""
    end = 0
    for _ in range(_SNIFF_LINES):
        end = text.find("\n", end) + 1
        if end == 0:
            return text.splitlines()
    return text[:end].splitlines()


def _field_counts(lines: list[str], sep: str) -> list[int]:
    """Fields per line split by sep, quotes respected; plain counting where the csv module gives up (e.g. a NUL)."""
    try:
        return [len(row) for row in csv.reader(lines, delimiter=sep)]
    except csv.Error:
        return [line.count(sep) + 1 for line in lines]


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
        raise DataError(f"{name} has columns ({listed(table.columns)}) but no rows. Add the data rows.")
    return table


def _parse_table(text: str, sep: str, name: str, header_line: int) -> pd.DataFrame:
    """All cells as text (empty cells NaN), index = the file line numbers, the header on header_line."""
    try:
        table = _read_csv(text, sep)
        if table is None:  # a line holds one field more than the header: read it as a headless column
            header = _read_csv(text, sep, nrows=0)
            table = None if header is None else _read_csv(text, sep, header=0, names=[*header.columns, _EXTRA])
        if table is None:
            raise DataError(
                f"{name}: line {header_line + 1} has more fields than the header (line {header_line}). Check that "
                f"line, or pass sep= if the delimiter {sep!r} is wrong."
            )
    except pd.errors.ParserError as error:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
        if found:
            expected, line, saw = found.groups()
            detail = f"line {int(line) + header_line - 1} has {saw} fields but the header has {expected}"
        else:
            detail = f"it cannot be split into columns ({error})"
        raise DataError(
            f"{name}: {detail}. Check that line, or pass sep= if the delimiter {sep!r} is wrong."
        ) from error
    except pd.errors.EmptyDataError as error:
        raise DataError(
            f"{name}: line {header_line} holds no column names. Put them (e.g. ds,y) on the first line."
        ) from error
    table.columns = [str(column).strip() for column in table.columns]
    table.index = pd.RangeIndex(header_line + 1, len(table) + header_line + 1, name=LINE)
    if _EXTRA in table.columns:
        extra = table[_EXTRA].dropna()
        extra = extra[extra.str.strip() != ""]
        if len(extra):
            raise DataError(
                f"{name}: line {extra.index[0]} has {len(table.columns)} fields but the header has "
                f"{len(table.columns) - 1} ({at_lines(extra.head(3))} has no column name). Add the column's name "
                f"to the header, or pass sep= if the delimiter {sep!r} is wrong."
            )
    return table


def _read_csv(text: str, sep: str, **options: object) -> pd.DataFrame | None:
    """The cells as text, or None where pandas would drop the last field of lines longer than the header."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, skip_blank_lines=False, index_col=False,
                            keep_default_na=False, na_values=[""], **options)
    return None if any(issubclass(warning.category, pd.errors.ParserWarning) for warning in caught) else table


def _clean_cells(table: pd.DataFrame, sep: str, name: str) -> tuple[pd.DataFrame, list[Note]]:
    """Placeholders and blank cells as NaN, blank lines and empty headless columns left out, with notes."""
    table, blank, notes = _blank_placeholders(table)
    table, headless = _drop_blank(table, blank, name)
    if headless:
        notes.append(Note("column", None, (
            f"left out {len(headless)} empty column(s) without a header, made by a delimiter {sep!r} at the end "
            "of the lines."
        )))
    return table, notes


def _blank_placeholders(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[Note]]:
    """Blank cells and placeholders such as '-' or 'n/a' as NaN; also which cells were blank (empty or
    whitespace), and a note per column that had placeholders."""
    blank, placeholder = _missing_cells(table)
    notes = []
    for column in placeholder.columns[placeholder.any().to_numpy()]:
        written = table.loc[placeholder[column], column]
        spellings = ", ".join(f"'{value}'" for value in written.str.strip().unique()[:3])
        notes.append(Note("placeholders", column, (
            f"column '{column}': {len(written)} cell(s) written {spellings} (first at line {written.index[0]}) "
            "are read as missing values."
        )))
    missing = (blank | placeholder) & table.notna()
    changed = missing.columns[missing.any().to_numpy()]
    if len(changed):
        table = table.copy()
        for column in changed:
            table[column] = table[column].mask(missing[column])
    return table, blank, notes


def _missing_cells(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(blank, placeholder): which cells are empty or whitespace, and which hold a placeholder such as '-'.
    Computed in Arrow: per-cell Python string calls would cost seconds on large files."""
    blank, placeholder = {}, {}
    for column in table.columns:
        cells = pa.array(table[column].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        text = pc.utf8_trim_whitespace(cells)
        blank[column] = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
        placeholder[column] = pc.fill_null(pc.is_in(pc.utf8_lower(text), value_set=_PLACEHOLDERS), False
                                           ).to_numpy(zero_copy_only=False)
    return pd.DataFrame(blank, index=table.index), pd.DataFrame(placeholder, index=table.index)


def _drop_blank(table: pd.DataFrame, blank: pd.DataFrame, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Without blank lines, and without the empty, headless columns that trailing delimiters make (their names)."""
    lines = ~blank.all(axis=1)  # blank lines hold no data
    headless = [c for c in table.columns if c.startswith("Unnamed: ") and blank.loc[lines, c].all()]
    if not lines.all() or headless:
        table = table.loc[lines].drop(columns=headless)
    if table.columns.empty:
        raise DataError(f"{name}: the header line holds no column names. Put them (e.g. ds,y) on the first line.")
    if table.empty:
        raise DataError(f"{name} has a header ({listed(table.columns)}) but no data rows. Add the data rows.")
    return table, headless


def _number_conventions(sep: str, dates: DateColumn) -> list[str]:
    """What in the file says '.' separates thousands and ',' marks decimals, in words for a note."""
    return [*(["';' as the delimiter"] if sep == ";" else []),
            *(["dates written with dots"] if is_dotted(dates.formats[0]) else [])]


def _date_conventions(sep: str, style: _NumberStyle, dates: DateColumn) -> list[str]:
    """What in the file says its dates are written day-first, in words for a note."""
    return [*(["';' as the delimiter"] if sep == ";" else []),
            *(["',' as the decimal mark"] if style.decimal == "," and not style.ambiguous else []),
            *(["dates written with dots"] if is_dotted(dates.formats[0]) else [])]


def _number_style(
    table: pd.DataFrame, sep: str, decimal: str | None, conventions: list[str]
) -> tuple[_NumberStyle, Note | None]:
    """(decimal, thousands) that reads the most cells as numbers. Styles that read as many but differently
    ('1.000' is 1 or 1000) are settled by every cell of the columns, else by the file's conventions, noted."""
    styles = _NUMBER_STYLES["," if sep == "," else "other"]
    if decimal is not None:
        styles = [style for style in styles if style[0] == decimal] or [(decimal, None)]
    samples = {column: spread(table[column].dropna()).str.strip() for column in table.columns}
    cells = pd.concat(samples) if samples else pd.Series(dtype=str)  # indexed by (column, line)
    tied = _most_read(cells, styles)
    differing = _differing(cells, tied)
    if decimal is not None or differing.empty:
        return _NumberStyle(*tied[0]), None
    if any(table[column].notna().sum() > len(sample) for column, sample in samples.items()):
        cells = pd.concat({column: table[column].dropna().str.strip() for column in table.columns})
        tied = _most_read(cells, tied)
        differing = _differing(cells, tied)
        if differing.empty:
            return _NumberStyle(*tied[0]), None
    wanted = "," if conventions else "."
    chosen = next(style for style in tied if style[0] == wanted)
    other = next(style for style in tied if style[0] != wanted)
    (column, line), cell = differing.index[0], differing.iloc[0]
    value, other_value = (_to_numbers(differing.head(1), *style).iloc[0] for style in (chosen, other))
    reason = (f"as the file uses {joined(conventions)}" if conventions
              else "the default when nothing in the file tells which is meant")
    note = Note("number_style", column, (
        f"column '{column}': numbers like '{cell}' (line {line}) read as {value:.15g} with {_style_words(*chosen)}, "
        f"{reason}; with {_style_words(*other)} they would be {other_value:.15g}. Pass decimal='{other[0]}' if that "
        "is meant."
    ))
    return _NumberStyle(*chosen, ambiguous=True), note


def _most_read(cells: pd.Series, styles: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The styles reading the most cells as numbers, in the given order."""
    counts = [int(cells.str.fullmatch(_number_pattern(*style), na=False).sum()) for style in styles]
    return [style for style, count in zip(styles, counts) if count == max(counts)]


def _differing(cells: pd.Series, styles: list[tuple[str, str | None]]) -> pd.Series:
    """The cells that the first style and another both read, as different numbers."""
    first = _to_numbers(cells, *styles[0])
    differ = np.zeros(len(cells), dtype=bool)
    for style in styles[1:]:
        reading = _to_numbers(cells, *style)
        differ |= ((reading != first) & reading.notna() & first.notna()).to_numpy()
    return cells[differ]


def _style_words(decimal: str, thousands: str | None) -> str:
    return f"decimal '{decimal}'" + (f" and thousands '{thousands}'" if thousands else "")


def _number_pattern(decimal: str, thousands: str | None) -> str:
    """A regex for one number written with this decimal mark and optional thousands separator (or inf).
    A thousands group never starts with 0: '0.500' is a decimal."""
    digits = rf"(?:[1-9]\d{{0,2}}(?:{re.escape(thousands)}\d{{3}})+|\d+)" if thousands else r"\d+"
    point = re.escape(decimal)
    return rf"[+-]?(?:(?:{digits}(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity))"


def _numeric_columns(
    table: pd.DataFrame, style: _NumberStyle, name: str
) -> tuple[dict[str, pd.Series], list[Note]]:
    """Columns whose cells are mostly numbers, parsed; a cell in them that is not a number is an error.
    A column left as text though it holds some numbers, or holding no value at all, gets a note."""
    numbers, notes = {}, []
    for column in table.columns:
        raw = table[column]
        parsed = _to_numbers(raw, style.decimal, style.thousands)
        filled, read = int(raw.notna().sum()), int(parsed.notna().sum())
        if filled == 0:
            notes.append(Note("column", column, (
                f"column '{column}' holds no value (every cell is blank or a placeholder): kept as an empty "
                "covariate, not read as numbers."
            )))
            continue
        if read < 0.5 * filled:
            if read:
                text = raw[raw.notna() & parsed.isna()]
                notes.append(Note("column", column, (
                    f"column '{column}' is read as text (a covariate), not as numbers: only {read} of its {filled} "
                    f"filled cells are numbers; the others are text, first at {at_lines(text.head(3))}."
                )))
            continue
        bad = raw.notna() & parsed.isna()
        if bad.any():
            raise DataError(
                f"{name}: column '{column}' has {bad.sum()} value(s) that are not numbers, first at "
                f"{at_lines(raw[bad])}. Correct them, or empty those cells to have them filled"
                f" (numbers are read with {_style_words(style.decimal, style.thousands)};"
                " pass decimal= if that is wrong)."
            )
        numbers[column] = parsed
    return numbers, notes


def _to_numbers(raw: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    """Cells as numbers in the given style; NaN where a cell is empty or not a number."""
    if decimal == "." and thousands is None:
        return pd.to_numeric(raw, errors="coerce")  # the plain style: pandas' C parser is the fast path
    text = raw.str.strip()
    valid = text.str.fullmatch(_number_pattern(decimal, thousands), na=False)
    cleaned = text.str.replace(thousands, "", regex=False) if thousands else text
    return pd.to_numeric(cleaned.str.replace(decimal, ".", regex=False).where(valid), errors="coerce")


def _find_id_column(
    table: pd.DataFrame, others: list[str], numbers: dict[str, pd.Series], times: pd.Series,
    target_col: str | list[str] | None,
) -> Note | None:
    """The column telling series apart, as a note naming it and why: its values repeat, and the dates repeat
    across them. A text column is taken when it explains repeated dates; a whole-number column (stores 1, 2, 3)
    only when few values explain nearly all of many repeated dates and its name is not a time word.
    """
    repeated_dates = int(times.duplicated().sum())
    if repeated_dates == 0:
        return None
    texts = [column for column in others if column not in numbers and 2 <= table[column].nunique() < len(table)]
    best = _fewest_repeats(table, texts, times, below=repeated_dates)
    if best is not None:
        return Note("id_column", best, (
            f"column '{best}' taken as the series id: the dates repeat across its {table[best].nunique()} values "
            f"({listed(table[best].dropna().unique()[:3])}...). Pass id_col= to choose another column."
        ))
    if repeated_dates < len(table) / 3:
        return None
    named = {target_col} if isinstance(target_col, str) else set(target_col or ())
    wholes = [column for column in others if column in numbers and column not in named | {"y"}
              and not set(re.split(r"[^a-z0-9]+", column.lower())) & _NOT_IDS
              and 2 <= table[column].nunique() <= len(table) / 2 and _whole(numbers[column])]
    best = _fewest_repeats(table, wholes, times, below=0.1 * repeated_dates + 1)
    if best is None:
        return None
    values = table[best].dropna().unique()
    return Note("id_column", best, (
        f"column '{best}' taken as the series id, though it holds numbers: its {len(values)} whole numbers "
        f"({listed(values[:3])}...) each recur across the dates, one row per number and date, as ids do. "
        "Pass id_col= to choose another column, or target_col= if it is the value to forecast."
    ))


def _fewest_repeats(table: pd.DataFrame, columns: list[str], times: pd.Series, below: float) -> str | None:
    """The column whose values with the dates repeat the fewest (series, date) pairs, if fewer than `below`;
    ties go to the column with fewer values."""
    best, best_key = None, (below, 0)
    for column in columns:
        repeats = int(pd.DataFrame({"id": table[column], "ds": times}).duplicated().sum())
        key = (repeats, table[column].nunique())
        if key < best_key:
            best, best_key = column, key
    return best


def _whole(values: pd.Series) -> bool:
    """Every value is a whole number (an empty cell is not one)."""
    return bool(values.notna().all() and (values % 1 == 0).all())


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
                f"{name}: no column {listed(lacking)} (target_col). Columns present: {listed(table.columns)}."
            )
        if id_col and len(named) != 1:
            raise DataError(
                f"{name}: a long table (one row per series and date, id column '{id_col}') has one value column, "
                f"but target_col names {len(named)}. Pass one of {listed(named)}."
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
            f"Columns present: {listed(table.columns)}. Pass target_col= to name the value column."
        )
    raise DataError(
        f"{name}: several columns hold numbers ({listed(numbers)}); which one is the value to forecast? "
        "Pass target_col= to name it (the others are kept as covariates)."
    )


def _long_frame(
    columns: dict[str, pd.Series], ids: pd.Series | None, targets: list[str]
) -> tuple[pd.DataFrame, str, str]:
    """The frame for validate_frame, with its id and target column names: as it is when long (or one series),
    else melted from wide."""
    if ids is not None or len(targets) == 1:
        # Keep the user's column names, so messages speak of them.
        frame = pd.DataFrame({ids.name: ids, **columns} if ids is not None else columns)
        return frame, ids.name if ids is not None else "unique_id", targets[0]
    return _melt(columns, targets), "unique_id", "y"


def _melt(columns: dict[str, pd.Series], targets: list[str]) -> pd.DataFrame:
    """Wide to long: one block of rows per target column, unique_id = its name, covariates repeated."""
    shared = {column: values for column, values in columns.items() if column not in targets}
    blocks = [pd.DataFrame({"unique_id": target, "y": columns[target], **shared}) for target in targets]
    return pd.concat(blocks)

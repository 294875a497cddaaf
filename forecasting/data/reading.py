"""Read a CSV/TSV table (optionally gzipped) or a Parquet file into a validated long frame, sniffing its format.

Whatever was decided rather than read plainly from the file (a day order or decimal mark that the data
alone could not settle, the id column, a column not read as numbers, converted time zones) is a Note in
the report and, where the app offers a switch, a field of the TableFormat.

Memory: the file's text is checked and sniffed a chunk at a time, never decoded whole; its cells are held
as Arrow strings (about the size of the file, where Python strings take several times it) and read into
numbers and dates once per distinct cell; the long frame is built and validated as arrays handed over to
validate_columns, so that a large file needs a few times its size, not tens.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import io
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import ArrowException

from forecasting.data.cells import at_lines, joined, listed, per_distinct, spread, text
from forecasting.data.dates import (
    TIME_WORDS, DateColumn, check_timezone, find_date_column, is_dotted, parse_dates, read_dates, settle_order,
)
from forecasting.data.frame import LINE, validate_columns
from forecasting.data.lazy import read_tables
from forecasting.data.panel import Note, Panel, TableFormat
from forecasting.errors import DataError

_SEPARATORS = ",;\t|"
PARQUET_MAGIC = b"PAR1"
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20  # bytes decoded at a time where the text is only checked
_HEAD = 65_536  # characters (and bytes) looked at for binary content
_TEXT = pd.ArrowDtype(pa.string())  # the cells' type while the table is sniffed
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
class _Encoded:
    """A text table's bytes, the encoding to report, the codec that decodes them and where the text starts
    (past byte-order marks)."""

    content: bytes
    encoding: str
    codec: str
    start: int

    def text(self, start: int, end: int) -> str:
        return self.content[start:end].decode(self.codec)


@dataclass(frozen=True)
class _Header:
    """Where the header row is: its file line, the delimiter an Excel 'sep=' line named, and its first byte."""

    line: int
    sep: str | None
    start: int


@dataclass
class _Numbers:
    """The columns read as numbers, in column order. Those with decimals are rows of one block (the others
    hold whole numbers, kept as integers), so that a wide table's value columns melt into one column
    without a copy."""

    columns: dict[str, pd.Series]
    block: np.ndarray
    rows: list[str]  # the columns in the block, in its order


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
) -> Panel | dd.DataFrame:
    """Read a CSV/TSV file (or .gz, or an open file) or a Parquet file into a Panel: the validated
    long frame (unique_id, ds, y, covariates), its FrameReport (repairs, and notes on what was decided
    while reading) and the sniffed TableFormat. Parquet is recognised by its magic bytes or a .parquet name.
    Dates with UTC offsets are converted to `timezone` and kept as its clock times.

    A folder or a glob pattern of such files is read lazily instead, into a Dask DataFrame of unique_id, ds and
    y with one partition per file (see forecasting.data.lazy).

    Raises DataError naming the file, column, first offending lines and the fix.
    """
    if names_many_files(source):
        return read_tables(source, read_table, id_col=id_col, time_col=time_col, target_col=target_col, sep=sep,
                           decimal=decimal, encoding=encoding, dayfirst=dayfirst, timezone=timezone, freq=freq,
                           min_length=min_length, fill=fill, duplicates=duplicates)
    name = _source_name(source)
    timezone = check_timezone(timezone, name)
    content = _read_bytes(source, name)
    if _is_parquet(content, name):
        stored = _stored_parquet(content, name)
        typed = _typed_columns(stored, id_col, time_col, target_col)
        if typed is not None:       # typed columns need no reading as text: straight to validation
            return _typed_panel(stored, *typed, timezone, freq, min_length, fill, duplicates, name)
        table, used_encoding, sep, decimal, notes = _parquet_cells(stored, name), "parquet", "", ".", []
    else:
        table, used_encoding, sep, notes = _read_text(content, encoding, sep, name)
    del content
    table, cell_notes = _clean_cells(table, sep, name)
    dates = find_date_column(table, time_col, dayfirst, name)
    time_col = dates.name
    if id_col is not None and id_col not in table.columns:
        raise DataError(f"{name}: no column '{id_col}' (id_col). Columns present: {listed(table.columns)}.")
    if id_col is None and "unique_id" in table.columns:
        id_col = "unique_id"  # the contract's own name needs no guessing
    others = [column for column in table.columns if column not in (time_col, id_col)]
    style, style_note = _number_style(table, others, sep, decimal, _number_conventions(sep, dates))
    numbers, column_notes = _numeric_columns(table, others, style, name)
    id_note = None
    if id_col is None:
        id_note = _find_id_column(
            table, others, numbers.columns, read_dates(table[time_col], dates.formats[0]), target_col
        )
        if id_note is not None:
            id_col = id_note.column
            numbers.columns.pop(id_col, None)
            others.remove(id_col)
    layout = "long" if id_col else "wide"
    targets = _targets(table, target_col, numbers.columns, id_col, time_col, name)
    conventions = _date_conventions(sep, style, dates)
    order = settle_order(table[time_col], dates, table[id_col] if id_col else None, conventions, dayfirst)
    times, zone, zone_note = parse_dates(table, time_col, order.date_format, timezone, name)
    notes += [*cell_notes, id_note, *(note for note in column_notes if note.column != id_col), style_note,
              order.note, zone_note]
    columns = {column: numbers.columns.pop(column) if column in numbers.columns else _labels(table[column])
               for column in others}
    columns[time_col] = times
    ids = _series_ids(table[id_col]) if id_col else None
    lines = _line_numbers(table.index)
    del table, times  # the cells are read: free them before the long frame is built,
    pa.default_memory_pool().release_unused()  # and give their memory back: Arrow's allocator would keep it
    columns, lines, id_name, target = _long_frame(columns, lines, id_col, ids, targets, numbers)
    panel = validate_columns(
        columns, lines,  # handed over: validate_columns reuses the arrays and names rows by their file line
        id_col=id_name, time_col=time_col, target_col=target, freq=freq, min_length=min_length,
        fill=fill, duplicates=duplicates, source=name,
    )
    table_format = TableFormat(
        used_encoding, sep, style.decimal, style.thousands, time_col, order.date_format, layout, id_col,
        order.dayfirst, order.other_reads, order.ambiguous, style.ambiguous, zone,
    )
    report = replace(panel.report, notes=tuple(note for note in notes if note is not None))
    return Panel(panel.frame, report, table_format)


def names_many_files(source: object) -> bool:
    """A folder or a glob pattern (rather than one file or an open one)."""
    return isinstance(source, (str, os.PathLike)) and (Path(source).is_dir() or glob.has_magic(os.fspath(source)))


def _read_text(
    content: bytes | str, encoding: str | None, sep: str | None, name: str
) -> tuple[pd.DataFrame, str, str, list[Note]]:
    """A text table as cells: the table, the encoding and delimiter used, and a note if Excel's 'sep=' line named it."""
    encoded = _decode(content, encoding, name)
    header = _find_header(encoded, name)
    notes = []
    if header.sep is not None:
        notes.append(Note("header", None, (
            f"line {header.line - 1} ('sep={header.sep}', written by Excel) names the delimiter {header.sep!r}; "
            f"{'it was used and ' if sep in (None, header.sep) else ''}the line skipped."
        )))
    sep = sep or header.sep or _sniff_separator(_first_lines(encoded, header.start))
    return _parse_table(encoded, header, sep, name), encoded.encoding, sep, notes


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


def _decode(content: bytes | str, encoding: str | None, name: str) -> _Encoded:
    """The bytes and their encoding: the one given, else UTF-8 (with or without BOM), else cp1252/Latin-1.
    The text is checked a chunk at a time; it is never decoded whole."""
    swallowed = 0  # the byte-order mark that the encoding reads as no character
    if isinstance(content, str):
        try:
            content, used, codec = content.encode("utf-8"), "text", "utf-8"
        except UnicodeEncodeError as error:
            raise DataError(
                f"{name} holds characters that no file can hold ({error}). Save the file as UTF-8 CSV and read "
                "that, or open it in binary mode."
            ) from error
    elif b"\x00" in content[:_HEAD]:
        raise _not_text(name)
    elif encoding is not None:
        try:
            b"".decode(encoding)  # a text encoding Python knows (not, say, 'base64')
            if not _decodes(content, encoding):
                content.decode(encoding)  # raises the error, with its place in the file
        except (UnicodeDecodeError, LookupError) as error:
            raise DataError(
                f"{name} cannot be decoded as encoding='{encoding}' ({error}). Leave encoding out to have it detected, "
                "or save the file as UTF-8 CSV."
            ) from error
        used, codec = encoding, encoding
        if codecs.lookup(encoding).name == "utf-8-sig":
            swallowed, codec = (len(_BOM) if content.startswith(_BOM) else 0), "utf-8"
    elif content.startswith(_BOM):
        if not _decodes(content, "utf-8", len(_BOM)):
            _raise_not_utf8_after_bom(content, name)
        used, codec, swallowed = "utf-8-sig", "utf-8", len(_BOM)
    else:
        used = codec = _decode_guess(content)
    if _blank(content, swallowed, codec):
        raise DataError(f"{name} is empty. Choose a CSV file with a header row and data rows.")
    sample = codecs.getincrementaldecoder(codec)().decode(content[swallowed:swallowed + 4 * _HEAD])[:_HEAD]
    controls = sum(unicodedata.category(char) == "Cc" and char not in "\t\r\n\f" for char in sample)
    if "\x00" in sample or controls > 0.01 * len(sample):
        raise _not_text(name)
    marks = sample[:len(sample) - len(sample.lstrip("\ufeff"))]  # byte-order marks the text starts with
    return _Encoded(content, used, codec, swallowed + len(marks.encode(codec)))


def _decodes(content: bytes, codec: str, start: int = 0) -> bool:
    """Whether content[start:] decodes, checked a chunk at a time."""
    decoder = codecs.getincrementaldecoder(codec)()
    view = memoryview(content)[start:]
    try:
        for at in range(0, len(view), _CHUNK):
            decoder.decode(view[at:at + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _raise_not_utf8_after_bom(content: bytes, name: str) -> None:
    """The error for a file that starts with the UTF-8 byte-order mark but is not UTF-8, naming the line."""
    try:
        codecs.utf_8_decode(memoryview(content)[len(_BOM):], "strict", True)
    except UnicodeDecodeError as error:
        at = len(_BOM) + error.start
        line = content.count(b"\n", len(_BOM), at) + 1
        raise DataError(
            f"{name} starts with the UTF-8 byte-order mark but is not UTF-8: line {line} holds the byte "
            f"{content[at]:#04x}, which UTF-8 does not allow there. Save the file again as UTF-8 CSV, or pass "
            "encoding= (e.g. encoding='cp1252') if that is how it was written."
        ) from error


def _decode_guess(content: bytes) -> str:
    """UTF-8 if it decodes, else Windows-1252, else Latin-1 (which decodes any byte)."""
    return next((candidate for candidate in ("utf-8", "cp1252") if _decodes(content, candidate)), "latin-1")


def _blank(content: bytes, start: int, codec: str) -> bool:
    """Whether the text from start holds only whitespace, decoded a chunk at a time."""
    decoder = codecs.getincrementaldecoder(codec)()
    view = memoryview(content)[start:]
    return not any(decoder.decode(view[at:at + _CHUNK], final=at + _CHUNK >= len(view)).strip()
                   for at in range(0, len(view), _CHUNK))


def _not_text(name: str) -> DataError:
    """The error for bytes that are not a text table."""
    return DataError(
        f"{name} is not a text table (it holds binary data, e.g. an Excel or zip file). "
        "Save it as CSV (comma- or semicolon-separated text) and read that."
    )


def _find_header(encoded: _Encoded, name: str) -> _Header:
    """Skip blank lines before the header row, and an Excel 'sep=;' line naming the delimiter."""
    content = encoded.content
    start, line, sep = encoded.start, 1, None
    while start < len(content):
        end = content.find(b"\n", start)
        end = len(content) if end < 0 else end + 1
        cells = encoded.text(start, end).rstrip("\r\n")
        hint = _SEP_LINE.fullmatch(cells.strip(" ")) if sep is None else None  # the delimiter may be a tab
        if cells.strip() and hint is None:
            return _Header(line, sep, start)
        if hint is not None:
            sep = hint.group(1)
        start, line = end, line + 1
    raise DataError(f"{name} has no header row: it holds no line with column names. Put them (e.g. ds,y) on line 1.")


def _sniff_separator(lines: list[str]) -> str:
    """The delimiter among , ; tab |: csv.Sniffer's guess if it splits all sampled lines alike, else the steadiest."""
    lines = [line[:_SNIFF_WIDTH] for line in lines if line.strip()]
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


def _first_lines(encoded: _Encoded, start: int) -> list[str]:
    """The first _SNIFF_LINES lines from start, decoding no more of the file."""
    content, end = encoded.content, start
    for _ in range(_SNIFF_LINES):
        end = content.find(b"\n", end) + 1
        if end == 0:
            return encoded.text(start, len(content)).splitlines()
    return encoded.text(start, end).splitlines()


def _field_counts(lines: list[str], sep: str) -> list[int]:
    """Fields per line split by sep, quotes respected; plain counting where the csv module gives up (e.g. a NUL)."""
    try:
        return [len(row) for row in csv.reader(lines, delimiter=sep)]
    except csv.Error:
        return [line.count(sep) + 1 for line in lines]


def _is_parquet(content: bytes | str, name: str) -> bool:
    return isinstance(content, bytes) and (content[:4] == PARQUET_MAGIC or name.lower().endswith(".parquet"))


def _stored_parquet(content: bytes, name: str) -> pd.DataFrame:
    """A Parquet file's table as stored; a stored pandas index (e.g. the dates) is a column like the others."""
    try:
        stored = pd.read_parquet(io.BytesIO(content))
    except (ValueError, OSError, ArrowException) as error:
        raise DataError(
            f"{name} is not a readable Parquet file ({error}). Write it again, or save it as CSV."
        ) from error
    if not isinstance(stored.index, pd.RangeIndex):
        stored = stored.reset_index()
    stored.columns = [str(column).strip() for column in stored.columns]
    return stored


def _typed_columns(stored: pd.DataFrame, id_col: str | None, time_col: str | None,
                   target_col: str | list[str] | None) -> tuple[str, str, str] | None:
    """(id, time, target) where the file is a long table already typed, as pandas or `almanac forecast` write
    one: ids as text or whole numbers (none missing or blank), one date-time column, every other column numbers.
    Else None: the file is read as text cells (which detects, and names the trouble with, everything else)."""
    id_col = id_col or ("unique_id" if "unique_id" in stored.columns else None)
    times = [column for column in stored.columns if pd.api.types.is_datetime64_any_dtype(stored[column])]
    time_col = time_col or (times[0] if len(times) == 1 else None)
    if id_col not in stored.columns or time_col not in times or stored.columns.duplicated().any():
        return None
    others = [column for column in stored.columns if column not in (id_col, time_col)]
    if not all(pd.api.types.is_numeric_dtype(stored[column]) and not pd.api.types.is_bool_dtype(stored[column])
               for column in others):
        return None
    target_col = target_col or ("y" if "y" in others else others[0] if len(others) == 1 else None)
    if not isinstance(target_col, str) or target_col not in others:
        return None
    ids = stored[id_col]
    if pd.api.types.is_integer_dtype(ids):
        return id_col, time_col, target_col
    if not pd.api.types.is_string_dtype(ids) or not ids.map(lambda cell: isinstance(cell, str)).all() \
            or (ids.str.strip() == "").any():
        return None
    return id_col, time_col, target_col


def _typed_panel(stored: pd.DataFrame, id_col: str, time_col: str, target_col: str, timezone: str,
                 freq: str | None, min_length: int | None, fill: str, duplicates: str, name: str) -> Panel:
    """A typed long Parquet table validated as it is (see `_typed_columns`); dates with a zone are converted to
    `timezone` and kept as its clock times, as text dates with UTC offsets are."""
    times = stored[time_col]
    zone = None
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times, zone = times.dt.tz_convert(timezone).dt.tz_localize(None), timezone
    columns = {id_col: _series_ids(stored[id_col].astype(str)), time_col: times,
               **{column: stored[column] for column in stored.columns if column not in (id_col, time_col)}}
    lines = np.arange(1, len(stored) + 1, dtype=np.min_scalar_type(-max(len(stored), 1)))
    del stored
    panel = validate_columns(columns, lines, id_col=id_col, time_col=time_col, target_col=target_col, freq=freq,
                             min_length=min_length, fill=fill, duplicates=duplicates, source=name)
    return Panel(panel.frame, panel.report,
                 TableFormat("parquet", "", ".", None, time_col, "stored date-times", "long", id_col, timezone=zone))


def _parquet_cells(stored: pd.DataFrame, name: str) -> pd.DataFrame:
    """A Parquet table as the text table _parse_table gives, so that it takes the same detection path.

    Cells become text (numbers by their repr, which reads back exactly; empty cells NaN); the index counts rows
    from 1, since a Parquet file has no lines.
    """
    table = pd.DataFrame({position: _text_cells(stored.iloc[:, position]) for position in range(stored.shape[1])})
    table.columns = stored.columns
    table.index = pd.RangeIndex(1, len(table) + 1, name=LINE)
    if table.empty:
        raise DataError(f"{name} has columns ({listed(table.columns)}) but no rows. Add the data rows.")
    return table


def _text_cells(values: pd.Series) -> pd.Series:
    """A Parquet column as text cells: numbers by their repr, empty cells missing."""
    return pd.Series(values.astype(str).where(values.notna()), dtype=_TEXT)


def _parse_table(encoded: _Encoded, header: _Header, sep: str, name: str) -> pd.DataFrame:
    """All cells as text (empty cells missing), index = the file line numbers, the header on its line."""
    header_line = header.line
    try:
        table = _read_csv(encoded, header.start, sep)
        if table is None:  # a line holds one field more than the header: read it as a headless column
            names = _read_csv(encoded, header.start, sep, nrows=0)
            table = None if names is None else _read_csv(encoded, header.start, sep, header=0,
                                                         names=[*names.columns, _EXTRA])
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
        extra = text(table[_EXTRA].dropna())
        extra = extra[extra.str.strip() != ""]
        if len(extra):
            raise DataError(
                f"{name}: line {extra.index[0]} has {len(table.columns)} fields but the header has "
                f"{len(table.columns) - 1} ({at_lines(extra.head(3))} has no column name). Add the column's name "
                f"to the header, or pass sep= if the delimiter {sep!r} is wrong."
            )
    return table


def _read_csv(encoded: _Encoded, start: int, sep: str, **options: object) -> pd.DataFrame | None:
    """The cells from byte start on as text, or None where pandas would drop the last field of lines longer than
    the header. pandas' parser decodes the bytes as it goes and keeps the cells as Arrow strings."""
    stream = io.BytesIO(encoded.content)  # shares the bytes
    stream.seek(start)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        table = pd.read_csv(stream, sep=sep, dtype=_TEXT, encoding=encoded.codec, skip_blank_lines=False,
                            index_col=False, keep_default_na=False, na_values=[""], **options)
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
        spellings = ", ".join(f"'{value}'" for value in text(written).str.strip().unique()[:3])
        notes.append(Note("placeholders", column, (
            f"column '{column}': {len(written)} cell(s) written {spellings} (first at line {written.index[0]}) "
            "are read as missing values."
        )))
    missing = (blank | placeholder) & table.notna()
    for column in missing.columns[missing.any().to_numpy()]:
        table[column] = table[column].mask(missing[column])  # the table is this reading's own: no copy
    return table, blank, notes


def _missing_cells(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(blank, placeholder): which cells are empty or whitespace, and which hold a placeholder such as '-'.
    Computed in Arrow, once per distinct cell: per-cell Python string calls would cost seconds on large files."""
    blank, placeholder = {}, {}
    for column in table.columns:
        codes, distinct = pd.factorize(table[column])
        trimmed = pc.utf8_trim_whitespace(pa.array(distinct.array))
        empty = np.append(pc.equal(trimmed, "").to_numpy(zero_copy_only=False), True)  # last: a missing cell
        written = pc.is_in(pc.utf8_lower(trimmed), value_set=_PLACEHOLDERS).to_numpy(zero_copy_only=False)
        blank[column] = empty[codes]  # a missing cell's code, -1, takes the last
        placeholder[column] = np.append(written, False)[codes]
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
    table: pd.DataFrame, columns: list[str], sep: str, decimal: str | None, conventions: list[str]
) -> tuple[_NumberStyle, Note | None]:
    """(decimal, thousands) that reads the most cells of the columns as numbers. Styles that read as many but
    differently ('1.000' is 1 or 1000) are settled by every cell of the columns, else by the file's conventions,
    noted."""
    styles = _NUMBER_STYLES["," if sep == "," else "other"]
    if decimal is not None:
        styles = [style for style in styles if style[0] == decimal] or [(decimal, None)]
    samples = {column: _stripped(spread(table[column])) for column in columns}
    tied = _most_read(samples.values(), styles)
    differing = _first_differing(samples.items(), tied)
    if decimal is not None or differing is None:
        return _NumberStyle(*tied[0]), None
    if any(table[column].notna().sum() > len(sample) for column, sample in samples.items()):
        def every_cell() -> Iterator[tuple[str, pd.Series]]:  # a column at a time: the cells as Python strings
            return ((column, _stripped(table[column].dropna())) for column in columns)

        tied = _most_read((cells for _, cells in every_cell()), tied)
        differing = _first_differing(every_cell(), tied)
        if differing is None:
            return _NumberStyle(*tied[0]), None
    wanted = "," if conventions else "."
    chosen = next(style for style in tied if style[0] == wanted)
    other = next(style for style in tied if style[0] != wanted)
    column, line, cell = differing
    value, other_value = (_to_numbers(pd.Series([cell]), *style).iloc[0] for style in (chosen, other))
    reason = (f"as the file uses {joined(conventions)}" if conventions
              else "the default when nothing in the file tells which is meant")
    note = Note("number_style", column, (
        f"column '{column}': numbers like '{cell}' (line {line}) read as {value:.15g} with {_style_words(*chosen)}, "
        f"{reason}; with {_style_words(*other)} they would be {other_value:.15g}. Pass decimal='{other[0]}' if that "
        "is meant."
    ))
    return _NumberStyle(*chosen, ambiguous=True), note


def _stripped(cells: pd.Series) -> pd.Series:
    return text(cells).str.strip()


def _most_read(columns: Iterable[pd.Series], styles: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """The styles reading the most cells (of all the columns) as numbers, in the given order."""
    counts = [0] * len(styles)
    for cells in columns:
        for position, style in enumerate(styles):
            counts[position] += int(cells.str.fullmatch(_number_pattern(*style), na=False).sum())
    return [style for style, count in zip(styles, counts) if count == max(counts)]


def _first_differing(
    columns: Iterable[tuple[str, pd.Series]], styles: list[tuple[str, str | None]]
) -> tuple[str, int, str] | None:
    """The first cell (column, line, cell) that the first style and another both read, as different numbers."""
    for column, cells in columns:
        first = _to_numbers(cells, *styles[0])
        differ = np.zeros(len(cells), dtype=bool)
        for style in styles[1:]:
            reading = _to_numbers(cells, *style)
            differ |= ((reading != first) & reading.notna() & first.notna()).to_numpy()
        if differ.any():
            at = int(np.argmax(differ))
            return column, cells.index[at], cells.iloc[at]
    return None


def _style_words(decimal: str, thousands: str | None) -> str:
    return f"decimal '{decimal}'" + (f" and thousands '{thousands}'" if thousands else "")


def _number_pattern(decimal: str, thousands: str | None) -> str:
    """A regex for one number written with this decimal mark and optional thousands separator (or inf).
    A thousands group never starts with 0: '0.500' is a decimal."""
    digits = rf"(?:[1-9]\d{{0,2}}(?:{re.escape(thousands)}\d{{3}})+|\d+)" if thousands else r"\d+"
    point = re.escape(decimal)
    return rf"[+-]?(?:(?:{digits}(?:{point}\d*)?|{point}\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity))"


def _numeric_columns(
    table: pd.DataFrame, columns: list[str], style: _NumberStyle, name: str
) -> tuple[_Numbers, list[Note]]:
    """Those of the columns whose cells are mostly numbers, parsed; a cell in them that is not a number is an
    error. A column left as text though it holds some numbers, or holding no value at all, gets a note."""
    notes, whole = [], {}
    block, rows = np.empty((len(columns), len(table))), []  # rows never written take no memory
    for column in columns:
        parsed = _numeric_column(table[column], column, style, name, notes)
        if parsed is not None and parsed.dtype == np.float64:
            block[len(rows)] = parsed.to_numpy()  # held in the block only
            rows.append(column)
        elif parsed is not None:
            whole[column] = parsed
        del parsed
    block = block[:len(rows)]
    in_block = {column: pd.Series(block[row], index=table.index) for row, column in enumerate(rows)}
    numbers = {column: in_block.get(column, whole.get(column)) for column in columns
               if column in in_block or column in whole}
    return _Numbers(numbers, block, rows), notes


def _numeric_column(
    raw: pd.Series, column: str, style: _NumberStyle, name: str, notes: list[Note]
) -> pd.Series | None:
    """The column parsed, if its cells are mostly numbers (None, and a note if it holds any value, if not)."""
    parsed = _to_numbers(raw, style.decimal, style.thousands)
    filled, read = int(raw.notna().sum()), int(parsed.notna().sum())
    if filled == 0:
        notes.append(Note("column", column, (
            f"column '{column}' holds no value (every cell is blank or a placeholder): kept as an empty "
            "covariate, not read as numbers."
        )))
        return None
    if read < 0.5 * filled:
        if read:
            words = text(raw[(raw.notna() & parsed.isna()).to_numpy()].head(3))
            notes.append(Note("column", column, (
                f"column '{column}' is read as text (a covariate), not as numbers: only {read} of its {filled} "
                f"filled cells are numbers; the others are text, first at {at_lines(words)}."
            )))
        else:
            notes.append(Note("column", column, (
                f"column '{column}' holds text: a text covariate, which the models read unless text_cols names "
                f"others (a planned one, known over the horizon: future_text_cols)."
            )))
        return None
    bad = (raw.notna() & parsed.isna()).to_numpy()
    if bad.any():
        raise DataError(
            f"{name}: column '{column}' has {bad.sum()} value(s) that are not numbers, first at "
            f"{at_lines(text(raw[bad]))}. Correct them, or empty those cells to have them filled"
            f" (numbers are read with {_style_words(style.decimal, style.thousands)};"
            " pass decimal= if that is wrong)."
        )
    return parsed


def _to_numbers(raw: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    """Cells as numbers in the given style; NaN where a cell is empty or not a number."""
    return per_distinct(raw, lambda cells: _read_numbers(cells, decimal, thousands))


def _read_numbers(cells: pd.Series, decimal: str, thousands: str | None) -> pd.Series:
    """Python strings as numbers in the given style; NaN where a cell is not a number."""
    if decimal == "." and thousands is None:
        return pd.to_numeric(cells, errors="coerce")  # the plain style: pandas' C parser is the fast path
    stripped = cells.str.strip()
    valid = stripped.str.fullmatch(_number_pattern(decimal, thousands), na=False)
    cleaned = stripped.str.replace(thousands, "", regex=False) if thousands else stripped
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


def _labels(cells: pd.Series) -> pd.Series:
    """A text covariate as Python strings (NaN where empty), one string object per distinct label."""
    return per_distinct(cells, lambda labels: labels)


def _series_ids(cells: pd.Series) -> pd.Categorical:
    """The id column as categories: a code per row, a string per series."""
    codes, names = pd.factorize(cells)
    return pd.Categorical.from_codes(codes, categories=pd.Index(np.asarray(names, dtype=object), dtype=object))


def _line_numbers(index: pd.Index) -> np.ndarray:
    """Each row's file line, in the smallest integers that hold them: a wide table's lines repeat per series."""
    return index.to_numpy().astype(np.min_scalar_type(-max(index.max(), 1)), copy=False)


def _long_frame(
    columns: dict[str, pd.Series], lines: np.ndarray, id_col: str | None, ids: pd.Categorical | None,
    targets: list[str], numbers: _Numbers,
) -> tuple[dict[str, object], np.ndarray, str, str]:
    """The columns for validate_columns, the table's file lines and the id and target column names: as they are
    when long (or one series), else melted from wide."""
    if id_col is not None:
        # Keep the user's column names, so messages speak of them.
        return {id_col: ids, **columns}, lines, id_col, targets[0]
    if len(targets) == 1:
        return columns, lines, "unique_id", targets[0]
    return _melt(columns, targets, numbers), lines, "unique_id", "y"  # the lines repeat in each block


def _melt(columns: dict[str, pd.Series], targets: list[str], numbers: _Numbers) -> dict[str, object]:
    """Wide to long: one block of rows per target column, unique_id = its name, covariates repeated.
    The targets' numbers are the y column as they lie when they are the rows of the numbers' block, in order;
    else they are moved into it, one column at a time."""
    rows = len(columns[targets[0]])
    if targets == numbers.rows:
        y = numbers.block.reshape(-1)
        for target in targets:
            del columns[target]
    else:
        y = np.empty(rows * len(targets))
        for block, target in enumerate(targets):
            y[block * rows:(block + 1) * rows] = columns.pop(target).to_numpy()
    codes = np.repeat(np.arange(len(targets), dtype=np.min_scalar_type(-len(targets))), rows)
    return {"unique_id": pd.Categorical.from_codes(codes, categories=pd.Index(targets, dtype=object)), "y": y,
            **{column: np.tile(values.to_numpy(), len(targets)) for column, values in columns.items()}}

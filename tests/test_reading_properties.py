"""Properties of the reader and the data contract over generated tables and bytes.

A table reads into a frame that keeps the contract (unique_id, ds, y; sorted; regular per series) and the
values written, or the report says which guess may have changed them; any bytes at all read into such a
frame or raise DataError, never another exception. Seeded and bounded, so a run is repeatable.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from forecasting.data.dates import TIME_WORDS
from forecasting.data.frame import DUPLICATES, FILLS, validate_frame
from forecasting.data.panel import Panel
from forecasting.data.reading import PLACEHOLDERS, read_table
from forecasting.errors import DataError

# tmp_path is shared by a test's examples: each writes the same file anew.
SEEDED = dict(derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DATE_FORMATS = {
    "D": ["%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d-%m-%Y", "%Y%m%d"],
    "h": ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d.%m.%Y %H:%M", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S"],
    "MS": ["%Y-%m", "%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%b %Y", "%Y/%m"],
}
STYLES = [(".", None), (".", ","), (",", None), (",", ".")]
MISSING = [*PLACEHOLDERS, "N/A", "NULL", "#N/A", "NaN", "", "  "]
RESERVED = {"y", "ds", "unique_id", "hour", "year", *TIME_WORDS, *PLACEHOLDERS}
# Letters of several scripts: column names and text cells, nothing that reads as a number, date or placeholder.
WORDS = st.text(st.characters(categories=["Lu", "Ll", "Lo"], max_codepoint=0x9FFF), min_size=1, max_size=8).filter(
    lambda word: word.casefold() not in RESERVED and not word.startswith("Unnamed"))


@dataclass
class Table:
    """A generated file and what it holds: per series, each date's written value (None: a missing cell)."""

    content: bytes
    sep: str
    series: dict[str, dict[pd.Timestamp, float | None]]
    placeholder_columns: set[str] = field(default_factory=set)


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """A regular table, wide (one series per value column) or long (an id column), in a random dialect."""
    freq = draw(st.sampled_from(list(DATE_FORMATS)))
    date_format = draw(st.sampled_from(DATE_FORMATS[freq]))
    start = pd.Timestamp(draw(st.datetimes(datetime(1990, 1, 1), datetime(2035, 1, 1)))).floor("h")
    start = start.normalize() if freq == "D" else start.normalize().replace(day=1) if freq == "MS" else start
    dates = pd.date_range(start, periods=draw(st.integers(3, 30)), freq=freq)
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    decimal, thousands = draw(st.sampled_from(STYLES))
    digits = draw(st.integers(0, 2))
    long = draw(st.booleans())
    names = draw(st.lists(WORDS, min_size=4, max_size=4, unique_by=str.casefold))
    time_col = "date" if date_format == "%Y%m%d" else draw(st.sampled_from(["ds", "date", "Datum", "timestamp"]))
    if long:
        id_col, value_col = names[0], names[1]
        numeric_ids = draw(st.booleans())
        ids = (draw(st.lists(st.integers(1, 999), min_size=2, max_size=3, unique=True)) if numeric_ids
               else draw(st.lists(WORDS, min_size=2, max_size=3, unique_by=str.casefold)))
        columns = [time_col, id_col, value_col]
    else:
        ids = names[:draw(st.integers(1, 3))]
        text_col = names[3] if draw(st.booleans()) else None
        columns = [time_col, *ids, *([text_col] if text_col else [])]
    columns = draw(st.permutations(columns))
    series: dict[str, dict[pd.Timestamp, float | None]] = {}
    for series_id in ids:
        values = [draw(st.integers(-10**7, 10**7)) / 10**digits for _ in dates]
        if long and numeric_ids:
            values[0] = round(values[0]) + 0.25  # measurements, not whole numbers like the ids
        missing = [index > 0 and draw(st.integers(0, 6)) == 0 for index in range(len(dates))]
        series[str(series_id)] = {date: None if gap else value for date, value, gap in zip(dates, values, missing)}
    cells: list[dict[str, str]] = []
    placeholder_columns = set()

    def written(series_id: str, date: pd.Timestamp, column: str) -> str:
        value = series[series_id][date]
        if value is not None:
            return _number(value, decimal, thousands, 2 if long and numeric_ids else digits)
        spelling = draw(st.sampled_from(MISSING))
        if spelling.strip():
            placeholder_columns.add(column)
        return spelling

    if long:
        for date in dates:
            cells += [{time_col: date.strftime(date_format), id_col: str(series_id),
                       value_col: written(str(series_id), date, value_col)} for series_id in ids]
        cells = draw(st.permutations(cells))
    else:
        words = draw(st.lists(WORDS, min_size=len(dates), max_size=len(dates)))
        for date, word in zip(dates, words):
            row = {time_col: date.strftime(date_format), **{name: written(name, date, name) for name in ids}}
            cells.append({**row, **({text_col: word} if text_col else {})})
    text = _csv(columns, cells, sep, draw(st.sampled_from(["\n", "\r\n"])))
    return Table(_encoded(text, draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))), sep, series,
                 placeholder_columns)


def _number(value: float, decimal: str, thousands: str | None, digits: int) -> str:
    """The value as written in a style: 1,234.5 / 1234,5 / 1.234,5."""
    text = f"{value:{',' if thousands else ''}.{digits}f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands or "")


def _csv(columns: list[str], rows: list[dict[str, str]], sep: str, newline: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=sep, lineterminator=newline)
    writer.writerow(columns)
    writer.writerows([[row[column] for column in columns] for row in rows])
    return buffer.getvalue()


def _encoded(text: str, encoding: str) -> bytes:
    """The text in the encoding; UTF-8 where the encoding cannot hold it or its bytes would read as other UTF-8."""
    try:
        content = text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")
    if encoding == "cp1252" and not content.isascii():
        try:
            content.decode("utf-8")
            return text.encode("utf-8")
        except UnicodeDecodeError:
            pass
    return content


def check_contract(panel: Panel) -> None:
    """unique_id, ds, y first; ds naive datetimes, y finite floats; sorted, one row per (series, ds), and every
    series on the panel's frequency grid without gaps."""
    frame = panel.frame
    assert list(frame.columns[:3]) == ["unique_id", "ds", "y"]
    assert frame["ds"].dtype == "datetime64[ns]" and frame["y"].dtype == "float64"
    assert np.isfinite(frame["y"]).all()
    assert frame.equals(frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True))
    assert not frame.duplicated(["unique_id", "ds"]).any()
    for _, group in frame.groupby("unique_id"):
        grid = pd.date_range(group["ds"].iloc[0], group["ds"].iloc[-1], freq=panel.freq)
        assert group["ds"].tolist() == list(grid)
    assert panel.report.n_rows == len(frame) and panel.report.n_series == frame["unique_id"].nunique()


def write(directory, content: bytes) -> str:
    path = directory / "generated.csv"
    path.write_bytes(content)
    return path


@settings(max_examples=100, **SEEDED)
@given(table=tables())
def test_generated_tables_read_back_the_values_written(table, tmp_path):
    panel = read_table(write(tmp_path, table.content))
    check_contract(panel)
    fmt = panel.format
    event(f"{fmt.layout}, day order {'guessed' if fmt.dayfirst_ambiguous else 'read'}, "
          f"decimal mark {'guessed' if fmt.decimal_ambiguous else 'read'}")
    assert fmt.sep == table.sep
    assert sorted(panel.series_ids) == sorted(table.series)
    frame = panel.frame.set_index(["unique_id", "ds"])["y"]
    filled = {}
    for repair in panel.report.repairs:
        if repair.policy.startswith("missing:"):
            filled[repair.series] = filled.get(repair.series, 0) + repair.rows
    for series_id, written in table.series.items():
        read = frame.loc[series_id]
        assert len(read) == len(written)
        assert filled.get(series_id, 0) == sum(value is None for value in written.values())
        if not fmt.dayfirst_ambiguous:
            assert read.index.tolist() == list(written)
        if not (fmt.dayfirst_ambiguous or fmt.decimal_ambiguous):
            kept = {date: value for date, value in written.items() if value is not None}
            assert read[list(kept)].tolist() == list(kept.values())
    noted = {note.column for note in panel.report.notes if note.topic == "placeholders"}
    assert noted == table.placeholder_columns


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A generated table with bytes inserted, dropped or changed (to printable ones), text spliced in, or lines
    repeated, blanked, padded with whitespace or given a trailing delimiter."""
    content = bytearray(draw(tables()).content)
    for _ in range(draw(st.integers(1, 2))):
        at = draw(st.integers(0, len(content)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "text", "line", "blank", "pad", "trailing"]))
        if edit == "insert":
            content[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del content[at:at + draw(st.integers(1, 20))]
        elif edit == "replace" and at < len(content):
            content[at] = draw(st.integers(32, 126))
        elif edit == "text":
            pieces = st.one_of(st.sampled_from(["\ufeff", '"', ",", ";", "\t", "\r", "\n", "-", "+02:00", "T", "n/a"]),
                               st.characters())
            content[at:at] = "".join(draw(st.lists(pieces, max_size=4))).encode("utf-8", "surrogatepass")
        else:
            lines = bytes(content).split(b"\n")
            index = draw(st.integers(0, len(lines) - 1))
            if edit == "line":
                lines.insert(index, lines[draw(st.integers(0, len(lines) - 1))])
            elif edit == "blank":
                lines.insert(index, draw(st.sampled_from([b"", b" ", b"\r", b",,", b";;"])))
            elif edit == "pad":
                lines[index] = b" " + lines[index].replace(b",", b" , ").replace(b";", b" ; ") + b" "
            else:
                lines[index] += draw(st.sampled_from([b",", b";", b"\t", b"|"]))
            content = bytearray(b"\n".join(lines))
    return bytes(content)


@settings(max_examples=120, **SEEDED)
@given(content=damaged())
def test_damaged_tables_read_into_the_contract_or_raise_data_error(content, tmp_path):
    check_read_or_data_error(content, tmp_path)


@settings(max_examples=50, **SEEDED)
@given(content=st.binary(max_size=300))
def test_random_bytes_read_into_the_contract_or_raise_data_error(content, tmp_path):
    check_read_or_data_error(content, tmp_path)


def check_read_or_data_error(content: bytes, tmp_path) -> None:
    try:
        panel = read_table(write(tmp_path, content))
    except DataError as error:
        assert str(error).startswith(str(tmp_path / "generated.csv"))
        event("DataError")
        return
    event("read")
    check_contract(panel)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """A long frame of regular series with some rows dropped (gaps), repeated or shuffled, and values empty,
    infinite or not numbers."""
    step = draw(st.sampled_from(["D", "h", "MS"]))
    parts = []
    for series in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)):
        ds = pd.date_range(draw(st.sampled_from(["2024-01-01", "2024-02-01"])), periods=draw(st.integers(1, 15)),
                           freq=step)
        values = draw(st.lists(st.one_of(st.floats(-1e6, 1e6), st.none()), min_size=len(ds), max_size=len(ds)))
        parts.append(pd.DataFrame({"unique_id": series, "ds": ds, "y": np.array(values, dtype=float)}))
    frame = pd.concat(parts, ignore_index=True)
    rows = draw(st.permutations(range(len(frame))))
    dropped = draw(st.lists(st.integers(0, len(frame) - 1), max_size=2))
    repeated = draw(st.lists(st.integers(0, len(frame) - 1), max_size=2))
    kept = [row for row in rows if row not in dropped] + repeated
    frame = frame.iloc[kept if kept else rows].reset_index(drop=True)
    odd = draw(st.sampled_from([None, np.inf, "n/a", "7"]))
    if odd is not None and draw(st.booleans()):
        frame["y"] = frame["y"].astype(object)
        frame.loc[draw(st.integers(0, len(frame) - 1)), "y"] = odd
    return frame


@settings(max_examples=120, **SEEDED)
@given(frame=frames(), fill=st.sampled_from(FILLS), duplicates=st.sampled_from(DUPLICATES))
def test_validate_frame_keeps_the_contract_or_raises_data_error(frame, fill, duplicates):
    try:
        panel = validate_frame(frame, fill=fill, duplicates=duplicates)
    except DataError:
        event("DataError")
        return
    event("validated")
    check_contract(panel)
    once = frame[~frame.duplicated(["unique_id", "ds"], keep=False) & frame["y"].notna()]
    read = panel.frame.set_index(["unique_id", "ds"])["y"]
    written = pd.to_numeric(once["y"]).tolist()  # a number written as text, '7', is read as 7
    assert [read[(series, ds)] for series, ds in zip(once["unique_id"], once["ds"])] == written

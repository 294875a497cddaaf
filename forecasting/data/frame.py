"""Validate a long frame (unique_id, ds, y, covariates) and repair it by named, reported policies.

While it is checked and repaired the frame is held as one array per column (the series as small integer
codes): a step that reorders or drops rows replaces the columns one at a time, so that a large table, a
wide file melted into millions of rows say, needs little more memory than the result.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray, take
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_integer_dtype, is_numeric_dtype
from pandas.tseries.frequencies import to_offset

from forecasting.data.frequency import infer_freq
from forecasting.data.panel import FrameReport, Panel, Repair, quoted
from forecasting.errors import DataError

# read_table names its frames' integer index LINE: the labels are file line numbers, used in messages.
LINE = "file_line"
FILLS = ("interpolate", "ffill", "zero", "error")
DUPLICATES = ("error", "mean", "sum", "first", "last")
_ROW = "__line__"  # carries the line numbers in the frames built for messages and merges
_SHOWN = 5
_FILL_WORDS = {"interpolate": "linear interpolation", "ffill": "the last value carried forward", "zero": "zeros"}
_MERGE_WORDS = {
    "mean": "averaged", "sum": "summed", "first": "kept the first value of", "last": "kept the last value of",
}
ArrayLike = np.ndarray | ExtensionArray  # a column's values: numpy, or pandas' arrays (time zones, categories)
T = TypeVar("T")


@dataclass
class _Context:
    """The caller's names, so that messages speak of the user's file and columns."""

    source: str
    time_col: str
    target_col: str
    has_ids: bool


@dataclass
class _Rows:
    """The frame being validated, one array per column, in row order: each row's series as a position in the
    sorted series ids, its file line (lines is None when unknown), and the columns ds, y and the covariates."""

    ids: np.ndarray  # the series ids (str), sorted
    codes: np.ndarray
    columns: dict[str, ArrayLike]
    lines: np.ndarray | None
    owned: bool = False  # whether the arrays may be changed in place (not the caller's frame's)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def stamps(self) -> np.ndarray:
        """ds as integers (nanoseconds), to sort and compare by."""
        ds = self.columns["ds"]
        return ds.view("i8") if isinstance(ds, np.ndarray) else ds.asi8

    def take(self, rows: np.ndarray | list[slice]) -> None:
        """Keep the rows at these positions (or where the mask is true, or in these slices), in that order. The
        columns are replaced one at a time, so that only one column is ever held twice; blocks of rows of one
        size (a melted wide table's series) are reordered in place when the arrays are this validation's own."""
        def taken(values: ArrayLike) -> ArrayLike:
            if not isinstance(rows, list):
                return values[rows]
            if in_place and isinstance(values, np.ndarray) and values.flags.c_contiguous:
                size = len(values) // len(rows)
                _reorder_blocks(values.reshape(len(rows), size), [part.start // size for part in rows])
                return values
            parts = [values[part] for part in rows]
            return np.concatenate(parts) if isinstance(values, np.ndarray) else type(values)._concat_same_type(parts)

        in_place = self.owned and isinstance(rows, list) and len({part.stop - part.start for part in rows}) == 1
        self.codes = taken(self.codes)
        if self.lines is not None:
            self.lines = taken(self.lines)
        for name in list(self.columns):
            self.columns[name] = taken(self.columns[name])
        self.owned = True

    def slices(self) -> Iterator[tuple[str, slice]]:
        """Each series' id and its rows (once sorted, a series' rows are together)."""
        starts = np.searchsorted(self.codes, np.arange(len(self.ids), dtype=self.codes.dtype))  # no wider copy
        for code, name in enumerate(self.ids):
            yield name, slice(int(starts[code]), int(starts[code + 1]) if code + 1 < len(starts) else len(self))

    def times(self, part: slice) -> pd.Series:
        """The timestamps of these rows (a view)."""
        return pd.Series(self.columns["ds"][part])

    def lengths(self) -> pd.Series:
        """Rows per series id."""
        return pd.Series({name: part.stop - part.start for name, part in self.slices()}, dtype=int)

    def frame(self, rows: slice | np.ndarray = slice(None)) -> pd.DataFrame:
        """These rows as a frame (_ROW, unique_id, ds, y, covariates): for messages, and for the policies
        that work on frames."""
        lines = {} if self.lines is None else {_ROW: self.lines[rows]}
        return pd.DataFrame({**lines, "unique_id": self.ids[self.codes[rows]],
                             **{name: values[rows] for name, values in self.columns.items()}})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> _Rows:
        codes, ids = pd.factorize(frame["unique_id"], sort=True)
        columns = {name: _array(frame[name]) for name in frame.columns if name not in (_ROW, "unique_id")}
        lines = frame[_ROW].to_numpy() if _ROW in frame else None
        return cls(ids.to_numpy(dtype=object), _small(codes, len(ids)), columns, lines, owned=True)

    def result(self) -> pd.DataFrame:
        """The validated frame: unique_id, ds, y, covariates; the arrays used as they are where they are this
        validation's own, else copied."""
        return pd.DataFrame({"unique_id": self.ids[self.codes], **self.columns}, copy=not self.owned)


def validate_frame(
    data: pd.DataFrame | Panel,
    *,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    freq: str | None = None,
    min_length: int | None = None,
    fill: str = "interpolate",
    duplicates: str = "error",
    source: str | None = None,
) -> Panel:
    """Check a long frame and return it as a Panel: a clean copy (unique_id, ds, y, covariates) with a
    report of the repairs. Given a Panel (to resample it, say), its earlier repairs, notes and format are kept.

    Raises DataError naming the source, column, first offending rows and the fix.
    """
    _check_policies(fill, duplicates)
    earlier = data if isinstance(data, Panel) else None
    df = earlier.frame if earlier is not None else data
    source = source or (earlier.source if earlier is not None else "the frame")
    ctx = _Context(source, str(time_col), str(target_col), has_ids=id_col in df.columns)
    if df.empty:
        raise DataError(f"{ctx.source} has no rows. Pass a table with a date column and at least one value.")
    _check_names(df.columns, id_col, time_col, target_col, ctx)
    has_lines = df.index.name == LINE and is_integer_dtype(df.index)
    rows = _standard_rows({column: df[column] for column in df.columns},
                          df.index.to_numpy() if has_lines else None, id_col, time_col, target_col, ctx)
    return _validated(rows, ctx, freq, min_length, fill, duplicates, earlier, owned=False)


def validate_columns(
    columns: dict[str, ArrayLike],
    lines: np.ndarray,
    *,
    id_col: str,
    time_col: str,
    target_col: str,
    freq: str | None,
    min_length: int | None,
    fill: str,
    duplicates: str,
    source: str,
) -> Panel:
    """validate_frame for a table handed over as columns (read_table's) with each row's file line.

    The arrays are taken out of `columns` and changed in place, not copied, so that the table is never held
    twice: the caller keeps no other reference to them. An id column may be a Categorical (a wide table's
    series names, say), which spares an array of strings per row. `lines` may be shorter than the columns: a
    wide table's lines, which each of its melted blocks repeats.
    """
    _check_policies(fill, duplicates)
    ctx = _Context(source, str(time_col), str(target_col), has_ids=id_col in columns)
    if not columns or not len(lines):
        raise DataError(f"{ctx.source} has no rows. Pass a table with a date column and at least one value.")
    _check_names(pd.Index(columns), id_col, time_col, target_col, ctx)
    rows = _standard_rows(columns, lines, id_col, time_col, target_col, ctx)
    return _validated(rows, ctx, freq, min_length, fill, duplicates, None, owned=True)


def require_length(panel: Panel, min_length: int) -> None:
    """Every series of the panel must have at least min_length rows (DataError otherwise)."""
    _check_length(panel.frame.groupby("unique_id", sort=False).size(), min_length, panel.source)


def _check_policies(fill: str, duplicates: str) -> None:
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, not {fill!r}")
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, not {duplicates!r}")


def _validated(
    rows: _Rows, ctx: _Context, freq: str | None, min_length: int | None, fill: str, duplicates: str,
    earlier: Panel | None, owned: bool,
) -> Panel:
    """The checks and repairs, in order; `owned`: the arrays are the caller's to hand over, to change in place."""
    rows.owned = owned
    rows.columns["ds"] = _parse_times(rows, ctx)
    rows.columns["y"] = _parse_target(rows, ctx, copy=not owned)
    repairs: list[Repair] = list(earlier.report.repairs) if earlier is not None else []
    _sort(rows, repairs)
    rows = _merge_duplicates(rows, duplicates, ctx, repairs)
    _trim_leading_missing(rows, ctx, repairs)
    empty = np.isnan(rows.columns["y"])
    if fill == "error" and empty.any():
        raise DataError(
            f"{ctx.source}: column '{ctx.target_col}' has {_n(int(empty.sum()), 'empty value')}, first at "
            f"{_rows_text(rows.frame(empty), ctx)}. Fill these cells, or pass fill='interpolate' (or 'ffill', "
            "'zero') to fill them."
        )
    del empty
    rows, alias = _regularise(rows, freq, fill, ctx, repairs)
    _check_length(rows.lengths(), min_length, ctx.source)
    rows.lines = None
    frame = rows.result()
    notes = earlier.report.notes if earlier is not None else ()
    report = FrameReport(ctx.source, len(rows.ids), len(frame), alias, tuple(repairs), notes)
    return Panel(frame, report, earlier.format if earlier is not None else None)


def _check_names(names: pd.Index, id_col: str, time_col: str, target_col: str, ctx: _Context) -> None:
    """The date and value columns are present, once each and apart; no covariate takes a standard name."""
    present = ", ".join(f"'{column}'" for column in names)
    lacking = [
        f"no column '{name}' for the {role} (pass {arg}= to name it)"
        for name, role, arg in ((time_col, "dates", "time_col"), (target_col, "values", "target_col"))
        if name not in names
    ]
    if lacking:
        raise DataError(f"{ctx.source}: {'; '.join(lacking)}. Columns present: {present}.")
    repeated = names[names.duplicated()]
    if len(repeated):
        raise DataError(f"{ctx.source}: the column name(s) {quoted(repeated)} appear twice. Rename them.")
    roles = {time_col, target_col, *([id_col] if ctx.has_ids else [])}
    if len(roles) < (3 if ctx.has_ids else 2):
        raise DataError(
            f"{ctx.source}: id_col, time_col and target_col must name different columns "
            f"(got id_col='{id_col}', time_col='{time_col}', target_col='{target_col}'). Columns present: {present}."
        )
    clashes = [column for column in names if column not in roles and column in ("unique_id", "ds", "y", _ROW)]
    if clashes:
        raise DataError(
            f"{ctx.source}: column(s) {quoted(clashes)} clash with the standard names the id, date and value "
            "columns are renamed to. Rename or drop them."
        )


def _standard_rows(
    columns: dict[str, ArrayLike], lines: np.ndarray | None, id_col: str, time_col: str, target_col: str,
    ctx: _Context,
) -> _Rows:
    """The columns (checked by _check_names) as rows: series codes from the id column, then ds, y and the
    covariates, taken out of `columns`; the lines repeated to the rows' count."""
    if lines is not None and len(lines) < len(columns[time_col]):
        lines = np.tile(lines, len(columns[time_col]) // len(lines))
    if ctx.has_ids:
        codes, ids = _series_codes(pd.Series(columns.pop(id_col)), id_col, columns[time_col], lines, ctx)
    else:
        codes, ids = np.zeros(len(columns[time_col]), dtype=np.int8), np.array([str(target_col)], dtype=object)
    standard = {"ds": columns.pop(time_col), "y": columns.pop(target_col)}
    taken = {**standard, **{column: columns.pop(column) for column in list(columns)}}
    return _Rows(ids, codes, {name: _array(values) for name, values in taken.items()}, lines)


def _series_codes(
    ids: pd.Series, id_col: str, times: ArrayLike, lines: np.ndarray | None, ctx: _Context
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's series as a position in the sorted ids (as text); a row without an id is an error."""
    nameless = ids.isna().to_numpy()
    if nameless.any():
        rows = pd.DataFrame({**({} if lines is None else {_ROW: lines[nameless]}),
                             "unique_id": ids[nameless].to_numpy(), "ds": times[nameless]})
        raise DataError(
            f"{ctx.source}: column '{id_col}' is empty in "
            f"{_n(len(rows), 'row')}, first at {_rows_text(rows, ctx)}. Give every row a series id."
        )
    if isinstance(ids.dtype, pd.CategoricalDtype):
        names = pd.Index([str(name) for name in ids.cat.categories.astype(str)], dtype=object)
        if names.is_unique:  # the codes are the series already: sort the names of those present
            codes = ids.cat.codes.to_numpy()
            present = np.zeros(len(names), dtype=bool)
            present[codes] = True
            kept = np.flatnonzero(present)[names[present].argsort()]
            recode = np.zeros(len(names), dtype=_code_type(len(kept)))
            recode[kept] = np.arange(len(kept))
            return recode[codes], names[kept].to_numpy(dtype=object)
    codes, names = pd.factorize(ids.astype(str), sort=True)
    return _small(codes, len(names)), names.to_numpy(dtype=object)


def _code_type(count: int) -> np.dtype:
    """The smallest integer type that holds count codes: a wide table's rows are many."""
    return np.min_scalar_type(-count) if count else np.dtype(np.int8)


def _small(codes: np.ndarray, count: int) -> np.ndarray:
    return codes.astype(_code_type(count), copy=False)


def _array(values: pd.Series | pd.Index | ArrayLike) -> ArrayLike:
    """The values as a numpy array, or the extension array holding them (time zones, nullable numbers)."""
    if not isinstance(values, (pd.Series, pd.Index)):
        return values
    return values.to_numpy() if isinstance(values.dtype, np.dtype) else values.array


def _parse_times(rows: _Rows, ctx: _Context) -> ArrayLike:
    """The time column as datetime64[ns]; every empty or unparseable value is an error."""
    raw = pd.Series(rows.columns["ds"])
    if is_datetime64_any_dtype(raw):
        times = raw
    elif is_numeric_dtype(raw):
        times = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format": the NaTs are reported below
            warnings.simplefilter("ignore", FutureWarning)  # offsets that differ: read at UTC below
            try:
                times = pd.to_datetime(raw, errors="coerce")
            except ValueError:
                times = raw
            if not is_datetime64_any_dtype(times):  # UTC offsets that differ, as across summer time
                times = pd.to_datetime(raw, errors="coerce", utc=True)
    bad = times.isna().to_numpy()
    if bad.any():
        offending = rows.frame(bad)
        raise DataError(
            f"{ctx.source}: column '{ctx.time_col}' has {_n(bad.sum(), 'empty or unparseable date')}, first at "
            f"{_rows_text(offending, ctx, offending['ds'] if _ROW in offending else None)}. Write the dates in one "
            "format (e.g. 2024-01-31), or pass time_col= to name the date column."
        )
    values = _array(times)
    return values.astype("M8[ns]", copy=False) if isinstance(values, np.ndarray) else values.as_unit("ns")


def _parse_target(rows: _Rows, ctx: _Context, copy: bool) -> np.ndarray:
    """The target as float64 (a copy unless `copy` is false); text that is not a number, and infinities, are
    errors."""
    raw = pd.Series(rows.columns["y"])
    if is_numeric_dtype(raw) or is_bool_dtype(raw):
        values = raw.astype("float64", copy=copy)
    else:
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = (values.isna() & raw.notna()).to_numpy()
        if bad.any():
            offending = rows.frame(bad)
            raise DataError(
                f"{ctx.source}: column '{ctx.target_col}' has {_n(bad.sum(), 'non-numeric value')}, first at "
                f"{_rows_text(offending, ctx, offending['y'])}. Correct them, or empty those cells to have them "
                "filled; numbers with a decimal comma or thousands separators are read by read_table. "
                "If this is not the value column, pass target_col=."
            )
    infinite = np.isinf(values).to_numpy()
    if infinite.any():
        raise DataError(
            f"{ctx.source}: column '{ctx.target_col}' has {_n(infinite.sum(), 'infinite value')}, first at "
            f"{_rows_text(rows.frame(infinite), ctx, values[infinite])}. Replace them with finite numbers, or "
            "empty those cells to have them filled."
        )
    return values.to_numpy()


def _sort(rows: _Rows, repairs: list[Repair]) -> None:
    """Sort by series then time; report the rows that were out of time order within their series."""
    order = _sort_order(rows.codes, rows.stamps, repairs)
    if order is not None:
        rows.take(order)


def _sort_order(codes: np.ndarray, stamps: np.ndarray, repairs: list[Repair]) -> np.ndarray | list[slice] | None:
    """The rows in sorted order (None when they are sorted), and the repair for rows out of time order."""
    same_series = codes[1:] == codes[:-1]
    in_time_order = not (same_series & (stamps[1:] < stamps[:-1])).any()
    starts = np.flatnonzero(np.concatenate([[True], ~same_series]))
    del same_series
    if in_time_order and len(starts) == len(np.unique(codes[starts])):
        # Each series' rows together and in time order (a melted wide table's blocks): order the blocks.
        if (np.diff(codes[starts]) > 0).all():
            return None
        stops = np.append(starts[1:], len(codes))
        return [slice(starts[block], stops[block]) for block in np.argsort(codes[starts])]
    order = np.lexsort((stamps, codes))
    before = pd.Series(codes).groupby(codes, sort=False).cumcount().to_numpy()[order]
    ordered = codes[order]
    moved = before != pd.Series(ordered).groupby(ordered, sort=False).cumcount().to_numpy()
    if moved.any():
        n_series = len(np.unique(ordered[moved]))
        detail = f"sorted {_n(moved.sum(), 'row')} into time order in {n_series} series"
        repairs.append(Repair("sort", None, int(moved.sum()), detail))
    return order


def _reorder_blocks(blocks: np.ndarray, order: list[int]) -> None:
    """Rows of blocks (a view) reordered in place, so that row i becomes the old row order[i]: each cycle of
    the permutation moves its rows along, one row set aside."""
    done = np.zeros(len(order), dtype=bool)
    for start in range(len(order)):
        if done[start] or order[start] == start:
            continue
        aside, position = blocks[start].copy(), start
        while order[position] != start:
            done[position] = True
            blocks[position] = blocks[order[position]]
            position = order[position]
        done[position] = True
        blocks[position] = aside


def _merge_duplicates(rows: _Rows, policy: str, ctx: _Context, repairs: list[Repair]) -> _Rows:
    """Rows repeating a (series, time) pair: an error, or merged into one row by the policy."""
    times = rows.stamps
    same = (rows.codes[1:] == rows.codes[:-1]) & (times[1:] == times[:-1])  # the rows are sorted
    if not same.any():
        return rows
    repeated = np.concatenate([same, [False]]) | np.concatenate([[False], same])
    if policy == "error":
        several = "" if ctx.has_ids else (
            " If the table holds several series, pass id_col= to name the column that tells them apart."
        )
        raise DataError(
            f"{ctx.source}: column '{ctx.time_col}' repeats timestamps within a series in "
            f"{_n(int(repeated.sum()), 'row')}, first at {_rows_text(rows.frame(repeated), ctx)}. Pass "
            f"duplicates='mean' to aggregate them (or 'sum', 'first', 'last').{several}"
        )
    frame = rows.frame()
    duplicated = frame[repeated]
    grouped = duplicated.groupby(["unique_id", "ds"], sort=False)
    merged = {}
    for column in duplicated.columns.drop(["unique_id", "ds"]):
        numeric = is_numeric_dtype(duplicated[column]) and column != _ROW
        how = policy if numeric or policy in ("first", "last") else "first"
        merged[column] = grouped[column].sum(min_count=1) if how == "sum" else grouped[column].agg(how)
    merged_rows = pd.DataFrame(merged).reset_index()
    for series, group in duplicated.groupby("unique_id", sort=False):
        stamps = group["ds"].nunique()
        repairs.append(Repair(
            f"duplicates:{policy}", series, len(group),
            f"{_MERGE_WORDS[policy]} {_n(len(group), 'row')} sharing {_n(stamps, 'timestamp')} "
            f"(first {_when(group['ds'].min())}) into one row each",
        ))
    combined = pd.concat([frame[~repeated], merged_rows], ignore_index=True)
    return _Rows.from_frame(combined.sort_values(["unique_id", "ds"], kind="stable"))


def _trim_leading_missing(rows: _Rows, ctx: _Context, repairs: list[Repair]) -> None:
    """Drop empty targets before each series' first value; a series with no value at all is an error."""
    present = ~np.isnan(rows.columns["y"])
    leading, empty = {}, []
    for name, part in rows.slices():
        first = int(np.argmax(present[part]))
        if not present[part.start + first]:
            empty.append(name)
        elif first:
            leading[name] = slice(part.start, part.start + first)
    if empty:
        raise DataError(
            f"{ctx.source}: column '{ctx.target_col}' is empty for every row of series {quoted(empty)}. "
            "Drop these series or fill in their values."
        )
    if not leading:
        return
    keep = np.ones(len(rows), dtype=bool)
    for name, part in leading.items():
        rows_dropped = part.stop - part.start
        repairs.append(Repair(
            "trim_leading_missing", name, rows_dropped,
            f"dropped {_n(rows_dropped, 'row')} with an empty {ctx.target_col} before the series' first value "
            f"(from {_when(pd.Timestamp(rows.columns['ds'][part.start]))})",
        ))
        keep[part] = False
    rows.take(keep)


def _regularise(
    rows: _Rows, freq: str | None, fill: str, ctx: _Context, repairs: list[Repair]
) -> tuple[_Rows, str]:
    """Put every series on one frequency's grid: resample where asked, insert and fill missing timestamps."""
    inferred = {name: alias for name, _, alias in _per_timestamps(rows, infer_freq)}
    if freq is None:
        offset = _common_offset(rows, inferred, ctx)
        to_resample: set[str] = set()
    else:
        offset = _offset(freq, ctx)
        to_resample = _series_to_resample(rows, inferred, offset, ctx)
    resampled: dict[str, Repair] = {}
    if to_resample:
        groups = []
        for name, part in rows.slices():
            group = rows.frame(part)
            if name in to_resample:
                group, resampled[name] = _resample(group, offset, inferred[name])
            groups.append(group)
        rows = _Rows.from_frame(pd.concat(groups, ignore_index=True))
    return _fill_gaps(rows, offset, fill, ctx, repairs, resampled), offset.freqstr


def _common_offset(rows: _Rows, inferred: dict[str, str | None], ctx: _Context) -> pd.DateOffset:
    """The one frequency all series share; disagreement, irregular or off-grid timestamps are errors."""
    known = Counter(alias for alias in inferred.values() if alias is not None)
    if len(known) > 1:
        (first, _), (second, _) = known.most_common(2)
        one = next(name for name, alias in inferred.items() if alias == first)
        other = next(name for name, alias in inferred.items() if alias == second)
        coarsest = max(known, key=lambda alias: _nominal_step(to_offset(alias)))
        raise DataError(
            f"{ctx.source}: the series' frequencies disagree in column '{ctx.time_col}': series '{one}' is '{first}' "
            f"but series '{other}' is '{second}'. Pass freq= (e.g. freq='{coarsest}') to resample every series "
            "to one frequency."
        )
    if not known:
        times = {name: rows.times(part) for name, part in rows.slices()}
        names = list(times)
        if all(times[name].nunique() < 2 for name in names):
            raise DataError(
                f"{ctx.source}: series {quoted(names)} have a single timestamp in column '{ctx.time_col}', too few "
                "to infer the frequency. Pass freq= (e.g. freq='D')."
            )
        raise _irregular(names, times, ctx)
    offset = to_offset(known.most_common(1)[0][0])
    grids = _per_timestamps(rows, lambda stamps: ~_on_grid(stamps, offset))
    off_grid = {name: (part, outside) for name, part, outside in grids}
    irregular = [name for name, alias in inferred.items() if alias is None and off_grid[name][1].any()]
    if irregular:
        raise _irregular(irregular, {name: rows.times(part) for name, (part, _) in off_grid.items()}, ctx)
    for name, (part, outside) in off_grid.items():
        if outside.any():
            offending = rows.frame(part)[outside]
            raise DataError(
                f"{ctx.source}: column '{ctx.time_col}' of series '{name}' has {_n(outside.sum(), 'timestamp')} off "
                f"its '{offset.freqstr}' grid, first at {_rows_text(offending, ctx)}. Correct them, or "
                f"pass freq='{offset.freqstr}' to resample the series onto the grid (mean)."
            )
    return offset


def _irregular(names: list[str], times: dict[str, pd.Series], ctx: _Context) -> DataError:
    """The error for series with no spacing covering most of their steps."""
    steps = times[names[0]].drop_duplicates().diff().dropna()
    common = ", ".join(str(step) for step in steps.value_counts().index[:3])
    return DataError(
        f"{ctx.source}: column '{ctx.time_col}' of series {quoted(names)} has irregular timestamps: no spacing "
        f"covers most of the steps (series '{names[0]}' steps by {common}). "
        f"Pass freq= (e.g. freq='{_suggested_freq(steps.median())}') to resample them to a regular frequency."
    )


def _suggested_freq(step: pd.Timedelta) -> str:
    """A frequency alias near a typical step, for error messages."""
    for alias, least in (("YS", 360), ("QS", 88), ("MS", 28), ("W", 7), ("D", 1)):
        if step >= pd.Timedelta(days=least):
            return alias
    return "h" if step >= pd.Timedelta(hours=1) else "min"


def _series_to_resample(
    rows: _Rows, inferred: dict[str, str | None], offset: pd.DateOffset, ctx: _Context
) -> set[str]:
    """Series that need resampling to the requested frequency; a request finer than the data is an error."""
    wanted = _nominal_step(offset)
    too_coarse = {name: alias for name, alias in inferred.items() if alias and _nominal_step(to_offset(alias)) > wanted}
    if too_coarse:
        name, alias = next(iter(too_coarse.items()))
        others = f" (and {len(too_coarse) - 1} more series)" if len(too_coarse) > 1 else ""
        raise DataError(
            f"{ctx.source}: freq='{offset.freqstr}' is finer than the data in column '{ctx.time_col}': series '{name}' "
            f"is '{alias}'{others}. Pass freq='{alias}' or a coarser one, or leave freq out to keep the data's own "
            "frequency."
        )
    return {name for name, _, on_grid in _per_timestamps(rows, lambda stamps: _on_grid(stamps, offset).all())
            if not on_grid}


def _resample(group: pd.DataFrame, offset: pd.DateOffset, alias: str | None) -> tuple[pd.DataFrame, Repair]:
    """Means of y and numeric covariates per period (text covariates: their distinct texts, joined by '; ');
    empty periods become gaps."""
    binned = group.drop(columns=["unique_id", _ROW], errors="ignore").set_index("ds").resample(offset)
    columns = {}
    for column in group.columns.drop(["unique_id", "ds", _ROW], errors="ignore"):
        columns[column] = binned[column].mean() if is_numeric_dtype(group[column]) else binned[column].agg(_joined)
    counts = binned.size()
    resampled = pd.DataFrame(columns)[counts > 0].rename_axis("ds").reset_index()
    resampled.insert(0, "unique_id", group["unique_id"].iloc[0])
    return resampled, Repair(
        "resample:mean", group["unique_id"].iloc[0], len(group),
        f"resampled {_n(len(group), 'row')} ({alias or 'irregular'}) to {_n(len(resampled), 'period')} of "
        f"'{offset.freqstr}' by their mean (text covariates: their texts joined)",
    )


def _joined(texts: pd.Series) -> str | None:
    """A period's texts, each distinct one once, in order; None where it has none."""
    distinct = list(dict.fromkeys(str(text).strip() for text in texts.dropna() if str(text).strip()))
    return "; ".join(distinct) if distinct else None


def _fill_gaps(
    rows: _Rows, offset: pd.DateOffset, fill: str, ctx: _Context, repairs: list[Repair], resampled: dict[str, Repair]
) -> _Rows:
    """Insert each series' missing timestamps and fill them, and any empty targets, by the fill policy.
    The repairs of a series follow its resampling's, if it was resampled."""
    gaps = {}  # the grid, and which of its timestamps are inserted, of each series that misses some
    for name, part, (grid, inserted) in _per_timestamps(rows, lambda times: _grid(times, offset)):
        if name in resampled:
            repairs.append(resampled[name])
        if inserted.any() and fill == "error":
            group = rows.frame(part)
            before = group[group["ds"] < grid[inserted][0]].tail(1)
            after = group[group["ds"] > grid[inserted][0]].head(1)
            raise DataError(
                f"{ctx.source}: column '{ctx.time_col}' of series '{name}' misses {_n(inserted.sum(), 'timestamp')} at "
                f"frequency '{offset.freqstr}'; the first gap is between {_rows_text(before, ctx)} and "
                f"{_rows_text(after, ctx)}. Pass fill='interpolate' (or 'ffill', 'zero') to fill the gaps, "
                "or add the missing rows."
            )
        empty = np.isnan(rows.columns["y"][part])
        if empty.any():
            repairs.append(Repair(
                f"missing:{fill}", name, int(empty.sum()),
                f"filled {_n(empty.sum(), 'empty value')} of {ctx.target_col} with {_FILL_WORDS[fill]} "
                f"(first at {_when(pd.Timestamp(rows.columns['ds'][part][int(np.argmax(empty))]))})",
            ))
        if inserted.any():
            repairs.append(Repair(
                f"fill_gaps:{fill}", name, int(inserted.sum()),
                f"inserted {_n(inserted.sum(), 'missing timestamp')} (first {_when(grid[inserted][0])}) and filled "
                f"{ctx.target_col} with {_FILL_WORDS[fill]}",
            ))
            gaps[name] = grid, inserted
    if gaps:
        rows = _with_inserted_rows(rows, gaps)
    _fill_series(rows, gaps, fill)
    return rows


def _grid(times: pd.Series, offset: pd.DateOffset) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The grid from a series' first timestamp to its last, and which of the grid's timestamps it misses."""
    grid = pd.date_range(times.iloc[0], times.iloc[-1], freq=offset)
    return grid, ~grid.isin(times)


def _with_inserted_rows(rows: _Rows, gaps: dict[str, tuple[pd.DatetimeIndex, np.ndarray]]) -> _Rows:
    """Every series on its whole grid: rows for the missing timestamps, empty (their covariates promoted to
    a type that holds a missing value, as reindexing does)."""
    grids = [gaps[name][0] if name in gaps else pd.DatetimeIndex(rows.columns["ds"][part])
             for name, part in rows.slices()]
    source = np.full(sum(len(grid) for grid in grids), -1, dtype=np.intp)  # -1: an inserted row
    start = 0
    for grid, (name, part) in zip(grids, rows.slices()):
        kept = np.arange(len(grid)) if name not in gaps else np.flatnonzero(~gaps[name][1])
        source[start + kept] = np.arange(part.start, part.stop)
        start += len(grid)
    columns = {"ds": _array(grids[0].append(grids[1:]))}
    for name in list(rows.columns):
        if name != "ds":
            columns[name] = take(rows.columns.pop(name), source, allow_fill=True)
    codes = np.repeat(np.arange(len(rows.ids), dtype=rows.codes.dtype), [len(grid) for grid in grids])
    return _Rows(rows.ids, codes, columns, None, owned=True)


def _fill_series(rows: _Rows, gaps: dict[str, tuple[pd.DatetimeIndex, np.ndarray]], fill: str) -> None:
    """Fill each series' empty targets by the policy, and the numeric covariates of its inserted rows by the
    policy, in place. Inserted rows carry no text: an event is not repeated into the gap after it."""
    y = rows.columns["y"]
    covariates = [name for name in rows.columns if name not in ("ds", "y") and is_numeric_dtype(rows.columns[name])]
    for name, part in rows.slices():
        if np.isnan(y[part]).any():
            y[part] = _filled(pd.Series(y[part]), fill).to_numpy()
        if name not in gaps:
            continue
        inserted = gaps[name][1]
        for column in covariates:
            # Covariates of inserted rows only: the user's own empty covariate cells stay as they are.
            source = pd.Series(rows.columns[column][part])
            rows.columns[column][part] = _array(source.where(~inserted, _filled(source, fill)))


def _filled(values: pd.Series, fill: str) -> pd.Series:
    """Empty values filled by the policy (leading empties were trimmed, so every gap has a value before it)."""
    if fill == "interpolate":
        return values.interpolate(method="linear", limit_direction="forward")
    if fill == "ffill":
        return values.ffill()
    return values.fillna(0)


def _check_length(lengths: pd.Series, min_length: int | None, source: str) -> None:
    """Every series (lengths: rows per series id) must have at least min_length rows."""
    if min_length is None:
        return
    short = lengths[lengths < min_length]
    if len(short):
        listed = ", ".join(f"'{name}' ({length} rows)" for name, length in short.head(_SHOWN).items())
        more = f" and {len(short) - _SHOWN} more" if len(short) > _SHOWN else ""
        raise DataError(
            f"{source}: {len(short)} series are shorter than the {min_length} rows "
            f"needed: {listed}{more}. Lower h or drop these series."
        )


def _offset(freq: str, ctx: _Context) -> pd.DateOffset:
    """The requested frequency as an offset; a name pandas does not know is an error."""
    try:
        return to_offset(freq)
    except ValueError as error:
        raise DataError(
            f"{ctx.source}: freq='{freq}' is not a pandas frequency alias. Use e.g. 'h', 'D', 'W', 'MS', 'QS', '15min'."
        ) from error


def _per_timestamps(rows: _Rows, compute: Callable[[pd.Series], T]) -> Iterator[tuple[str, slice, T]]:
    """Each series' id, rows and compute(its timestamps); computed once for a run of series with the same
    timestamps (a wide table's value columns share its dates)."""
    stamps, last, result = rows.stamps, None, None
    for name, part in rows.slices():
        if last is None or not np.array_equal(stamps[part], stamps[last]):
            last, result = part, compute(rows.times(part))
        yield name, part, result


def _on_grid(times: pd.Series, offset: pd.DateOffset) -> np.ndarray:
    """Which timestamps lie on the offset's grid starting at the series' first timestamp."""
    grid = pd.date_range(times.iloc[0], times.iloc[-1], freq=offset)
    return times.isin(grid).to_numpy()


def _nominal_step(offset: pd.DateOffset) -> pd.Timedelta:
    """A typical step of the offset, to tell finer from coarser frequencies."""
    return pd.Series(pd.date_range("2001-01-01", periods=25, freq=offset)).diff().median()


def _rows_text(rows: pd.DataFrame, ctx: _Context, values: pd.Series | None = None) -> str:
    """The first offending rows, with their value if given: file line numbers when known, else time and series."""
    if _ROW in rows and rows[_ROW].notna().all():
        # A wide file's line holds one value per series: name each line once, then the series.
        first = ~rows[_ROW].duplicated().to_numpy()
        lines = rows[first]
        texts = [
            f"line {int(line)}: {_value(values[first].iloc[i])}" if values is not None
            else f"line {int(line)} ({ctx.time_col} {_when(lines['ds'].iloc[i])})"
            for i, line in enumerate(lines[_ROW].head(_SHOWN))
        ]
        text = ", ".join(texts) + (f" and {len(lines) - _SHOWN} more lines" if len(lines) > _SHOWN else "")
        return text + (f" in series {quoted(rows['unique_id'].unique())}" if ctx.has_ids else "")
    texts = []
    for i in range(min(len(rows), _SHOWN)):
        text = f"{ctx.time_col}={_when(rows['ds'].iloc[i])}"
        if ctx.has_ids:
            text += f" of series '{rows['unique_id'].iloc[i]}'"
        if values is not None:
            text += f": {_value(values.iloc[i])}"
        texts.append(text)
    return ", ".join(texts) + (f" and {len(rows) - _SHOWN} more rows" if len(rows) > _SHOWN else "")


def _value(value: object) -> str:
    """A cell as the user wrote it: text quoted, numbers bare."""
    return repr(value) if isinstance(value, str) else str(value)


def _when(value: object) -> str:
    """A timestamp without a needless midnight, or the raw value when it is not a timestamp."""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    return str(value)


def _n(count: int, noun: str) -> str:
    """A count with its noun, plural when needed."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"

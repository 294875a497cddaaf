"""Validate a long frame (unique_id, ds, y, covariates) and repair it by named, reported policies."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_integer_dtype, is_numeric_dtype
from pandas.tseries.frequencies import to_offset

from forecasting.data.frequency import infer_freq
from forecasting.data.panel import FrameReport, Panel, Repair, quoted
from forecasting.errors import DataError

# read_table names its frames' integer index LINE: the labels are file line numbers, used in messages.
LINE = "file_line"
FILLS = ("interpolate", "ffill", "zero", "error")
DUPLICATES = ("error", "mean", "sum", "first", "last")
_ROW = "__line__"  # carries the line numbers through the repairs, dropped at the end
_SHOWN = 5
_FILL_WORDS = {"interpolate": "linear interpolation", "ffill": "the last value carried forward", "zero": "zeros"}
_MERGE_WORDS = {
    "mean": "averaged", "sum": "summed", "first": "kept the first value of", "last": "kept the last value of",
}


@dataclass
class _Context:
    """The caller's names, so that messages speak of the user's file and columns."""

    source: str
    time_col: str
    target_col: str
    has_ids: bool


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
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, not {fill!r}")
    if duplicates not in DUPLICATES:
        raise ValueError(f"duplicates must be one of {DUPLICATES}, not {duplicates!r}")
    earlier = data if isinstance(data, Panel) else None
    df = earlier.frame if earlier is not None else data
    source = source or (earlier.source if earlier is not None else "the frame")
    ctx = _Context(source, str(time_col), str(target_col), has_ids=id_col in df.columns)
    frame = _standard_columns(df, id_col, time_col, target_col, ctx)
    frame["ds"] = _parse_times(frame, ctx)
    frame["y"] = _parse_target(frame, ctx)
    repairs: list[Repair] = list(earlier.report.repairs) if earlier is not None else []
    frame = _sort(frame, repairs)
    frame = _merge_duplicates(frame, duplicates, ctx, repairs)
    frame = _trim_leading_missing(frame, ctx, repairs)
    if fill == "error" and frame["y"].isna().any():
        empty = frame[frame["y"].isna()]
        raise DataError(
            f"{ctx.source}: column '{ctx.target_col}' has {_n(len(empty), 'empty value')}, first at "
            f"{_rows_text(empty, ctx)}. Fill these cells, or pass fill='interpolate' (or 'ffill', 'zero') "
            "to fill them."
        )
    frame, alias = _regularise(frame, freq, fill, ctx, repairs)
    _check_length(frame, min_length, ctx.source)
    covariates = [column for column in frame.columns if column not in ("unique_id", "ds", "y", _ROW)]
    frame = frame[["unique_id", "ds", "y", *covariates]]
    frame = frame.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)
    notes = earlier.report.notes if earlier is not None else ()
    report = FrameReport(source, int(frame["unique_id"].nunique()), len(frame), alias, tuple(repairs), notes)
    return Panel(frame, report, earlier.format if earlier is not None else None)


def require_length(panel: Panel, min_length: int) -> None:
    """Every series of the panel must have at least min_length rows (DataError otherwise)."""
    _check_length(panel.frame, min_length, panel.source)


def _standard_columns(df: pd.DataFrame, id_col: str, time_col: str, target_col: str, ctx: _Context) -> pd.DataFrame:
    """A copy with unique_id, ds, y and covariates, plus the file line numbers when the index holds them."""
    if df.empty:
        raise DataError(f"{ctx.source} has no rows. Pass a table with a date column and at least one value.")
    present = ", ".join(f"'{column}'" for column in df.columns)
    lacking = [
        f"no column '{name}' for the {role} (pass {arg}= to name it)"
        for name, role, arg in ((time_col, "dates", "time_col"), (target_col, "values", "target_col"))
        if name not in df.columns
    ]
    if lacking:
        raise DataError(f"{ctx.source}: {'; '.join(lacking)}. Columns present: {present}.")
    repeated = df.columns[df.columns.duplicated()]
    if len(repeated):
        raise DataError(f"{ctx.source}: the column name(s) {quoted(repeated)} appear twice. Rename them.")
    roles = {time_col: "ds", target_col: "y"}
    if ctx.has_ids:
        roles[id_col] = "unique_id"
    if len(roles) < (3 if ctx.has_ids else 2):
        raise DataError(
            f"{ctx.source}: id_col, time_col and target_col must name different columns "
            f"(got id_col='{id_col}', time_col='{time_col}', target_col='{target_col}'). Columns present: {present}."
        )
    covariates = [column for column in df.columns if column not in roles]
    clashes = [column for column in covariates if column in ("unique_id", "ds", "y", _ROW)]
    if clashes:
        raise DataError(
            f"{ctx.source}: column(s) {quoted(clashes)} clash with the standard names the id, date and value "
            "columns are renamed to. Rename or drop them."
        )
    frame = df.rename(columns=roles)
    has_lines = df.index.name == LINE and is_integer_dtype(df.index)
    frame = frame.rename_axis(_ROW).reset_index() if has_lines else frame.reset_index(drop=True)
    if not ctx.has_ids:
        frame["unique_id"] = str(target_col)
    if frame["unique_id"].isna().any():
        nameless = frame[frame["unique_id"].isna()]
        raise DataError(
            f"{ctx.source}: column '{id_col}' is empty in {_n(len(nameless), 'row')}, first at "
            f"{_rows_text(nameless, ctx)}. Give every row a series id."
        )
    frame["unique_id"] = frame["unique_id"].astype(str)
    return frame


def _parse_times(frame: pd.DataFrame, ctx: _Context) -> pd.Series:
    """The time column as datetime64[ns]; every empty or unparseable value is an error."""
    raw = frame["ds"]
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
    bad = times.isna()
    if bad.any():
        rows = frame[bad]
        raise DataError(
            f"{ctx.source}: column '{ctx.time_col}' has {_n(bad.sum(), 'empty or unparseable date')}, first at "
            f"{_rows_text(rows, ctx, rows['ds'] if _ROW in rows else None)}. Write the dates in one format "
            "(e.g. 2024-01-31), or pass time_col= to name the date column."
        )
    return times.dt.as_unit("ns")


def _parse_target(frame: pd.DataFrame, ctx: _Context) -> pd.Series:
    """The target as float64; text that is not a number, and infinities, are errors."""
    raw = frame["y"]
    if is_numeric_dtype(raw) or is_bool_dtype(raw):
        values = raw.astype("float64")
    else:
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = values.isna() & raw.notna()
        if bad.any():
            rows = frame[bad]
            raise DataError(
                f"{ctx.source}: column '{ctx.target_col}' has {_n(bad.sum(), 'non-numeric value')}, first at "
                f"{_rows_text(rows, ctx, rows['y'])}. Correct them, or empty those cells to have them filled; "
                "numbers with a decimal comma or thousands separators are read by read_table. "
                "If this is not the value column, pass target_col=."
            )
    infinite = np.isinf(values)
    if infinite.any():
        rows = frame[infinite]
        raise DataError(
            f"{ctx.source}: column '{ctx.target_col}' has {_n(infinite.sum(), 'infinite value')}, first at "
            f"{_rows_text(rows, ctx, values[infinite])}. Replace them with finite numbers, or empty those "
            "cells to have them filled."
        )
    return values


def _sort(frame: pd.DataFrame, repairs: list[Repair]) -> pd.DataFrame:
    """Sort by series then time; report the rows that were out of time order within their series."""
    position = frame.groupby("unique_id", sort=False).cumcount()
    ordered = frame.sort_values(["unique_id", "ds"], kind="stable")
    moved = position.loc[ordered.index].to_numpy() != ordered.groupby("unique_id", sort=False).cumcount().to_numpy()
    if moved.any():
        n_series = ordered.loc[moved, "unique_id"].nunique()
        detail = f"sorted {_n(moved.sum(), 'row')} into time order in {n_series} series"
        repairs.append(Repair("sort", None, int(moved.sum()), detail))
    return ordered.reset_index(drop=True)


def _merge_duplicates(frame: pd.DataFrame, policy: str, ctx: _Context, repairs: list[Repair]) -> pd.DataFrame:
    """Rows repeating a (series, time) pair: an error, or merged into one row by the policy."""
    repeated = frame.duplicated(["unique_id", "ds"], keep=False)
    if not repeated.any():
        return frame
    rows = frame[repeated]
    if policy == "error":
        several = "" if ctx.has_ids else (
            " If the table holds several series, pass id_col= to name the column that tells them apart."
        )
        raise DataError(
            f"{ctx.source}: column '{ctx.time_col}' repeats timestamps within a series in {_n(len(rows), 'row')}, "
            f"first at {_rows_text(rows, ctx)}. Pass duplicates='mean' to aggregate them "
            f"(or 'sum', 'first', 'last').{several}"
        )
    grouped = rows.groupby(["unique_id", "ds"], sort=False)
    merged = {}
    for column in rows.columns.drop(["unique_id", "ds"]):
        numeric = is_numeric_dtype(rows[column]) and column != _ROW
        how = policy if numeric or policy in ("first", "last") else "first"
        merged[column] = grouped[column].sum(min_count=1) if how == "sum" else grouped[column].agg(how)
    merged_rows = pd.DataFrame(merged).reset_index()
    for series, group in rows.groupby("unique_id", sort=False):
        stamps = group["ds"].nunique()
        repairs.append(Repair(
            f"duplicates:{policy}", series, len(group),
            f"{_MERGE_WORDS[policy]} {_n(len(group), 'row')} sharing {_n(stamps, 'timestamp')} "
            f"(first {_when(group['ds'].min())}) into one row each",
        ))
    combined = pd.concat([frame[~repeated], merged_rows], ignore_index=True)
    return combined.sort_values(["unique_id", "ds"], kind="stable").reset_index(drop=True)


def _trim_leading_missing(frame: pd.DataFrame, ctx: _Context, repairs: list[Repair]) -> pd.DataFrame:
    """Drop empty targets before each series' first value; a series with no value at all is an error."""
    seen = frame["y"].notna().groupby(frame["unique_id"], sort=False).cummax()
    has_values = seen.groupby(frame["unique_id"], sort=False).any()
    if not has_values.all():
        empty = has_values.index[~has_values]
        raise DataError(
            f"{ctx.source}: column '{ctx.target_col}' is empty for every row of series {quoted(empty)}. "
            "Drop these series or fill in their values."
        )
    leading = frame[~seen]
    for series, group in leading.groupby("unique_id", sort=False):
        repairs.append(Repair(
            "trim_leading_missing", series, len(group),
            f"dropped {_n(len(group), 'row')} with an empty {ctx.target_col} before the series' first value "
            f"(from {_when(group['ds'].iloc[0])})",
        ))
    return frame[seen].reset_index(drop=True)


def _regularise(
    frame: pd.DataFrame, freq: str | None, fill: str, ctx: _Context, repairs: list[Repair]
) -> tuple[pd.DataFrame, str]:
    """Put every series on one frequency's grid: resample where asked, insert and fill missing timestamps."""
    series = {name: group for name, group in frame.groupby("unique_id", sort=False)}
    inferred = {name: infer_freq(group["ds"]) for name, group in series.items()}
    if freq is None:
        offset = _common_offset(series, inferred, ctx)
        to_resample: set[str] = set()
    else:
        offset = _offset(freq, ctx)
        to_resample = _series_to_resample(series, inferred, offset, ctx)
    alias = offset.freqstr
    regular = []
    for name, group in series.items():
        if name in to_resample:
            group = _resample(group, offset, inferred[name], repairs)
        regular.append(_fill_gaps(group, offset, fill, ctx, repairs))
    return pd.concat(regular, ignore_index=True), alias


def _common_offset(
    series: dict[str, pd.DataFrame], inferred: dict[str, str | None], ctx: _Context
) -> pd.DateOffset:
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
        names = list(series)
        if all(series[name]["ds"].nunique() < 2 for name in names):
            raise DataError(
                f"{ctx.source}: series {quoted(names)} have a single timestamp in column '{ctx.time_col}', too few "
                "to infer the frequency. Pass freq= (e.g. freq='D')."
            )
        raise _irregular(names, series, ctx)
    offset = to_offset(known.most_common(1)[0][0])
    off_grid = {name: ~_on_grid(group["ds"], offset) for name, group in series.items()}
    irregular = [name for name, alias in inferred.items() if alias is None and off_grid[name].any()]
    if irregular:
        raise _irregular(irregular, series, ctx)
    for name, outside in off_grid.items():
        if outside.any():
            rows = series[name][outside]
            raise DataError(
                f"{ctx.source}: column '{ctx.time_col}' of series '{name}' has {_n(outside.sum(), 'timestamp')} off "
                f"its '{offset.freqstr}' grid, first at {_rows_text(rows, ctx)}. Correct them, or "
                f"pass freq='{offset.freqstr}' to resample the series onto the grid (mean)."
            )
    return offset


def _irregular(names: list[str], series: dict[str, pd.DataFrame], ctx: _Context) -> DataError:
    """The error for series with no spacing covering most of their steps."""
    steps = series[names[0]]["ds"].drop_duplicates().diff().dropna()
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
    series: dict[str, pd.DataFrame], inferred: dict[str, str | None], offset: pd.DateOffset, ctx: _Context
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
    return {name for name, group in series.items() if not _on_grid(group["ds"], offset).all()}


def _resample(group: pd.DataFrame, offset: pd.DateOffset, alias: str | None, repairs: list[Repair]) -> pd.DataFrame:
    """Means of y and numeric covariates per period (text covariates: the first value); empty periods become gaps."""
    binned = group.drop(columns=["unique_id", _ROW], errors="ignore").set_index("ds").resample(offset)
    columns = {}
    for column in group.columns.drop(["unique_id", "ds", _ROW], errors="ignore"):
        columns[column] = binned[column].mean() if is_numeric_dtype(group[column]) else binned[column].first()
    counts = binned.size()
    resampled = pd.DataFrame(columns)[counts > 0].rename_axis("ds").reset_index()
    resampled.insert(0, "unique_id", group["unique_id"].iloc[0])
    repairs.append(Repair(
        "resample:mean", group["unique_id"].iloc[0], len(group),
        f"resampled {_n(len(group), 'row')} ({alias or 'irregular'}) to {_n(len(resampled), 'period')} of "
        f"'{offset.freqstr}' by their mean (text covariates: first value)",
    ))
    return resampled


def _fill_gaps(
    group: pd.DataFrame, offset: pd.DateOffset, fill: str, ctx: _Context, repairs: list[Repair]
) -> pd.DataFrame:
    """Insert the series' missing timestamps and fill them, and any empty targets, by the fill policy."""
    name = group["unique_id"].iloc[0]
    grid = pd.date_range(group["ds"].iloc[0], group["ds"].iloc[-1], freq=offset)
    inserted = ~grid.isin(group["ds"])
    if inserted.any() and fill == "error":
        before = group[group["ds"] < grid[inserted][0]].tail(1)
        after = group[group["ds"] > grid[inserted][0]].head(1)
        raise DataError(
            f"{ctx.source}: column '{ctx.time_col}' of series '{name}' misses {_n(inserted.sum(), 'timestamp')} at "
            f"frequency '{offset.freqstr}'; the first gap is between {_rows_text(before, ctx)} and "
            f"{_rows_text(after, ctx)}. Pass fill='interpolate' (or 'ffill', 'zero') to fill the gaps, "
            "or add the missing rows."
        )
    empty = group["y"].isna()
    if empty.any():
        repairs.append(Repair(
            f"missing:{fill}", name, int(empty.sum()),
            f"filled {_n(empty.sum(), 'empty value')} of {ctx.target_col} with {_FILL_WORDS[fill]} "
            f"(first at {_when(group.loc[empty, 'ds'].iloc[0])})",
        ))
    if not inserted.any():
        return group.assign(y=_filled(group["y"], fill))
    full = group.set_index("ds").reindex(grid).rename_axis("ds").reset_index()
    full["unique_id"] = name
    full["y"] = _filled(full["y"], fill)
    for column in full.columns.drop(["unique_id", "ds", "y", _ROW], errors="ignore"):
        # Covariates of inserted rows only: the user's own empty covariate cells stay as they are.
        source = full[column]
        filled = _filled(source, fill) if is_numeric_dtype(source) else source.ffill()
        full[column] = source.where(~inserted, filled)
    repairs.append(Repair(
        f"fill_gaps:{fill}", name, int(inserted.sum()),
        f"inserted {_n(inserted.sum(), 'missing timestamp')} (first {_when(grid[inserted][0])}) and filled "
        f"{ctx.target_col} with {_FILL_WORDS[fill]}",
    ))
    return full


def _filled(values: pd.Series, fill: str) -> pd.Series:
    """Empty values filled by the policy (leading empties were trimmed, so every gap has a value before it)."""
    if fill == "interpolate":
        return values.interpolate(method="linear", limit_direction="forward")
    if fill == "ffill":
        return values.ffill()
    return values.fillna(0)


def _check_length(frame: pd.DataFrame, min_length: int | None, source: str) -> None:
    """Every series must have at least min_length rows."""
    if min_length is None:
        return
    lengths = frame.groupby("unique_id", sort=False).size()
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

"""Many files as one lazy table: a folder or glob of CSV/Parquet files read as a Dask DataFrame of series.

Each file is one partition, read by `read_table` when the partition is computed (on a cluster's worker), so it
is validated as a single file would be and its errors name it. The first file is also read at once: its
frequency is the one every file must have (unless `freq` resamples them all), and its columns the table's.
A series may span files; the Forecaster gathers each series into one partition before fitting.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path

import dask.dataframe as dd
import pandas as pd

from forecasting.data.panel import Panel
from forecasting.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz", ".parquet", ".pq")
SERIES_COLUMNS = ["unique_id", "ds", "y"]


def table_files(source: str | os.PathLike) -> list[Path]:
    """The CSV/Parquet files of a folder (and its subfolders) or a glob pattern, sorted."""
    if Path(source).is_dir():
        files = [path for path in Path(source).rglob("*") if path.is_file() and path.name.endswith(TABLE_SUFFIXES)]
    else:
        files = [Path(path) for path in glob.glob(os.fspath(source), recursive=True) if Path(path).is_file()]
    if not files:
        raise DataError(f"{os.fspath(source)}: no CSV or Parquet files there (looked for names ending "
                        f"{', '.join(TABLE_SUFFIXES)}). Give a folder holding them, or a pattern such as 'big/*.csv'.")
    return sorted(files)


def read_tables(source: str | os.PathLike, read_table: Callable[..., Panel], *, freq: str | None = None,
                **options: object) -> dd.DataFrame:
    """The series of every file under `source` (see `table_files`) as a Dask DataFrame of unique_id, ds, y and the
    covariates, one partition per file, each read by `read_table` (forecasting.data.reading's, which calls this)
    lazily. `options` are read_table's (id_col, target_col, sep, ...).

    Raises DataError naming the file: at once for the first file, when a partition is computed for the others.
    """
    files = table_files(source)
    first = read_table(files[0], freq=freq, **options)       # read now: its frequency and columns are every file's
    meta = series_columns(first).iloc[:0]
    return dd.from_map(series_frame, files, read_table=read_table, freq=freq,
                       expected=(freq or first.freq, list(meta.columns)), options=options, meta=meta,
                       label="read-table", enforce_metadata=False)


def series_frame(path: Path, *, read_table: Callable[..., Panel], freq: str | None, expected: tuple[str, list[str]],
                 options: dict) -> pd.DataFrame:
    """One file's validated series as unique_id (text), ds, y and its covariates, which must be the first file's."""
    panel = read_table(path, freq=freq, **options)
    expected_freq, expected_columns = expected
    if panel.freq != expected_freq:
        raise DataError(f"{path}: its frequency is {panel.freq}, the first file's is {expected_freq}. Pass freq= "
                        f"(--freq) to resample every file to one frequency, or read these files apart.")
    if list(panel.frame.columns) != expected_columns:
        raise DataError(f"{path}: its columns are {', '.join(panel.frame.columns)}; the first file's are "
                        f"{', '.join(expected_columns)}. Give every file the same columns, or read these files apart.")
    return series_columns(panel)


def series_columns(panel: Panel) -> pd.DataFrame:
    return panel.frame.astype({"unique_id": str}).reset_index(drop=True)

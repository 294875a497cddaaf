"""The series an index holds: the user's own history, and a library of other series the user supplies."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.data.frame import validate_frame
from forecasting.data.panel import Panel
from forecasting.data.reading import read_table
from forecasting.errors import DataError
from forecasting.retrieval.index import IndexedSeries

LIBRARY_PREFIX = "library:"  # a library series' name in the index, so it never reads as one of the user's


def own_series(ids: list[str], values: list[np.ndarray], last_ds: list[pd.Timestamp],
               freq: str) -> list[IndexedSeries]:
    """The user's series (a History's fields), each on its dates."""
    return [IndexedSeries(series_id, pd.date_range(end=last, periods=len(y), freq=freq), y)
            for series_id, y, last in zip(ids, values, last_ds)]


def check_library(source: Any) -> None:
    """Raises TypeError unless `source` can be a library (None: no library)."""
    if source is not None and not isinstance(source, (str, os.PathLike, Panel, pd.DataFrame)):
        raise TypeError(f"a retrieval library is a file path, a Panel or a long frame, not {type(source).__name__}")


def library_series(source: Any) -> list[IndexedSeries]:
    """A library as indexed series: a Panel (from read_table), a long frame (unique_id, ds, y), or a file
    path read with read_table. Raises DataError where it cannot be read, naming it as the library."""
    if source is None:
        return []
    if isinstance(source, (str, os.PathLike)):
        if not Path(source).is_file():
            raise DataError(f"the retrieval library {str(source)!r} is not a file. Give a CSV/TSV/Parquet file of "
                            "series (long: unique_id, ds, y; or wide: a date column and a column per series).")
        panel = read_table(source)
    elif isinstance(source, Panel):
        panel = source
    else:
        check_library(source)
        panel = validate_frame(source, source="the retrieval library")
    frame = panel.frame
    return [IndexedSeries(f"{LIBRARY_PREFIX}{series_id}", pd.DatetimeIndex(group["ds"]), group["y"].to_numpy(float))
            for series_id, group in frame.groupby("unique_id", sort=False)]

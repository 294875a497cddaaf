"""Text covariates in a panel: which columns hold text, which of them are known in advance, and what they hold.

A text column observed in the past only (an incident log) informs each forecast up to its cutoff; one known in
advance (a planned promotion) is given over the horizon too. Empty text is allowed anywhere: no event.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from forecasting.data.cells import listed
from forecasting.data.panel import Panel
from forecasting.errors import DataError

STANDARD = ("unique_id", "ds", "y")


@dataclass(frozen=True)
class TextColumns:
    """The panel's text covariates: observed up to each cutoff only (`past`), or known in advance (`future`)."""

    past: tuple[str, ...] = ()
    future: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return self.past + self.future

    def __bool__(self) -> bool:
        return bool(self.names)


def detected_text_columns(frame: pd.DataFrame) -> list[str]:
    """The covariates that hold text: every column besides unique_id, ds and y that is not numbers or booleans,
    and holds at least one cell."""
    return [column for column in frame.columns if column not in STANDARD
            and not is_numeric_dtype(frame[column]) and not is_bool_dtype(frame[column])
            and frame[column].notna().any()]


def text_columns(panel: Panel, text_cols: Sequence[str] | None = None,
                 future_text_cols: Sequence[str] = (), description_col: str | None = None) -> TextColumns:
    """The text covariates to use: `text_cols` (None: every detected one but the description_col), of which
    `future_text_cols` are known in advance. Raises DataError for a column that is absent, holds numbers, is named
    twice, or is the series' description."""
    frame, source = panel.frame, panel.source
    covariates = [column for column in frame.columns if column not in STANDARD]
    names = [name for name in detected_text_columns(frame) if name != description_col] if text_cols is None \
        else [str(name) for name in text_cols]
    if description_col is not None and description_col in names + [str(name) for name in future_text_cols]:
        raise DataError(f"{source}: column '{description_col}' is the series' description (description_col); it "
                        f"cannot be a text covariate too. Leave it out of text_cols and future_text_cols.")
    future = [str(name) for name in future_text_cols]
    for role, asked in (("text_cols", names), ("future_text_cols", future)):
        repeated = sorted({name for name in asked if asked.count(name) > 1})
        if repeated:
            raise DataError(f"{source}: {role} names {listed(repeated)} more than once. Name each column once.")
        absent = [name for name in asked if name not in covariates]
        if absent:
            raise DataError(f"{source}: {role} names {listed(absent)}, which {'is' if len(absent) == 1 else 'are'} "
                            f"not a covariate column of the data. Covariate columns: "
                            f"{listed(covariates) if covariates else 'none'}.")
    if text_cols is not None and future and not set(future) <= set(names):
        outside = [name for name in future if name not in names]
        raise DataError(f"{source}: future_text_cols names {listed(outside)}, which text_cols leaves out. A column "
                        f"known in advance is a text column too: add it to text_cols.")
    for name in dict.fromkeys(names + future):
        _check_text(frame, name, source)
    future_set = set(future)
    return TextColumns(past=tuple(name for name in names if name not in future_set),
                       future=tuple(dict.fromkeys([*[name for name in names if name in future_set], *future])))


def _check_text(frame: pd.DataFrame, column: str, source: str) -> None:
    """A text column must hold text: a column of numbers (or booleans) is a numeric covariate."""
    values = frame[column]
    if is_numeric_dtype(values) or is_bool_dtype(values):
        filled = values.dropna()
        shown = ", ".join(f"{value!r}" for value in filled.head(3).tolist())
        raise DataError(f"{source}: column '{column}' holds numbers{f' ({shown}, ...)' if shown else ''}, not text: "
                        f"encoding numbers as sentences loses their size. Leave '{column}' out of the text columns "
                        f"(text_cols=[...] naming the others).")
    if not all(isinstance(value, str) for value in values.dropna().head(1000)):
        odd = values[values.map(lambda value: not isinstance(value, str) and pd.notna(value))]
        row = odd.index[0]
        raise DataError(f"{source}: column '{column}' mixes text with {type(odd.iloc[0]).__name__} values, first in "
                        f"series '{frame['unique_id'].iloc[row]}' at {frame['ds'].iloc[row]}. Write every cell of a "
                        f"text column as text, or leave the cell empty.")


def series_descriptions(panel: Panel, column: str) -> list[str]:
    """Each series' description, the one text its rows hold in `column` ('' where they hold none), in the panel's
    series order. Raises DataError where the column is absent or not text, or a series holds two descriptions."""
    frame, source = panel.frame, panel.source
    if column not in frame.columns or column in STANDARD:
        covariates = [name for name in frame.columns if name not in STANDARD]
        raise DataError(f"{source}: description_col names '{column}', which is not a covariate column of the data. "
                        f"Covariate columns: {listed(covariates) if covariates else 'none'}.")
    _check_text(frame, column, source)
    descriptions = []
    for series, group in frame.groupby("unique_id", sort=False, observed=True):
        cells = text_cells(group[column])
        distinct = list(dict.fromkeys(cell for cell in cells if cell))
        if len(distinct) > 1:
            raise DataError(f"{source}: series '{series}' has {len(distinct)} different descriptions in column "
                            f"'{column}' ({listed(distinct[:3])}). A description is one text per series: write it "
                            f"once (on any row, or on every row alike).")
        descriptions.append(distinct[0] if distinct else "")
    return descriptions


def describe_text(panel: Panel, columns: TextColumns) -> list[str]:
    """One sentence per text column for the report: its kind, how many rows carry text, how many distinct texts."""
    frame = panel.frame
    lines = []
    for name in columns.names:
        cells = text_cells(frame[name])
        carried = cells[cells != ""]
        kind = "known in advance" if name in columns.future else "observed in the past only"
        lines.append(f"text column '{name}' ({kind}): text on {len(carried):,} of {len(frame):,} rows, "
                     f"{len(set(carried)):,} distinct")
    return lines


def text_marks(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of `frame` (unique_id, ds and text columns) that carry text: unique_id, ds, and text, each column's
    text as "column: text", joined by "; "."""
    if not columns or frame.empty:
        return pd.DataFrame(columns=["unique_id", "ds", "text"])
    cells = np.stack([text_cells(frame[name]) for name in columns], axis=1)
    lines = ["; ".join(f"{name}: {cell}" for name, cell in zip(columns, row) if cell) for row in cells]
    marks = pd.DataFrame({"unique_id": frame["unique_id"].astype(str).to_numpy(), "ds": frame["ds"].to_numpy(),
                          "text": lines})
    return marks[marks["text"] != ""].reset_index(drop=True)


def text_cells(values: pd.Series) -> np.ndarray:
    """A text column's cells as an object array of stripped strings, '' where empty."""
    cells = values.astype(object).where(values.notna(), "")
    return np.asarray([str(cell).strip() for cell in cells], dtype=object)


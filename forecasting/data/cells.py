"""Helpers over a table's text cells: an even sample of a column, the cells as Python strings, a reading done
once per distinct cell, and cells named by their file line in messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.extensions import take

SAMPLE = 1000  # values tried per format or number style; evenly spread over the column


def spread(values: pd.Series) -> pd.Series:
    """Up to SAMPLE of the column's filled cells, evenly spread over them, first and last included (taken
    without copying the column)."""
    filled = values.notna().to_numpy()
    count = int(filled.sum())
    if count <= SAMPLE:
        return values[filled]
    picks = np.linspace(0, count - 1, SAMPLE).astype(int)
    return values.iloc[picks if count == len(values) else np.flatnonzero(filled)[picks]]


def text(values: pd.Series) -> pd.Series:
    """The cells as Python strings (NaN where empty), so that pandas' string methods work as Python's do.
    A table's cells are held as Arrow strings, a fraction of the memory; convert only what is read this way."""
    return pd.Series(values.to_numpy(dtype=object, na_value=np.nan), index=values.index, name=values.name)


@dataclass(frozen=True)
class Distinct:
    """A column of text cells as its distinct cells (Python strings) and each row's place among them.

    A reading that takes each cell alone (a number, a date) gives the same done once per distinct cell and
    spread over the rows, without a Python string per cell: dates repeat across a long table's series, and
    most numbers have a few decimals."""

    cells: pd.Series
    codes: np.ndarray  # each row's distinct cell; -1 where the row's cell is empty
    index: pd.Index  # the column's

    def spread(self, read: pd.Series) -> pd.Series:
        """A reading of the distinct cells as the column's: each row gets its cell's (empty rows missing)."""
        values = read.to_numpy() if isinstance(read.dtype, np.dtype) else read.array
        return pd.Series(take(values, self.codes, allow_fill=True), index=self.index)

    def rows(self, read: pd.Series) -> np.ndarray:
        """Where a true/false reading of the distinct cells is true, for the column's rows (empty rows false)."""
        return np.append(read.to_numpy(dtype=bool), False)[self.codes]  # -1 takes the last


def distinct(values: pd.Series) -> Distinct:
    """The column's distinct cells and each row's code (see Distinct)."""
    codes, cells = pd.factorize(values)
    return Distinct(pd.Series(np.asarray(cells, dtype=object), dtype=object), codes, values.index)


def per_distinct(values: pd.Series, read: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """read(cells) for a column of text cells, done once per distinct cell (see Distinct)."""
    column = distinct(values)
    if column.cells.empty:  # every cell empty: the type of an empty reading may differ
        return read(pd.Series(np.nan, index=values.index, dtype=object))
    return column.spread(read(column.cells))


def at_lines(values: pd.Series) -> str:
    """The first values with their file line numbers (the index)."""
    shown = ", ".join(f"line {line}: {value!r}" for line, value in values.head(5).items())
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def listed(names: object) -> str:
    """Up to ten names in quotes, then how many more."""
    names = list(names)
    shown = ", ".join(f"'{name}'" for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def joined(words: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 2 else words)

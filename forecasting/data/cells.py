"""Helpers over a table's text cells: an even sample of a column, and cells named by their file line in messages."""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLE = 1000  # values tried per format or number style; evenly spread over the column


def spread(values: pd.Series) -> pd.Series:
    """Up to SAMPLE values evenly spread over the column, first and last included."""
    if len(values) <= SAMPLE:
        return values
    return values.iloc[np.linspace(0, len(values) - 1, SAMPLE).astype(int)]


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

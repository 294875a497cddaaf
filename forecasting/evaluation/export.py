"""CSV downloads that are safe to open in a spreadsheet."""
from __future__ import annotations

import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (CRLF rows) of `frame`, without its index, in which no text cell or column name can run as a formula.

    Text starting with = + - @ tab or CR gets a leading apostrophe; numeric, date and boolean
    columns are written untouched, so negative numbers stay numbers.
    """
    safe = frame.rename(columns=lambda column: _neutralised(str(column)))
    for column in safe.columns:
        values = safe[column]
        if not (is_numeric_dtype(values) or is_datetime64_any_dtype(values) or is_bool_dtype(values)):
            safe[column] = values.astype(object).map(_neutralised)
    # CRLF rows (RFC 4180): the csv writer then quotes any cell holding a CR or LF, so none splits a row.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _neutralised(value: object) -> object:
    """Text that a spreadsheet would read as a formula, with an apostrophe in front; anything else as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value

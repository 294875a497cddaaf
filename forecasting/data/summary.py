"""One row per series of a panel: its span, length and how much of it repairs filled in."""
from __future__ import annotations

import pandas as pd

from forecasting.data.panel import Panel

# Repair policies that put values into a series that the data did not hold (see frame.py).
FILLING_POLICIES = ("fill_gaps:", "missing:")


def series_summary(panel: Panel) -> pd.DataFrame:
    """Columns unique_id, start, end, observations (rows, filled ones included), filled, freq; one row
    per series, in frame order. `filled` counts inserted timestamps and filled empty values."""
    groups = panel.frame.groupby("unique_id", sort=False)["ds"]
    table = groups.agg(start="min", end="max", observations="size").reset_index()
    filled: dict[str, int] = {}
    for repair in panel.report.repairs:
        if repair.series is not None and repair.policy.startswith(FILLING_POLICIES):
            filled[str(repair.series)] = filled.get(str(repair.series), 0) + repair.rows
    table["filled"] = [filled.get(str(series_id), 0) for series_id in table["unique_id"]]
    table["freq"] = panel.freq
    return table

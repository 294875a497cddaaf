"""One row per series of a validated frame: its span, length and how much of it repairs filled in."""
from __future__ import annotations

import pandas as pd

from forecasting.data.frequency import infer_freq

# Repair policies that put values into a series that the data did not hold (see frame.py).
FILLING_POLICIES = ("fill_gaps:", "missing:")


def series_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns unique_id, start, end, observations (rows, filled ones included), filled, freq; one row
    per series, in frame order.

    `filled` counts inserted timestamps and filled empty values, from the FrameReport in
    frame.attrs["report"] (0 without a report); `freq` is the report's frequency, else each series' own.
    """
    report = frame.attrs.get("report")
    groups = frame.groupby("unique_id", sort=False)["ds"]
    table = groups.agg(start="min", end="max", observations="size").reset_index()
    filled: dict[str, int] = {}
    for repair in report.repairs if report is not None else []:
        if repair.series is not None and repair.policy.startswith(FILLING_POLICIES):
            filled[str(repair.series)] = filled.get(str(repair.series), 0) + repair.rows
    table["filled"] = [filled.get(str(series_id), 0) for series_id in table["unique_id"]]
    table["freq"] = report.freq if report is not None else [infer_freq(ds) for _, ds in groups]
    return table

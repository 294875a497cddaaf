"""Text covariates between the data and the models: a panel's text columns as a HistoryText, and the text a user
gives for the forecast's horizon (planned events)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from backbones.language.text_encoder import TextEncoderConfig
from forecasting.data.cells import listed
from forecasting.data.panel import Panel
from forecasting.data.text import TextColumns, text_cells
from forecasting.errors import DataError
from forecasting.models.base import History, HistoryText

SHOWN_ROWS = 5


def history_text(panel: Panel, columns: TextColumns, h: int, encoder: TextEncoderConfig) -> HistoryText | None:
    """The panel's text columns per series, no text over the horizon yet (None: no text columns)."""
    if not columns:
        return None
    names = list(columns.names)
    groups = [group for _, group in panel.frame.groupby("unique_id", sort=False)]
    return HistoryText(columns=names, known=[name in columns.future for name in names],
                       past=[np.stack([text_cells(group[name]) for name in names], axis=1) for group in groups],
                       ahead=[np.full((h, len(names)), "", object) for _ in groups], encoder=encoder)


def check_future_text(future_text: pd.DataFrame, known: list[str]) -> None:
    """future_text must hold unique_id, ds and only text columns known in advance (`known`); DataError if not."""
    if not known:
        raise DataError("future_text was given, but no text column is known in advance: fit with "
                        "future_text_cols=[...] naming the columns whose text over the horizon you know")
    missing = [name for name in ("unique_id", "ds") if name not in future_text.columns]
    if missing:
        raise DataError(f"future_text lacks the column{'s' if len(missing) > 1 else ''} {listed(missing)}: give "
                        f"unique_id, ds and the text of {listed(known)}")
    extra = [str(name) for name in future_text.columns if name not in ("unique_id", "ds", *known)]
    if extra:
        raise DataError(f"future_text has the column{'s' if len(extra) > 1 else ''} {listed(extra)}, which "
                        f"{'is' if len(extra) == 1 else 'are'} not a text column known in advance "
                        f"({listed(known)}); drop {'it' if len(extra) == 1 else 'them'}")


def check_future_ids(unknown: set[str], fitted: list[str]) -> None:
    """DataError naming the series of future_text that the forecaster was not fitted on (`unknown`), if any."""
    if unknown:
        raise DataError(f"future_text names series {listed(sorted(unknown)[:SHOWN_ROWS])} that the forecaster was not "
                        f"fitted on; its series are {listed(fitted[:SHOWN_ROWS])}{', ...' if len(fitted) > 5 else ''}")


def with_future_text(history: History, future_text: pd.DataFrame, h: int, freq: str) -> HistoryText:
    """`history`'s text with the horizon's text from `future_text` (unique_id, ds, and columns known in advance).
    Raises DataError naming the rows or columns that do not fit, and how to fix them."""
    text = history.text
    known = [name for name, is_known in zip(text.columns, text.known) if is_known] if text else []
    check_future_text(future_text, known)
    ids = future_text["unique_id"].astype(str)
    check_future_ids(set(ids) - set(history.ids), history.ids)
    ds = pd.to_datetime(future_text["ds"], errors="coerce")
    unreadable = future_text.index[ds.isna()].tolist()
    if unreadable:
        raise DataError(f"future_text: ds of rows {unreadable[:SHOWN_ROWS]} is not a date; write each as a date "
                        f"on the forecast's horizon")
    position = {series: s for s, series in enumerate(history.ids)}
    aheads = [np.full((h, len(text.columns)), "", object) for _ in history.ids]
    steps = {}
    for s, last in enumerate(history.last_ds):
        steps[s] = {stamp: i for i, stamp in enumerate(pd.date_range(last, periods=h + 1, freq=freq)[1:])}
    outside, seen, repeated = [], set(), []
    for row, series, stamp in zip(future_text.index, ids, ds):
        s = position[series]
        step = steps[s].get(pd.Timestamp(stamp))
        if step is None:
            outside.append(f"row {row} ({series} at {stamp})")
        elif (s, step) in seen:
            repeated.append(f"row {row} ({series} at {stamp})")
        seen.add((s, step))
    if outside:
        raise DataError(f"future_text: {', '.join(outside[:SHOWN_ROWS])} {'is' if len(outside) == 1 else 'are'} not "
                        f"on the forecast's horizon (the {h} steps of frequency {freq} after each series' end); "
                        f"give text only for those dates")
    if repeated:
        raise DataError(f"future_text: {', '.join(repeated[:SHOWN_ROWS])} repeat{'s' if len(repeated) == 1 else ''} "
                        f"a series and date given before; give each step's text once")
    for name in known:
        if name not in future_text.columns:
            continue
        m = text.columns.index(name)
        for series, stamp, cell in zip(ids, ds, text_cells(future_text[name])):
            s = position[series]
            aheads[s][steps[s][pd.Timestamp(stamp)], m] = cell
    return replace(text, ahead=aheads)

"""Text covariates on the forecast page: the text columns the models read, those known in advance, and the text
planned over the horizon, typed in before forecasting."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import forecasting as fc
from app import common
from app.data_source import Dataset

_PLANNED = "fc_planned_text"     # session state: the planned texts, as dicts of unique_id, step, column, text
ALL_SERIES = "All series"


def settings(dataset: Dataset, h: int, planning: bool = True) -> dict:
    """The text settings, asked only where the data has text columns: description_col, text_cols,
    future_text_cols and planned (the typed texts, each a dict of unique_id, step, column and text; asked only
    with `planning`: a backtest reads the planned text of each window from the data)."""
    detected = fc.detected_text_columns(dataset.frame)
    if not detected:
        return {"text_cols": [], "future_text_cols": [], "planned": [], "description_col": None}
    with st.expander("Text covariates", expanded=True, icon=":material/notes:"):
        description = st.selectbox(
            "Column describing each series (optional)", [None, *detected], key=f"fc_description_col_{dataset.key}",
            format_func=lambda name: "none" if name is None else name,
            help="One text per series, e.g. what it measures. TimeLLM reads it in its prompt, HyperMamba "
                 "conditions on it; it is not a text covariate.")
        detected = [name for name in detected if name != description]
        chosen = st.multiselect(
            "Text columns the models read", detected, default=detected,
            key=f"fc_text_cols_{dataset.key}_{planning}_{description}",
            help="Each step's text is encoded by a sentence encoder (MiniLM). Networks learn what it does to the "
                 "series; ARIMA takes its main components as regressors; other models ignore it.")
        known = st.multiselect(
            "Known in advance (planned, e.g. promotions)", chosen, key=f"fc_future_text_cols_{dataset.key}_{planning}",
            help="Their text over the horizon can be typed in below; the others (e.g. incident logs) are read up "
                 "to the forecast's start only.")
        planned = _planned(dataset, h, known) if known and planning else []
    return {"text_cols": list(chosen), "future_text_cols": list(known), "planned": planned,
            "description_col": description}


def _planned(dataset: Dataset, h: int, known: list[str]) -> list[dict]:
    """A small form that adds a planned text at a step of the horizon, and the list of what was added."""
    entries = [entry for entry in st.session_state.get(_PLANNED, [])
               if entry["column"] in known and entry["step"] <= h and entry["unique_id"] in dataset.series_ids]
    st.markdown("**Planned text over the horizon**")
    series_col, step_col, column_col = st.columns([2, 1, 1])
    series = series_col.selectbox("Series", [ALL_SERIES, *dataset.series_ids], key="fc_planned_series")
    step = step_col.number_input("Step ahead", min_value=1, max_value=h, value=1, step=1, key="fc_planned_step")
    column = column_col.selectbox("Column", known, key="fc_planned_column")
    text = st.text_input("Text", key="fc_planned_text_input", placeholder="e.g. flash sale: everything 30% off")
    add, clear = st.columns([1, 1])
    if add.button("Add planned text", icon=":material/add:", disabled=not text.strip()):
        targets = dataset.series_ids if series == ALL_SERIES else [series]
        entries = [entry for entry in entries if not (entry["unique_id"] in targets and entry["step"] == step
                                                      and entry["column"] == column)]
        entries += [{"unique_id": target, "step": int(step), "column": column, "text": text.strip()}
                    for target in targets]
        st.session_state[_PLANNED] = entries
    if entries and clear.button("Clear planned text", icon=":material/delete:"):
        entries = st.session_state[_PLANNED] = []
    if entries:
        table = future_text(dataset, entries)
        st.dataframe(table, hide_index=True, height=min(35 * (len(table) + 1) + 3, 250), key="fc_planned_table",
                     column_config=common.date_columns(table))
    else:
        st.caption("Nothing planned: the horizon carries no text.")
    return entries


def future_text(dataset: Dataset, planned: list[dict]) -> pd.DataFrame | None:
    """The planned texts as `Forecaster.predict(future_text=...)` takes them: unique_id, ds and a column each
    (None: nothing planned)."""
    if not planned:
        return None
    last = dataset.frame.groupby("unique_id", sort=False)["ds"].max()
    rows = {}
    for entry in planned:
        ds = pd.date_range(last[entry["unique_id"]], periods=entry["step"] + 1, freq=dataset.freq)[-1]
        rows.setdefault((entry["unique_id"], ds), {})[entry["column"]] = entry["text"]
    return pd.DataFrame([{"unique_id": series, "ds": ds, **texts} for (series, ds), texts in rows.items()])


def marks(dataset: Dataset, text_settings: dict) -> pd.DataFrame | None:
    """The chart's text marks: the data's rows with text in the chosen columns, and the planned texts."""
    columns = text_settings["text_cols"]
    if not columns:
        return None
    past = fc.text_marks(dataset.frame, columns)
    planned = future_text(dataset, text_settings["planned"])
    if planned is None:
        return past
    return pd.concat([past, fc.text_marks(planned, [c for c in columns if c in planned.columns])], ignore_index=True)


def show_effects(effects: pd.DataFrame) -> None:
    """What the planned text does in ARIMA: each regressor's effect and p-value, and what its component means."""
    if effects.empty:
        return
    st.subheader("What the planned text does (ARIMA)")
    st.caption("Per series, the effect of a step with text, and of each component of the texts' meaning (in the "
               "series' units per unit of score); 'high' and 'low' name the texts at either end of a component.")
    st.dataframe(effects, hide_index=True, height=250, column_config=common.number_columns(effects),
                 key="fc_text_effects")

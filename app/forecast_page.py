"""Forecast page: choose models, horizon and intervals, and the text covariates (with text planned over the
horizon); fit with a progress bar; chart (timestamps with text marked), the similar past periods the models
retrieved, what the planned text does, table, CSV download."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

import forecasting as fc
from app import common, similar_periods, text_covariates
from app.data_source import Dataset, describe_freq, need_data

_RESULT = "forecast_result"
MAX_CHART_SERIES = 20


@dataclass
class ForecastResult:
    """A finished forecast, kept in session state so reruns (and page switches) do not refit."""

    data_key: str
    settings: dict
    forecasts: pd.DataFrame
    csv: bytes
    fallback_notes: list[str]  # seasons not used on short series, bands calibrated on too few windows
    retrieved: dict[str, similar_periods.Retrieved]  # per model whose forecasts use analogues
    text_effects: pd.DataFrame                        # what the planned text does in ARIMA (empty: nothing)


def render() -> None:
    st.title("Forecast")
    dataset: Dataset = need_data()
    st.caption(f"{common.plain(dataset.label)}: {dataset.report.n_series} series, {describe_freq(dataset.freq)}.")
    settings = _settings(dataset)
    result: ForecastResult | None = common.run_and_keep(
        dataset, settings, action="Forecast", result_key=_RESULT, run=_run,
        hint="Choose models and a horizon", icon=":material/insights:")
    if result is not None:
        _show(dataset, result)


def _settings(dataset: Dataset) -> dict:
    """The model settings, in a row of widgets; their values persist across page switches."""
    left, middle, right = st.columns([3, 1, 2])
    models = left.multiselect("Models", common.model_names(), default=common.DEFAULT_MODELS, key="fc_models",
                              format_func=common.model_label, persist_state="session",
                              help="Several at once: each is fitted to every series.")
    h = middle.number_input("Horizon (steps)", min_value=1, max_value=10_000, key=f"fc_h_{dataset.freq}",
                            value=common.default_horizon(dataset.freq), step=1, persist_state="session",
                            help=f"How many steps ({dataset.freq}) ahead; the default is one season.")
    levels = right.multiselect("Interval levels (%)", common.LEVELS, default=common.DEFAULT_LEVELS,
                               key="fc_levels", persist_state="session")
    description = common.prompt_description(models, key="fc_description")
    retrieval = common.retrieval_input(models, key="fc_retrieval")
    nonnegative = common.nonnegative_toggle(dataset, key="fc_nonnegative")
    text = text_covariates.settings(dataset, int(h))
    if not models:
        st.warning("Choose at least one model.")
    return {"models": list(models), "h": int(h), "level": sorted(levels), "description": description,
            "retrieval": retrieval, "nonnegative": nonnegative, "text": text}


def _run(dataset: Dataset, settings: dict) -> None:
    with common.running("Fitting") as progress:
        text = settings["text"]
        forecaster = fc.Forecaster(common.build_models(settings), h=settings["h"], level=settings["level"] or None,
                                   nonnegative=settings["nonnegative"], progress=progress,
                                   text_cols=text["text_cols"], future_text_cols=text["future_text_cols"],
                                   description_col=text["description_col"])
        forecasts = forecaster.fit(dataset.panel).predict(
            future_text=text_covariates.future_text(dataset, text["planned"]))
        st.session_state[_RESULT] = ForecastResult(dataset.key, settings, forecasts, fc.to_csv_bytes(forecasts),
                                                   forecaster.fallback_notes, similar_periods.retrieved_by(forecaster),
                                                   forecaster.text_effects())


def _show(dataset: Dataset, result: ForecastResult) -> None:
    forecasts = result.forecasts
    for note in result.fallback_notes:
        st.info(common.plain(note), icon=":material/info:")
    ids = list(dict.fromkeys(forecasts["unique_id"].astype(str)))
    st.subheader("Chart")
    chosen = st.multiselect("Series to chart", ids, default=ids[:1], key="fc_series", max_selections=MAX_CHART_SERIES,
                            help="With several series, the menu at the top right of the chart switches between them.")
    if chosen:
        shown = forecasts[forecasts["unique_id"].astype(str).isin(chosen)]
        marks = text_covariates.marks(dataset, result.settings["text"])
        st.plotly_chart(fc.forecast_figure(dataset.frame, shown, text=marks), key="fc_chart")
    if result.retrieved:
        similar_periods.show(dataset.frame, forecasts, result.retrieved, chosen or ids)
    text_covariates.show_effects(result.text_effects)
    st.subheader("Table")
    st.caption(f"{len(forecasts):,} rows: {len(ids)} series × {result.settings['h']} steps, "
               f"models {', '.join(result.settings['models'])}.")
    st.dataframe(forecasts, hide_index=True, height=320, column_config=common.date_columns(forecasts))
    st.download_button("Download forecast CSV", result.csv, file_name="forecast.csv", mime="text/csv",
                       icon=":material/download:", on_click="ignore", key="fc_download")

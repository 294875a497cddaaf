"""Forecast page: choose models, horizon and intervals, and the text covariates (with text planned over the
horizon); fit with a progress bar; chart (timestamps with text marked), the similar past periods the models
retrieved, what the planned text does, table, CSV download.

The models run one at a time, fastest first (`common.run_order`): the chart is drawn as soon as the first one
is done and grows as each of the others arrives, so a quick forecast is on screen while `auto` still compares
models. Each model's result is kept per data and settings (`_model_runs`): running again, switching pages or
adding a model refits only what is new. Stop ends the run and keeps the models that finished.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

import forecasting as fc
from app import common, similar_periods, text_covariates
from app.data_source import Dataset, describe_freq, need_data

_RESULT = "forecast_result"
_MODEL_RUNS = "fc_model_runs"      # session state: run key -> ModelRun
_STOPPED = "fc_stopped"             # session state: the last run was stopped
MAX_CHART_SERIES = 20


@dataclass
class ModelRun:
    """One model's forecast for one dataset and settings, kept so that it is never fitted twice."""

    forecasts: pd.DataFrame           # unique_id, ds and the model's columns
    notes: list[str]                  # fallbacks, short calibrations, what it chose (auto's model, ...)
    retrieved: dict[str, similar_periods.Retrieved]
    text_effects: pd.DataFrame
    compared: pd.DataFrame | None = None   # what auto compared (Forecaster.comparisons), for auto


@dataclass
class ForecastResult:
    """The forecast of the models run so far, kept in session state so reruns (and page switches) do not refit."""

    data_key: str
    settings: dict
    forecasts: pd.DataFrame
    csv: bytes
    fallback_notes: list[str]  # seasons not used on short series, bands calibrated on too few windows, choices
    retrieved: dict[str, similar_periods.Retrieved]  # per model whose forecasts use analogues
    text_effects: pd.DataFrame                        # what the planned text does in ARIMA (empty: nothing)
    missing: list[str] = field(default_factory=list)  # models not run yet (the run was stopped)
    compared: pd.DataFrame | None = None              # what auto compared, when auto ran


def render() -> None:
    st.title("Forecast")
    dataset: Dataset = need_data()
    st.caption(f"{common.plain(dataset.label)}: {dataset.report.n_series} series, {describe_freq(dataset.freq)}.")
    settings = _settings(dataset)
    if st.session_state.pop(_STOPPED, False):
        st.info("Stopped: the models that finished are kept; press **Forecast** to run the others.",
                icon=":material/stop_circle:")
    result: ForecastResult | None = common.run_and_keep(
        dataset, settings, action="Forecast", result_key=_RESULT, run=_run,
        hint="Choose models and a horizon", icon=":material/insights:")
    if result is not None:
        if result.missing:
            st.caption(f"Not run yet: {', '.join(result.missing)}.")
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
    auto_budget = common.auto_budget_input(models, key="fc_auto_budget")
    nonnegative = common.nonnegative_toggle(dataset, key="fc_nonnegative")
    text = text_covariates.settings(dataset, int(h))
    if not models:
        st.warning("Choose at least one model.")
    return {"models": list(models), "h": int(h), "level": sorted(levels), "description": description,
            "retrieval": retrieval, "auto_budget": auto_budget, "nonnegative": nonnegative, "text": text}


def _run(dataset: Dataset, settings: dict) -> None:
    """Each model in turn, fastest first; the result so far is kept and drawn after each, so a stop loses nothing
    that finished."""
    st.button("Stop", icon=":material/stop:", key="fc_stop", on_click=_stop,
              help="Stop the run; the models that finished are kept.")
    runs: dict[str, ModelRun] = st.session_state.setdefault(_MODEL_RUNS, {})
    order = common.run_order(settings["models"])
    status, partial = st.container(), st.empty()     # the progress above the chart of the models done so far
    done: dict[str, ModelRun] = {}
    for position, name in enumerate(order):
        config = common.build_models({**settings, "models": [name]})[0]
        key = _run_key(dataset, settings, config)
        if key not in runs:
            label = f"Fitting {name} ({position + 1} of {len(order)})"
            with status, common.running(label) as progress:
                runs[key] = _fit_one(dataset, settings, config, progress)
            if key not in runs:        # it failed: the error is shown, the others still run
                continue
        done[name] = runs[key]
        result = _combined(dataset, settings, done, [model for model in order if model not in done])
        st.session_state[_RESULT] = result
        if len(done) < len(order):
            with partial.container():
                st.caption(f"Ready: {', '.join(done)}; still running: "
                           f"{', '.join(model for model in order[position + 1:])}.")
                _chart(dataset, result, key=f"fc_partial_chart_{position}")
    partial.empty()


def _stop() -> None:
    """The Stop button's callback: Streamlit ends the run as it reruns the page, which then says so."""
    st.session_state[_STOPPED] = True


def _fit_one(dataset: Dataset, settings: dict, config, progress) -> ModelRun:
    text = settings["text"]
    forecaster = fc.Forecaster([config], h=settings["h"],
                               level=settings["level"] or None, nonnegative=settings["nonnegative"],
                               progress=progress, text_cols=text["text_cols"],
                               future_text_cols=text["future_text_cols"], description_col=text["description_col"])
    forecasts = forecaster.fit(dataset.panel).predict(future_text=text_covariates.future_text(dataset, text["planned"]))
    return ModelRun(forecasts, forecaster.fallback_notes + forecaster.choice_notes,
                    similar_periods.retrieved_by(forecaster), forecaster.text_effects(),
                    next(iter(forecaster.comparisons().values()), None))


def _run_key(dataset: Dataset, settings: dict, config) -> str:
    """What a model's forecast depends on: the data, the settings every model shares, and the model's own."""
    own_settings = ("models", "description", "retrieval", "auto_budget")     # in the configs of the models they affect
    shared = {key: value for key, value in settings.items() if key not in own_settings}
    own = config if isinstance(config, str) else [config.name, config.config()]
    return json.dumps([dataset.key, shared, own], sort_keys=True, default=str)


def _combined(dataset: Dataset, settings: dict, done: dict[str, ModelRun], missing: list[str]) -> ForecastResult:
    """The models' results side by side, in the order the user listed them."""
    runs = [done[name] for name in settings["models"] if name in done]
    forecasts = runs[0].forecasts
    for run in runs[1:]:
        forecasts = forecasts.merge(run.forecasts, on=["unique_id", "ds"], how="left")
    notes = list(dict.fromkeys(note for run in runs for note in run.notes))
    effects = [run.text_effects for run in runs if len(run.text_effects)]
    compared = next((run.compared for run in runs if run.compared is not None), None)
    return ForecastResult(dataset.key, settings, forecasts, fc.to_csv_bytes(forecasts), notes,
                          {name: found for run in runs for name, found in run.retrieved.items()},
                          pd.concat(effects, ignore_index=True) if effects else runs[0].text_effects, missing,
                          compared)


def _show_compared(compared: pd.DataFrame) -> None:
    """auto's backtest: every option's scores and coverage, the time each candidate took, and its status."""
    with st.expander("What auto compared", icon=":material/leaderboard:"):
        st.caption("Each candidate forecast the last windows of your series; the ensembles combine the best three. "
                   "Lower is better; coverage is the share of actuals inside each band.")
        shown = compared[[column for column in ["option", "members", "status", "score", "metric", "mase", "smape",
                                                "coverage-80", "coverage-95", "seconds", "detail"]
                          if column in compared.columns]]
        st.dataframe(shown, hide_index=True, column_config=common.number_columns(shown), key="fc_compared")


def _chart(dataset: Dataset, result: ForecastResult, key: str, chosen: list[str] | None = None) -> None:
    forecasts = result.forecasts
    ids = list(dict.fromkeys(forecasts["unique_id"].astype(str)))
    shown = forecasts[forecasts["unique_id"].astype(str).isin(chosen or ids[:1])]
    marks = text_covariates.marks(dataset, result.settings["text"])
    st.plotly_chart(fc.forecast_figure(dataset.frame, shown, text=marks), key=key)


def _show(dataset: Dataset, result: ForecastResult) -> None:
    forecasts = result.forecasts
    for note in result.fallback_notes:
        st.info(common.plain(note), icon=":material/info:")
    ids = list(dict.fromkeys(forecasts["unique_id"].astype(str)))
    st.subheader("Chart")
    chosen = st.multiselect("Series to chart", ids, default=ids[:1], key="fc_series", max_selections=MAX_CHART_SERIES,
                            help="With several series, the menu at the top right of the chart switches between them.")
    if chosen:
        _chart(dataset, result, key="fc_chart", chosen=chosen)
    if result.retrieved:
        similar_periods.show(dataset.frame, forecasts, result.retrieved, chosen or ids)
    text_covariates.show_effects(result.text_effects)
    st.subheader("Table")
    st.caption(f"{len(forecasts):,} rows: {len(ids)} series × {result.settings['h']} steps, "
               f"models {', '.join(result.settings['models'])}.")
    st.dataframe(forecasts, hide_index=True, height=320, column_config=common.date_columns(forecasts))
    st.download_button("Download forecast CSV", result.csv, file_name="forecast.csv", mime="text/csv",
                       icon=":material/download:", on_click="ignore", key="fc_download")
    if result.compared is not None:
        _show_compared(result.compared)

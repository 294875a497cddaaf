"""Backtest page: rolling-origin cross-validation against seasonal naive, metrics, verdict, HTML report."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

import forecasting as fc
from app import common, text_covariates
from app.data_source import Dataset, need_data

_RESULT = "backtest_result"


@dataclass
class BacktestResult:
    """A finished backtest and its rendered report, kept so reruns do not recompute them."""

    data_key: str
    settings: dict
    backtest: fc.Backtest
    report_html: str


def render() -> None:
    st.title("Backtest")
    dataset: Dataset = need_data()
    st.caption(f"Rolling-origin evaluation on {common.plain(dataset.label)}: each window's models see only the data before "
               f"its cutoff. {fc.REFERENCE} always runs too, as the reference a model must beat.")
    settings = _settings(dataset)
    result: BacktestResult | None = common.run_and_keep(
        dataset, settings, action="Run backtest", result_key=_RESULT, run=_run,
        hint="Choose models and windows", icon=":material/fact_check:")
    if result is not None:
        _show(result)


def _settings(dataset: Dataset) -> dict:
    freq = dataset.freq
    models = st.multiselect("Models", common.model_names(), default=common.DEFAULT_MODELS, key="bt_models",
                            format_func=common.model_label, persist_state="session")
    c1, c2, c3, c4 = st.columns(4)
    h = c1.number_input("Horizon (steps)", min_value=1, max_value=10_000, value=common.default_horizon(freq),
                        key=f"bt_h_{freq}", persist_state="session")
    n_windows = c2.number_input("Windows", min_value=1, max_value=100, value=3, key="bt_windows",
                                persist_state="session", help="How many forecast origins (cutoffs).")
    step = c3.number_input("Step between windows", min_value=0, max_value=10_000, value=0, key=f"bt_step_{freq}",
                           persist_state="session", help="Steps between cutoffs; 0 means one horizon.")
    levels = c4.multiselect("Interval levels (%)", common.LEVELS, default=common.DEFAULT_LEVELS, key="bt_levels",
                            persist_state="session")
    refit = st.toggle("Refit the models at every window", value=True, key="bt_refit", persist_state="session",
                      help="Off: estimate once at the first cutoff and reuse the parameters (faster).")
    description = common.prompt_description(models, key="bt_description")
    nonnegative = common.nonnegative_toggle(dataset, key="bt_nonnegative")
    text = text_covariates.settings(dataset, int(h), planning=False)
    if not models:
        st.warning("Choose at least one model.")
    return {"models": list(models), "h": int(h), "n_windows": int(n_windows), "step_size": int(step) or None,
            "level": sorted(levels), "refit": bool(refit), "description": description, "nonnegative": nonnegative,
            "text": text}


def _run(dataset: Dataset, settings: dict) -> None:
    with common.running("Backtesting") as progress:
        backtest = fc.run_backtest(dataset.panel, common.build_models(settings), h=settings["h"],
                                n_windows=settings["n_windows"], step_size=settings["step_size"], level=settings["level"] or None,
                                refit=settings["refit"], nonnegative=settings["nonnegative"], progress=progress,
                                source=dataset.label, text_cols=settings["text"]["text_cols"],
                                future_text_cols=settings["text"]["future_text_cols"],
                                description_col=settings["text"]["description_col"])
        html = fc.render_report(backtest, title=f"Backtest report: {dataset.label}")
        st.session_state[_RESULT] = BacktestResult(dataset.key, settings, backtest, html)


def _show(result: BacktestResult) -> None:
    backtest = result.backtest
    settings = backtest.settings
    st.subheader("Verdict")
    best = backtest.ranking.iloc[0]
    if best["model"] != fc.REFERENCE and bool(best["beats_reference"]):
        st.success(common.plain(backtest.verdict), icon=":material/verified:")
    else:
        st.warning(common.plain(backtest.verdict), icon=":material/warning:")
    for note in backtest.fallback_notes:
        st.info(common.plain(note), icon=":material/info:")
    st.caption(f"{settings['n_series']} series · horizon {settings['h']} · {settings['n_windows']} window(s), "
               f"{settings['step_size']} steps apart · season length {settings['season_length']} · "
               f"refit {'on' if settings['refit'] else 'off'} · "
               f"forecasts {'kept at or above zero' if settings['nonnegative'] else 'free to go below zero'}.")
    st.download_button("Download report (HTML)", result.report_html, file_name="backtest-report.html",
                       mime="text/html", icon=":material/download:", on_click="ignore", key="bt_download")

    st.subheader("Ranking")
    st.caption(f"{_ranking_key(backtest)} coverage-L is the share of actuals inside the L% interval (ideal: L%).")
    st.dataframe(backtest.ranking, hide_index=True, column_order=_coverage_beside_mase(list(backtest.ranking.columns)),
                 column_config=common.number_columns(backtest.ranking))
    gaps = fc.metrics.coverage_gaps(backtest.summary)
    if gaps:
        points = round(100 * fc.metrics.COVERAGE_TOLERANCE)
        st.warning(common.plain(f"Coverage more than {points} points from the nominal level: " + "; ".join(gaps) + "."),
                   icon=":material/straighten:")
    left, right = st.columns(2)
    left.plotly_chart(fc.ranking_figure(backtest.ranking, fc.REFERENCE), key="bt_ranking_chart")
    with right:
        st.markdown("**Metrics over all series and windows**")
        st.dataframe(backtest.summary, column_config=common.number_columns(backtest.summary))

    st.subheader("Forecasts against actuals")
    ids = list(dict.fromkeys(backtest.forecasts["unique_id"].astype(str)))
    series_id = st.selectbox("Series", ids, key="bt_series")
    st.plotly_chart(fc.backtest_figure(backtest.panel.frame, backtest.forecasts, series_id), key="bt_chart")

    st.subheader("Per series and window")
    st.dataframe(backtest.per_series, hide_index=True, height=320,
                 column_config=common.number_columns(backtest.per_series))


def _ranking_key(backtest: fc.Backtest) -> str:
    """How the ranking is ordered and what says a model beats the reference."""
    if backtest.ranked_by == "mase":
        return f"Lowest MASE first. mase_vs_reference below 1 means better than {fc.REFERENCE};"
    label = fc.metrics.LABELS[backtest.ranked_by]
    return (f"Lowest {label} first: MASE is undefined on this data (see the verdict). beats_reference means a "
            f"lower {label} than {fc.REFERENCE};")


def _coverage_beside_mase(columns: list[str]) -> list[str]:
    """The model, its MASE and each interval's coverage first, then the other columns."""
    first = ["model", "mase", *[column for column in columns if fc.metrics.nominal_coverage(column) is not None]]
    return first + [column for column in columns if column not in first]

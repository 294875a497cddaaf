"""The Forecast page's "Similar past periods": the past windows a model's forecast retrieved, charted and listed."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

import forecasting as fc
from app import common

SOURCES = {True: "library", False: "this data"}
COLUMNS = ["rank", "series", "source", "start", "end", "similarity", "weight"]
TABLE_COLUMNS = {
    "similarity": st.column_config.NumberColumn(
        format="%.3f", help="Correlation with the series' latest steps (1: the same shape)."),
    "weight": st.column_config.ProgressColumn(format="percent", min_value=0.0, max_value=1.0,
                                              help="Its share in the forecast."),
}


@dataclass
class Retrieved:
    """What one model's forecast retrieved (Forecaster.analogues and analogue_futures), kept instead of the
    Forecaster, which holds the fitted models."""

    analogues: pd.DataFrame
    futures: pd.DataFrame


def retrieved_by(forecaster: fc.Forecaster) -> dict[str, Retrieved]:
    """Per model whose forecasts use analogues, in the forecaster's order, what its forecast retrieved."""
    return {model: Retrieved(forecaster.analogues(model), forecaster.analogue_futures(model))
            for model in forecaster.retrieving_models}


def show(history: pd.DataFrame, forecasts: pd.DataFrame, retrieved: dict[str, Retrieved],
         series_ids: list[str]) -> None:
    """For one of `series_ids` and one retrieving model (menus where there is a choice): the chart of its
    analogues' futures beside the forecast, and the table of them."""
    st.subheader("Similar past periods")
    left, right = st.columns(2)
    model = _choice(left, "Analogues of the model", list(retrieved), key="fc_analogue_model")
    series_id = _choice(right, "Series", series_ids, key="fc_analogue_series")
    analogues = retrieved[model].analogues
    analogues = analogues[analogues["unique_id"] == series_id]
    st.plotly_chart(fc.analogue_figure(history, forecasts, model, analogues, retrieved[model].futures, series_id),
                    key="fc_analogue_chart")
    charted = "" if len(analogues) <= fc.CHARTED_ANALOGUES else f" The chart draws the first {fc.CHARTED_ANALOGUES}."
    st.caption(common.plain(
        f"The {len(analogues)} past windows whose last steps look most like the latest steps of {series_id}, "
        f"most similar first. Each one's future is set to the series' recent level and spread, on the forecast's "
        f"dates; its weight is its share in {model}'s forecast.{charted}"))
    st.dataframe(listed(analogues), hide_index=True, column_config=TABLE_COLUMNS)


def _choice(container, label: str, options: list[str], key: str) -> str:
    """The only option, or the one picked in a menu where there are several."""
    return container.selectbox(label, options, key=key) if len(options) > 1 else options[0]


def listed(analogues: pd.DataFrame) -> pd.DataFrame:
    """The analogues as the table shows them: where each comes from ("library" or "this data") beside its series."""
    return analogues.assign(source=analogues["library"].map(SOURCES))[COLUMNS]

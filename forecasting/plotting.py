"""Plotly charts of history, forecasts and interval bands, one series at a time."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from .metrics import interval_levels, model_columns


def forecast_figure(history: pd.DataFrame, forecasts: pd.DataFrame, context: int | None = None) -> go.Figure:
    """History (the last `context` points per series; default 4 horizons, at least 200) with each
    model's forecast and interval bands. With several series a dropdown picks the one shown."""
    models = model_columns(forecasts)
    h = int(forecasts.groupby("unique_id").size().max())
    context = context or max(4 * h, 200)
    series_ids = list(dict.fromkeys(forecasts["unique_id"]))
    figure = go.Figure()
    owner = []  # series index of each trace, for the dropdown
    for index, series_id in enumerate(series_ids):
        past = history[history["unique_id"] == series_id].tail(context)
        future = forecasts[forecasts["unique_id"] == series_id]
        visible = index == 0
        figure.add_trace(go.Scatter(x=past["ds"], y=past["y"], name="history", mode="lines",
                                    line={"color": "#444"}, visible=visible))
        owner.append(index)
        for color, model in zip(qualitative.Plotly * 4, models):
            for level in reversed(interval_levels(forecasts, model)):
                band = pd.concat([future["ds"], future["ds"][::-1]])
                bounds = pd.concat([future[f"{model}-hi-{level}"], future[f"{model}-lo-{level}"][::-1]])
                figure.add_trace(go.Scatter(x=band, y=bounds, fill="toself", mode="lines", line={"width": 0},
                                            fillcolor=color, opacity=0.15 + 0.1 * (level < 90),
                                            name=f"{model} {level}%", legendgroup=model, visible=visible,
                                            hoverinfo="skip"))
                owner.append(index)
            figure.add_trace(go.Scatter(x=future["ds"], y=future[model], name=model, mode="lines",
                                        line={"color": color}, legendgroup=model, visible=visible))
            owner.append(index)
    figure.update_layout(title=f"Forecast: {series_ids[0]}", xaxis_title="ds", yaxis_title="y",
                         template="plotly_white", hovermode="x unified")
    if len(series_ids) > 1:
        buttons = [{"label": str(series_id), "method": "update",
                    "args": [{"visible": [o == index for o in owner]}, {"title": f"Forecast: {series_id}"}]}
                   for index, series_id in enumerate(series_ids)]
        figure.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15}])
    return figure


def write_html(figure: go.Figure, path: str) -> None:
    """A self-contained file: plotly.js is embedded, so it opens offline."""
    figure.write_html(path, include_plotlyjs=True, full_html=True)

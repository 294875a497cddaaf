"""Plotly charts of history, forecasts, backtests and interval bands, one series at a time.

Plotly renders a subset of HTML in titles, trace names and menu labels, so series ids and model
names (user data) go through html.escape: they show as text and never as markup.
"""
from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from forecasting.evaluation.metrics import LABELS, comparison_metric, interval_levels, model_columns

ACTUALS_COLOR = "#444"
REFERENCE_COLOR = "#999"
ANALOGUE_COLOR = "#f58518"   # the analogues' futures, beside a forecast
TEXT_COLOR = "#b279a2"       # marks of the timestamps that carry text


def forecast_figure(history: pd.DataFrame, forecasts: pd.DataFrame, context: int | None = None,
                    text: pd.DataFrame | None = None) -> go.Figure:
    """History (the last `context` points per series; default 4 horizons, at least 200) with each
    model's forecast and interval bands. With several series a dropdown picks the one shown.
    text: timestamps that carry text (unique_id, ds, text; see `forecasting.data.text.text_marks`), marked on the
    history, or on the first model's forecast over the horizon, with the text on hover."""
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
                                    line={"color": ACTUALS_COLOR}, visible=visible))
        owner.append(index)
        for color, model in zip(qualitative.Plotly * 4, models):
            for level in reversed(interval_levels(forecasts, model)):
                band, bounds = _outline(future, f"{model}-lo-{level}", f"{model}-hi-{level}")
                figure.add_trace(go.Scatter(x=band, y=bounds, fill="toself", mode="lines", line={"width": 0},
                                            fillcolor=color, opacity=0.15 + 0.1 * (level < 90),
                                            name=f"{escape(model)} {level}%", legendgroup=model, visible=visible,
                                            hoverinfo="skip"))
                owner.append(index)
            figure.add_trace(go.Scatter(x=future["ds"], y=future[model], name=escape(model), mode="lines",
                                        line={"color": color}, legendgroup=model, visible=visible))
            owner.append(index)
        if text is not None:
            figure.add_trace(_text_trace(text[text["unique_id"] == series_id], past, future, models, visible))
            owner.append(index)
    figure.update_layout(title=f"Forecast: {escape(str(series_ids[0]))}", xaxis_title="ds", yaxis_title="y",
                         template="plotly_white", hovermode="x unified")
    if len(series_ids) > 1:
        buttons = [{"label": escape(str(series_id)), "method": "update",
                    "args": [{"visible": [o == index for o in owner]},
                             {"title": f"Forecast: {escape(str(series_id))}"}]}
                   for index, series_id in enumerate(series_ids)]
        figure.update_layout(updatemenus=[{"buttons": buttons, "x": 1.0, "xanchor": "right", "y": 1.15}])
    return figure


def _text_trace(marks: pd.DataFrame, past: pd.DataFrame, future: pd.DataFrame, models: list[str],
                visible: bool) -> go.Scatter:
    """Markers at the shown timestamps that carry text, on the line they fall on; the text shows on hover."""
    on_line = pd.concat([past.set_index("ds")["y"],
                         future.set_index("ds")[models[0]] if models else pd.Series(dtype=float)])
    shown = marks[marks["ds"].isin(on_line.index)]
    return go.Scatter(x=shown["ds"], y=on_line.reindex(shown["ds"]).to_numpy(), name="text", mode="markers",
                      marker={"color": TEXT_COLOR, "size": 9, "symbol": "diamond"}, visible=visible,
                      text=[escape(str(line)) for line in shown["text"]], hovertemplate="%{text}<extra>text</extra>")


def backtest_figure(data: pd.DataFrame, forecasts: pd.DataFrame, series_id: str, level: int | None = None,
                    context: int | None = None) -> go.Figure:
    """One series of a backtest: its actuals and each model's forecast for every cutoff window, with
    the `level`% interval band (default: the narrowest level present; none without intervals).

    `data` is the history (unique_id, ds, y), `forecasts` a `Forecaster.cross_validation` frame.
    Actuals start `context` points before the first cutoff (default: as many as the windows span).
    """
    windows = forecasts[forecasts["unique_id"] == series_id]
    if windows.empty:
        raise ValueError(f"no backtest forecasts for series {series_id!r}")
    actuals = data[data["unique_id"] == series_id]
    cutoffs = list(dict.fromkeys(windows["cutoff"]))
    context = context or windows["ds"].nunique()
    before = actuals[actuals["ds"] <= cutoffs[0]].tail(context)
    shown = actuals[actuals["ds"] >= before["ds"].iloc[0]] if len(before) else actuals
    figure = go.Figure(go.Scatter(x=shown["ds"], y=shown["y"], name="actual", mode="lines",
                                  line={"color": ACTUALS_COLOR}))
    for color, model in zip(qualitative.Plotly * 4, model_columns(forecasts)):
        levels = interval_levels(forecasts, model)
        band = level if level is not None else (levels[0] if levels else None)
        if band is not None:
            x, y = _bands(windows, f"{model}-lo-{band}", f"{model}-hi-{band}")
            figure.add_trace(go.Scatter(x=x, y=y, fill="toself", mode="lines", line={"width": 0},
                                        fillcolor=color, opacity=0.2, name=f"{escape(model)} {band}%",
                                        legendgroup=model, hoverinfo="skip"))
        x, y = _segments(windows, model)
        figure.add_trace(go.Scatter(x=x, y=y, name=escape(model), mode="lines", line={"color": color},
                                    legendgroup=model, connectgaps=False))
    for cutoff in cutoffs:
        figure.add_vline(x=cutoff, line={"color": REFERENCE_COLOR, "width": 1, "dash": "dot"})
    figure.update_layout(title=f"Backtest: {escape(str(series_id))} ({len(cutoffs)} cutoffs, dotted)",
                         xaxis_title="ds", yaxis_title="y", template="plotly_white", hovermode="x unified")
    return figure


CHARTED_ANALOGUES = 20   # more lines than this hide the forecast (the analog model may average hundreds)


def analogue_figure(history: pd.DataFrame, forecasts: pd.DataFrame, model: str, analogues: pd.DataFrame,
                    futures: pd.DataFrame, series_id: str, context: int | None = None) -> go.Figure:
    """One series' history, `model`'s forecast and the futures of the analogues it retrieved
    (`Forecaster.analogues` and `analogue_futures`; the CHARTED_ANALOGUES best-ranked of them): thin lines, the
    more opaque the more weight, each named by its rank, series and dates. History shows the last `context`
    points before the forecast (default 4 horizons) and, in a backtest, the actuals over it; the forecast's
    start is dotted."""
    future = forecasts[forecasts["unique_id"] == series_id]
    start = future["ds"].min()
    series = history[history["unique_id"] == series_id]
    before = series[series["ds"] < start].tail(context or 4 * len(future))
    shown = pd.concat([before, series[(series["ds"] >= start) & (series["ds"] <= future["ds"].max())]])
    figure = go.Figure(go.Scatter(x=shown["ds"], y=shown["y"], name="history", mode="lines",
                                  line={"color": ACTUALS_COLOR}))
    found = analogues[analogues["unique_id"] == series_id].nsmallest(CHARTED_ANALOGUES, "rank")
    paths = futures[futures["unique_id"] == series_id]
    for analogue in found.itertuples():
        path = paths[paths["rank"] == analogue.rank]
        name = f"#{analogue.rank} {escape(str(analogue.series))}, {_when(analogue.start)} to {_when(analogue.end)}"
        figure.add_trace(go.Scatter(x=path["ds"], y=path["value"], name=name, mode="lines", legendgroup="analogues",
                                    line={"width": 1, "color": ANALOGUE_COLOR},
                                    opacity=0.15 + 0.85 * analogue.weight / found["weight"].max()))
    figure.add_trace(go.Scatter(x=future["ds"], y=future[model], name=escape(model), mode="lines",
                                line={"color": qualitative.Plotly[0], "width": 3}))
    figure.add_vline(x=start, line={"color": REFERENCE_COLOR, "width": 1, "dash": "dot"})
    figure.update_layout(title=f"Similar past periods: {escape(str(series_id))} ({escape(model)})",
                         xaxis_title="ds", yaxis_title="y", template="plotly_white", hovermode="x unified")
    return figure


def _when(stamp: pd.Timestamp) -> str:
    """A window's start or end: the date, and the time of day where it has one."""
    return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else f"{stamp:%Y-%m-%d %H:%M}"


def ranking_figure(ranking: pd.DataFrame, reference: str) -> go.Figure:
    """The ranking metric (MASE, or where it is undefined sMAPE or RMSE) per model as bars, best first, the
    reference grey with a dashed line at its level."""
    metric = comparison_metric(ranking)
    label = LABELS[metric]
    colors = [REFERENCE_COLOR if model == reference else qualitative.Plotly[0] for model in ranking["model"]]
    figure = go.Figure(go.Bar(x=[escape(model) for model in ranking["model"]], y=ranking[metric],
                              marker_color=colors, text=[f"{v:.3g}" for v in ranking[metric]],
                              textposition="outside"))
    reference_score = ranking.loc[ranking["model"] == reference, metric]
    if len(reference_score):
        figure.add_hline(y=float(reference_score.iloc[0]), line={"color": REFERENCE_COLOR, "dash": "dash"})
    figure.update_layout(title=f"{label} per model (lower is better; dashed: {escape(reference)})",
                         xaxis_title="model", yaxis_title=label, template="plotly_white", showlegend=False)
    return figure


def write_html(figure: go.Figure, path: str) -> None:
    """A self-contained file: plotly.js is embedded, so it opens offline."""
    figure.write_html(path, include_plotlyjs=True, full_html=True)


def _segments(windows: pd.DataFrame, column: str) -> tuple[list, list]:
    """x and y of one line per cutoff window, separated by gaps so that windows are not joined."""
    xs, ys = [], []
    for _, window in windows.groupby("cutoff", sort=False):
        xs += [*window["ds"], None]
        ys += [*window[column], None]
    return xs, ys


def _bands(windows: pd.DataFrame, lower: str, upper: str) -> tuple[list, list]:
    """x and y of one closed band outline per cutoff window (upper bound out, lower bound back)."""
    xs, ys = [], []
    for _, window in windows.groupby("cutoff", sort=False):
        x, y = _outline(window, lower, upper)
        xs += [*x, None]
        ys += [*y, None]
    return xs, ys


def _outline(frame: pd.DataFrame, lower: str, upper: str) -> tuple[list, list]:
    """x and y of a band's closed outline: along the upper bound, back along the lower one."""
    return [*frame["ds"], *frame["ds"][::-1]], [*frame[upper], *frame[lower][::-1]]

"""The backtest report: one self-contained HTML file (plotly.js embedded once) that opens offline.

Everything from the data (series ids, model and column names, the title) reaches the page through
jinja2 autoescaping, or html.escape inside plotly figures; only plotly's own output is marked safe.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from forecasting.data.panel import Panel
from forecasting.data.summary import series_summary
from forecasting.evaluation.backtest import REFERENCE, Backtest, WorstWindow, run_backtest
from forecasting.evaluation.metrics import COVERAGE_TOLERANCE, LABELS, coverage_gaps, coverage_off, nominal_coverage
from forecasting.evaluation.plotting import analogue_figure, backtest_figure, ranking_figure
from forecasting.models.base import GlobalModel, Model

MAX_SERIES_ROWS = 50  # per-series and data tables: longer ones show this many rows and say so
MAX_CHARTS = 6
CHART_HEIGHT = 420

_ENVIRONMENT = Environment(loader=PackageLoader("forecasting.evaluation", "templates"), autoescape=True,
                           undefined=StrictUndefined)


def render_report(backtest: Backtest, title: str = "Backtest report") -> str:
    """The report as one HTML document: verdict (and any fallbacks: seasons not used, bands calibrated on
    too few windows), settings, data, ranking, metrics, charts, per-series table."""
    charts = [ranking_figure(backtest.ranking, REFERENCE)]
    charted = list(dict.fromkeys(backtest.panel.frame["unique_id"]))[:MAX_CHARTS]
    charts += [backtest_figure(backtest.panel.frame, backtest.forecasts, series_id) for series_id in charted]
    return _ENVIRONMENT.get_template("report.html.j2").render(
        title=title,
        verdict=backtest.verdict,
        fallback_notes=backtest.fallback_notes,
        plotly_js=Markup(get_plotlyjs()),
        settings=_settings(backtest.settings),
        data=_data_table(backtest.panel),
        read_notes=[note.detail for note in backtest.panel.report.notes],
        repairs=[str(entry) for entry in backtest.panel.report.by_policy()],
        ranking=_ranking_table(backtest.ranking),
        ranked_by=LABELS[backtest.ranked_by],
        coverage_gaps=coverage_gaps(backtest.summary),
        coverage_tolerance=round(100 * COVERAGE_TOLERANCE),
        summary=_summary_table(backtest.summary),
        per_series=_per_series_table(backtest),
        charts_note=f"{len(charted)} of {backtest.settings['n_series']} series (the first in the data).",
        charts=[Markup(_chart_html(chart)) for chart in charts],
        reference=REFERENCE,
        worst_windows=[_worst_window(backtest, worst) for worst in backtest.worst_windows],
    )


def backtest_report(data: pd.DataFrame | Panel, models: Sequence[str | Model | GlobalModel], h: int, n_windows: int = 3,
                    step_size: int | None = None, level: Sequence[int] | None = None,
                    path: str | Path | None = None, **kwargs) -> str:
    """Run `run_backtest` (kwargs: refit, freq, n_jobs, progress, source), render the report, write
    it to `path` when given, and return the HTML."""
    backtest = run_backtest(data, models, h, n_windows=n_windows, step_size=step_size, level=level, **kwargs)
    html = render_report(backtest)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(html, encoding="utf-8")
    return html


def _worst_window(backtest: Backtest, worst: WorstWindow) -> dict:
    """A model's worst backtest forecast beside the analogues it retrieved: a sentence, a chart, a table."""
    windows = backtest.forecasts
    forecast = windows[(windows["unique_id"] == worst.unique_id) & (windows["cutoff"] == worst.cutoff)]
    chart = analogue_figure(backtest.panel.frame, forecast, worst.model, worst.analogues, worst.futures,
                            worst.unique_id)
    chart.update_layout(title=f"{worst.unique_id}, forecast from {worst.cutoff}")
    rows = [(row.rank, f"{row.series} (library)" if row.library else row.series, f"{row.start}", f"{row.end}",
             f"{row.similarity:.3f}", f"{row.weight:.3f}") for row in worst.analogues.itertuples()]
    return {"model": worst.model, "chart": Markup(_chart_html(chart)), "rows": rows,
            "sentence": f"Its worst window: series {worst.unique_id}, forecast from {worst.cutoff} "
                        f"({LABELS[worst.metric]} {worst.score:.3f}). The past windows it retrieved for that forecast, "
                        f"all of which ended by then:"}


def _chart_html(figure: go.Figure) -> str:
    figure.update_layout(height=CHART_HEIGHT, margin={"t": 60, "b": 40})
    return figure.to_html(full_html=False, include_plotlyjs=False)


def _settings(settings: dict) -> list[tuple[str, str]]:
    labels = {
        "source": "data", "n_series": "series", "freq": "frequency", "season_length": "season length",
        "models": "models", "h": "horizon (steps)", "n_windows": "backtest windows",
        "step_size": "steps between windows", "level": "interval levels (%)", "refit": "refit at every window",
        "nonnegative": "forecasts kept at or above zero", "text": "text covariates",
    }
    return [(labels[key], _text(value)) for key, value in settings.items()]


def _data_table(panel: Panel) -> dict:
    table = series_summary(panel)
    shown = table.head(MAX_SERIES_ROWS)
    note = f"The first {len(shown)} of {len(table)} series." if len(shown) < len(table) else ""
    return {"columns": list(table.columns), "rows": [[_text(v) for v in row] for row in shown.itertuples(index=False)],
            "note": note}


def _ranking_table(ranking: pd.DataFrame) -> dict:
    """MASE first, each interval's coverage beside it with its nominal level (cells off by more than
    the tolerance flagged), then the other metrics."""
    metrics = [column for column in ranking.columns if column not in ("model", "mase_vs_reference", "beats_reference")]
    metrics = sorted(metrics, key=lambda metric: (metric != "mase", nominal_coverage(metric) is None))
    rows = []
    for position, record in enumerate(ranking.to_dict("records")):
        is_reference = record["model"] == REFERENCE
        beats = "reference" if is_reference else ("yes" if record["beats_reference"] else "no")
        cells = [{"text": str(record["model"]), "off": False}]
        for metric in metrics:
            nominal = nominal_coverage(metric)
            off = nominal is not None and coverage_off(record[metric], nominal)
            cells.append({"text": _number(record[metric]), "off": off})
        ratio = record["mase_vs_reference"]
        cells += [{"text": "–" if math.isnan(ratio) else f"{ratio:.2f}x", "off": False}, {"text": beats, "off": False}]
        rows.append({"cells": cells, "reference": is_reference, "best": position == 0})
    headers = [metric if nominal_coverage(metric) is None else f"{metric} (nominal {nominal_coverage(metric):.2f})"
               for metric in metrics]
    return {"columns": ["model", *headers, "MASE vs seasonal naive", "beats seasonal naive"], "rows": rows}


def _summary_table(summary: pd.DataFrame) -> dict:
    models = [str(model) for model in summary.columns]
    rows = [[str(metric), *[_number(v) for v in values]] for metric, values in summary.iterrows()]
    return {"models": models, "rows": rows}


def _per_series_table(backtest: Backtest) -> dict:
    """Mean MASE and sMAPE over the cutoffs, per series and model, worst first by the best model's MASE."""
    models = [str(model) for model in backtest.summary.columns]
    scores = backtest.per_series[backtest.per_series["metric"].isin(["mase", "smape"])]
    means = scores.groupby(["metric", "unique_id"], sort=False)[models].mean()
    mase, smape = means.loc["mase"], means.loc["smape"]
    best = str(backtest.ranking["model"].iloc[0])
    order = mase[best].sort_values(ascending=False, kind="stable", na_position="first").index
    shown = order[:MAX_SERIES_ROWS]
    note = f"Sorted by the MASE of {best} (the best model), worst first."
    if len(shown) < len(order):
        note += f" Showing the {len(shown)} worst of {len(order)} series."
    rows = [{"series": str(series_id), "mase": [_number(v) for v in mase.loc[series_id]],
             "smape": [_number(v) for v in smape.loc[series_id]]} for series_id in shown]
    return {"models": models, "rows": rows, "note": note}


def _number(value: float) -> str:
    if not math.isfinite(value):  # an undefined score, e.g. MASE where seasonal naive's in-sample error is 0
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)

"""Accuracy of forecast frames: point errors, M4's sMAPE/MASE/OWA, interval coverage, wQL.

Point metrics come from utilsforecast and the quantile loss from gluonts; what is ours is the
M4 conventions on top (sMAPE and MAPE in percent, OWA on aggregated scores relative to Naive2).
`forecasts` is a frame like `Forecaster.cross_validation` returns (`unique_id, ds, cutoff, y,
<model>...`); a `predict()` frame joined with actuals works too (each series' cutoff is then its
last training timestamp).
"""
from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pandas as pd
from utilsforecast import losses
from utilsforecast.evaluation import evaluate as utilsforecast_evaluate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # gluonts warns at import that orjson is not installed
    from gluonts.evaluation.metrics import quantile_loss

from forecasting.data.frequency import infer_freq
from forecasting.data.frequency import season_length as season_length_of
from forecasting.models.statistical.naive import Naive2

KEYS = ("unique_id", "ds", "cutoff", "y")
PERCENT = {"mape": 100.0, "smape": 200.0}  # utilsforecast gives fractions; M4's sMAPE is 200 * mean ratio
COVERAGE_TOLERANCE = 0.05  # interval coverage further than this from its nominal level is called off
COMPARED = ("mase", "smape", "rmse")  # what models are compared on, in order of preference
LABELS = {"mase": "MASE", "smape": "sMAPE", "rmse": "RMSE"}


def model_columns(forecasts: pd.DataFrame) -> list[str]:
    return [c for c in forecasts.columns if c not in KEYS and "-lo-" not in c and "-hi-" not in c]


def interval_levels(forecasts: pd.DataFrame, model: str) -> list[int]:
    return sorted(int(c.rsplit("-", 1)[1]) for c in forecasts.columns if c.startswith(f"{model}-lo-"))


def evaluate(forecasts: pd.DataFrame, train: pd.DataFrame, season_length: int | None = None) -> pd.DataFrame:
    """Per series and cutoff: one row per metric, one column per model.

    Metrics: mae, mse, rmse, mape (%), smape (%), mase (seasonal naive scale from the training
    data up to each cutoff), and coverage-<level> for every interval level present.
    """
    forecasts = with_cutoff(forecasts, train)
    models = model_columns(forecasts)
    m = season_length or _season_length(train)
    metrics = [losses.mae, losses.mse, losses.rmse, losses.mape, losses.smape, partial(losses.mase, seasonality=m)]
    table = utilsforecast_evaluate(forecasts, metrics=metrics, models=models, train_df=train[["unique_id", "ds", "y"]])
    for metric, factor in PERCENT.items():
        table.loc[table["metric"] == metric, models] *= factor
    coverage = []
    for level in sorted({level for model in models for level in interval_levels(forecasts, model)}):
        with_level = [model for model in models if level in interval_levels(forecasts, model)]
        coverage.append(losses.coverage(forecasts, with_level, level).assign(metric=f"coverage-{level}"))
    return pd.concat([table, *coverage], ignore_index=True)


def summarize(forecasts: pd.DataFrame, train: pd.DataFrame, season_length: int | None = None,
              reference: str = "naive2") -> pd.DataFrame:
    """One row per metric, one column per model, over all series and cutoffs.

    Point metrics and coverage are means over series (M4's convention). `owa` is M4's overall
    weighted average: half the ratio of the aggregated sMAPE to Naive2's plus half that of MASE;
    Naive2 is computed here when it is not one of the models. `wql` is the weighted quantile loss
    over the interval bounds and the point forecast (as the median), summed over all rows.
    """
    forecasts = with_cutoff(forecasts, train)
    m = season_length or _season_length(train)
    models = model_columns(forecasts)
    if reference not in models:
        forecasts = forecasts.assign(**{reference: naive2_forecasts(forecasts, train, m)})
    per_series = evaluate(forecasts, train, m)
    summary = per_series.drop(columns=["unique_id", "cutoff"]).groupby("metric", sort=False).mean()
    summary.loc["owa"] = 0.5 * (summary.loc["smape"] / summary.loc["smape", reference]
                                + summary.loc["mase"] / summary.loc["mase", reference])
    summary.loc["wql"] = [weighted_quantile_loss(forecasts, model) for model in summary.columns]
    return summary[models]


def comparison_metric(scores: pd.DataFrame) -> str:
    """The metric of COMPARED to compare models on, given one row per model and a column per metric (a backtest
    ranking): MASE, unless it is undefined (NaN or infinite) for some model, then the first of sMAPE and RMSE
    defined for every model. MASE divides by seasonal naive's in-sample error, which is 0 on a series that
    repeats exactly every season."""
    for metric in COMPARED:
        if np.isfinite(scores[metric].to_numpy(dtype=float)).all():
            return metric
    return COMPARED[0]


def nominal_coverage(metric: str) -> float | None:
    """The share of actuals a `coverage-<level>` metric should reach (0.8 for coverage-80); None for other metrics."""
    return int(metric.rsplit("-", 1)[1]) / 100 if metric.startswith("coverage-") else None


def coverage_off(coverage: float, nominal: float, tolerance: float = COVERAGE_TOLERANCE) -> bool:
    """Whether coverage is more than `tolerance` from nominal (the bound itself is in; NaN is never off)."""
    return abs(coverage - nominal) > tolerance + 1e-9


def coverage_gaps(summary: pd.DataFrame, tolerance: float = COVERAGE_TOLERANCE) -> list[str]:
    """One line per model and level whose coverage in `summarize`'s output is more than `tolerance`
    from its nominal level, e.g. "dlinear: coverage-80 0.52 (nominal 0.80), too narrow"."""
    gaps = []
    for model in summary.columns:
        for metric in summary.index:
            nominal, coverage = nominal_coverage(str(metric)), summary.loc[metric, model]
            if nominal is not None and coverage_off(coverage, nominal, tolerance):
                side = "too narrow" if coverage < nominal else "too wide"
                gaps.append(f"{model}: {metric} {coverage:.2f} (nominal {nominal:.2f}), {side}")
    return gaps


def weighted_quantile_loss(forecasts: pd.DataFrame, model: str) -> float:
    """Mean over quantiles of 2 * sum(pinball loss) / sum(|y|); NaN for a model without intervals."""
    levels = interval_levels(forecasts, model)
    if not levels:
        return float("nan")
    y = forecasts["y"].to_numpy(dtype=float)
    columns = {0.5: model}
    for level in levels:
        columns[0.5 - level / 200] = f"{model}-lo-{level}"
        columns[0.5 + level / 200] = f"{model}-hi-{level}"
    scale = np.sum(np.abs(y))
    return float(np.mean([quantile_loss(y, forecasts[c].to_numpy(dtype=float), q) / scale
                          for q, c in columns.items()]))


def naive2_forecasts(forecasts: pd.DataFrame, train: pd.DataFrame, season_length: int) -> np.ndarray:
    """M4's Naive2 for every (series, cutoff) window of `forecasts`, aligned with its rows."""
    out = np.empty(len(forecasts))
    histories = {key: group for key, group in train.groupby("unique_id", sort=False)}
    for (series_id, cutoff), rows in forecasts.groupby(["unique_id", "cutoff"], sort=False):
        history = histories[series_id]
        y = history.loc[history["ds"] <= cutoff, "y"].to_numpy(dtype=float)
        out[forecasts.index.get_indexer(rows.index)] = Naive2().point_forecast(y, season_length, len(rows))
    return out


def with_cutoff(forecasts: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Forecasts with a `cutoff` column (the series' last training timestamp when absent) and a
    fresh index; raises ValueError when actuals are missing."""
    if "y" not in forecasts.columns:
        raise ValueError("forecasts need a 'y' column with the actual values to be evaluated")
    if forecasts["y"].isna().any():
        raise ValueError(f"{int(forecasts['y'].isna().sum())} forecast rows have no actual value in 'y'")
    if "cutoff" in forecasts.columns:
        return forecasts.reset_index(drop=True)
    last = train.groupby("unique_id")["ds"].max().rename("cutoff")
    return forecasts.join(last, on="unique_id").reset_index(drop=True)


def _season_length(train: pd.DataFrame) -> int:
    first_series = train[train["unique_id"] == train["unique_id"].iloc[0]]
    freq = infer_freq(first_series["ds"])
    return season_length_of(freq) if freq else 1


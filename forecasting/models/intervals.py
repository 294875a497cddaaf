"""Conformal prediction intervals: for models that have no model-based ones, and to calibrate
quantile heads.

Point forecasts: scores are absolute h-step errors (of a local model refit at the last `n_windows`
origins of the training series, one origin per step; of a network on windows it was neither trained
nor early-stopped on), and the interval half-width at step k is the finite-sample conformal
quantile of the step-k scores. Quantile heads: conformalised quantile regression (Romano, Patterson
& Candès 2019) moves both ends of the predicted interval out (or in) by the conformal quantile of
how far the actuals fell outside it. With fewer windows than a level needs (`windows_needed`), the
largest score is used, the widest interval the data can support, and the Forecaster says so
(`ShortCalibration`). A local model's origin whose history is too short
for the season is forecast without one, as the Forecaster fits such a series (see season_fallback).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from forecasting.models.base import FitState, Model, SeriesForecast
from forecasting.models.season_fallback import usable_season

N_WINDOWS = 50


def conformal_scores(model: Model, y: np.ndarray, season_length: int, h: int, n_windows: int = N_WINDOWS,
                     state: FitState | None = None, extras: dict | None = None) -> np.ndarray:
    """Absolute errors [n_origins, h] of `model` at the last origins of `y`: refit at each, or, given the fit on
    all of y (`state`), restored from it on each origin's history (for a model whose refits are too slow).
    extras: what the model's fit and restore take beside the series (its seasons, ...)."""
    extras = extras or {}
    last_origin = len(y) - h
    origins = range(max(2, last_origin - n_windows + 1), last_origin + 1)
    scores = []
    for origin in origins:
        history = y[:origin]
        season = usable_season(model, origin, season_length)
        fitted = state if state is not None else model.fit(history, season, **extras)
        mean = model.restore(history, season, fitted, **extras).forecast(h, []).mean
        scores.append(np.abs(y[origin:origin + h] - mean))
    if not scores:
        raise ValueError(f"conformal intervals need at least h + 2 = {h + 2} observations, got {len(y)}")
    return np.stack(scores)


def windows_needed(level: int) -> int:
    """Fewest scores whose conformal quantile at `level`% is not just the largest score: the rank
    ceil((n + 1) * level / 100) is at most n from n = level / (100 - level) up (80%: 4, 95%: 19)."""
    return math.ceil(level / (100 - level) - 1e-9)


@dataclass(frozen=True)
class ShortCalibration:
    """A global model's `level`% interval was calibrated on fewer windows than the level needs."""

    model: str
    level: int
    windows: int   # calibration windows, pooled over the series (in a backtest, the first window's fit)
    needed: int    # windows_needed(level)


def describe_short_calibrations(shortfalls: list[ShortCalibration]) -> list[str]:
    """One sentence per model and level, e.g. "dlinear's 95% band was calibrated on 7 windows, fewer than
    the 19 that level needs: ..."."""
    return [f"{short.model}'s {short.level}% band was calibrated on {short.windows} "
            f"window{'s' if short.windows != 1 else ''}, fewer than the {short.needed} that level needs: it is as "
            f"wide as the largest error seen and may cover less than {short.level}%. Give longer series, or a "
            f"lower level." for short in shortfalls]


def conformal_quantile(scores: np.ndarray, level: int) -> np.ndarray:
    """Per column of scores [n, h]: the ceil((n + 1) * level / 100)-th smallest (the largest when n is too small)."""
    n = len(scores)
    rank = min(n, math.ceil((n + 1) * level / 100))
    return np.sort(scores, axis=0)[rank - 1]


def add_conformal_bounds(forecast: SeriesForecast, scores: np.ndarray, levels: list[int]) -> SeriesForecast:
    h = len(forecast.mean)
    for level in levels:
        half_width = conformal_quantile(scores[:, :h], level)
        forecast.lower[level] = forecast.mean - half_width
        forecast.upper[level] = forecast.mean + half_width
    return forecast


def quantile_interval_scores(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """CQR's conformity scores: how far each actual lies outside [lower, upper] (negative inside)."""
    return np.maximum(lower - actual, actual - upper)

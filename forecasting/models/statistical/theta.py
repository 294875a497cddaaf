"""The Theta method (statsmodels ThetaModel), the M3 winner and an M4 benchmark.

Seasonality is tested (M4's 90% test) and removed by classical decomposition before fitting.
Its two-step estimate is closed-form, so restoring a fit re-estimates it on the given history.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from statsmodels.tsa.forecasting.theta import ThetaModel

from forecasting.models.base import FitState, Fitted, Model, SeriesForecast, alpha_of


@dataclass
class Theta(Model):
    """Standard Theta (theta = 2 line blended with SES) on the seasonally adjusted series."""

    name = "theta"

    def observations_for_season(self, season_length: int) -> int:
        return 2 * season_length  # classical decomposition needs two full cycles

    def fit(self, y: np.ndarray, season_length: int) -> FitState:
        return FitState(spec={})

    def restore(self, y: np.ndarray, season_length: int, state: FitState) -> Fitted:
        seasonal = season_length > 1 and len(y) >= self.observations_for_season(season_length)
        model = ThetaModel(y, period=season_length if seasonal else 1, deseasonalize=seasonal)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _ThetaFit(model.fit())


class _ThetaFit(Fitted):
    def __init__(self, result):
        self.result = result

    def forecast(self, h: int, levels: list[int]) -> SeriesForecast:
        forecast = SeriesForecast(mean=np.asarray(self.result.forecast(h), dtype=float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the interval variance comes from a fitted ARIMA(0,1,1)
            for level in levels:
                bounds = np.asarray(self.result.prediction_intervals(h, alpha=alpha_of(level)))
                forecast.lower[level], forecast.upper[level] = bounds[:, 0], bounds[:, 1]
        return forecast

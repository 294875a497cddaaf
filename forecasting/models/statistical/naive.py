"""Benchmarks with closed-form forecasts: naive, seasonal naive, drift and M4's Naive2.

They have no parameters to estimate, so a fit is empty (seasonal naive's holds the season it chose) and restoring
is recomputing.
Intervals are conformal (see forecasting/intervals.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from forecasting.models.base import FitSpec, FitState, Fitted, Model, SeriesForecast
from forecasting.models.statistical.seasonality import (SEASONS_TESTED, deseasonalize, reseasonalize, seasonal_indices,
                                                        strongest_season)


@dataclass
class _ClosedForm(Model):
    model_intervals = False

    def fit(self, y: np.ndarray, season_length: int) -> FitState:
        return FitState(spec={})

    def restore(self, y: np.ndarray, season_length: int, state: FitState) -> Fitted:
        return _ClosedFormFit(self, y, season_length)

    def point_forecast(self, y: np.ndarray, season_length: int, h: int) -> np.ndarray:
        raise NotImplementedError


class _ClosedFormFit(Fitted):
    def __init__(self, model: _ClosedForm, y: np.ndarray, season_length: int):
        self.model, self.y, self.season_length = model, y, season_length

    def forecast(self, h: int, levels: list[int]) -> SeriesForecast:
        return SeriesForecast(mean=self.model.point_forecast(self.y, self.season_length, h))


@dataclass
class Naive(_ClosedForm):
    """The last value, repeated."""

    name = "naive"

    def point_forecast(self, y, season_length, h):
        return np.full(h, y[-1])


class SeasonalNaiveFit(FitSpec):
    season: int | None = Field(default=None, ge=1)   # the season chosen at fit (none in older model files)


@dataclass
class SeasonalNaive(_ClosedForm):
    """The value one season earlier. Without a season_length of yours, the season is the frequency's that the
    series' own seasonal naive would have forecast best (hourly: a day or a week; daily: a week or a year), chosen
    when fitted; a season_length you set is kept."""

    name = "seasonal_naive"
    takes_seasons = True
    fit_spec = SeasonalNaiveFit

    def fit(self, y: np.ndarray, season_length: int, seasons: tuple[int, ...] = ()) -> FitState:
        return FitState(spec={"season": strongest_season(y, season_length, seasons)})

    def restore(self, y: np.ndarray, season_length: int, state: FitState, seasons: tuple[int, ...] = ()) -> Fitted:
        return _ClosedFormFit(self, y, state.spec.get("season") or season_length)

    def observations_for_season(self, season_length: int) -> int:
        return season_length

    def point_forecast(self, y, season_length, h):
        m = season_length
        if len(y) < m:  # never a shorter season: that would repeat a partial cycle as if it were one
            raise ValueError(f"seasonal naive needs one full season ({m} values), got {len(y)}")
        return y[-m:][np.arange(h) % m]


@dataclass
class Drift(_ClosedForm):
    """The line through the first and last observations, extended."""

    name = "drift"

    def point_forecast(self, y, season_length, h):
        slope = (y[-1] - y[0]) / (len(y) - 1) if len(y) > 1 else 0.0
        return y[-1] + slope * np.arange(1, h + 1)


@dataclass
class Naive2(_ClosedForm):
    """Naive on the seasonally adjusted series (M4's reference for OWA)."""

    name = "naive2"

    def observations_for_season(self, season_length: int) -> int:
        return SEASONS_TESTED * season_length

    def point_forecast(self, y, season_length, h):
        seasonal = seasonal_indices(y, season_length)
        if seasonal is None:
            return np.full(h, y[-1])
        indices, multiplicative = seasonal
        adjusted = deseasonalize(y, indices, multiplicative)
        return reseasonalize(np.full(h, adjusted[-1]), len(y), indices, multiplicative)

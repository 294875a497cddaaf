"""MSTL: every season a series has taken out at once, the rest forecast by ETS, ARIMA or Theta.

Hourly data has a day and a week, daily data a week and a year; ETS, ARIMA and Theta each model one season (and
ETS none longer than 24 steps). Here statsmodels' MSTL removes each of the frequency's seasons that the series is
long enough for (two full cycles) by LOESS, the seasonally adjusted rest is forecast by the `trend` model without a
season, and each seasonal component goes on by repeating its last cycle (as statsforecast's MSTL does).

Its intervals are conformal: the trend model's own, shifted by the seasons, leave out the seasons' uncertainty and
cover far less than their level (tests/test_mstl.py). The errors at the series' last 20 origins, each
decomposed afresh from its own history and forecast with the fit's parameters (refitting at each would take 20
model searches), give the half-widths (windows_needed: 20 suffice for 95%).

A restored fit decomposes the history it is given again (cheap, and the seasons move with the data) and filters
the adjusted series with the trend model's fitted parameters.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import Field
from statsmodels.tsa.seasonal import MSTL as StatsmodelsMSTL

from forecasting.models.base import FitSpec, FitState, Fitted, Model, SeriesForecast, read_saved
from forecasting.models.statistical.arima import ARIMA
from forecasting.models.statistical.ets import ETS
from forecasting.models.statistical.theta import Theta

TRENDS = {"ets": ETS, "arima": ARIMA, "theta": Theta}
CYCLES_NEEDED = 2          # full cycles of a season the series needs for MSTL to take it out
PREFIX = "trend."          # the trend model's arrays, within the fit's


class MSTLFit(FitSpec):
    periods: list[Annotated[int, Field(ge=2)]]   # the seasons taken out (none: the series was too short)
    trend: Literal[tuple(TRENDS)]
    trend_fit: dict                              # the trend model's own spec

    def arrays(self) -> set[str]:
        return {PREFIX + name for name in read_saved(TRENDS[self.trend].fit_spec, self.trend_fit).arrays()}


@dataclass
class MSTL(Model):
    """MSTL: every season (a day and a week for hourly data) taken out, the rest forecast by ETS, ARIMA or Theta.

    trend: the model of the seasonally adjusted series ("ets", "arima" or "theta").
    """

    name = "mstl"
    fit_spec = MSTLFit
    model_intervals = False
    calibration_windows = 20
    calibration_refits = False
    takes_seasons = True
    trend: Literal["ets", "arima", "theta"] = "ets"

    def observations_for_season(self, season_length: int) -> int:
        return CYCLES_NEEDED * season_length

    def fit(self, y: np.ndarray, season_length: int, seasons: tuple[int, ...] = ()) -> FitState:
        periods = _periods(len(y), season_length, seasons)
        inner = TRENDS[self.trend]()
        state = inner.fit(_adjusted(y, periods)[0], 1)
        return FitState(spec={"periods": periods, "trend": self.trend, "trend_fit": state.spec},
                        arrays={PREFIX + name: value for name, value in state.arrays.items()})

    def restore(self, y: np.ndarray, season_length: int, state: FitState, seasons: tuple[int, ...] = ()) -> Fitted:
        periods = [period for period in state.spec["periods"] if len(y) >= CYCLES_NEEDED * period]
        adjusted, components = _adjusted(y, periods)
        inner = TRENDS[state.spec["trend"]]()
        trend_state = FitState(spec=state.spec["trend_fit"],
                               arrays={name.removeprefix(PREFIX): value for name, value in state.arrays.items()
                                       if name.startswith(PREFIX)})
        return _MSTLFit(inner.restore(adjusted, 1, trend_state), components, periods)


def _periods(n: int, season_length: int, seasons: tuple[int, ...]) -> list[int]:
    """The seasons to take out: those given (the frequency's) that the series has two cycles of, else its own."""
    wanted = sorted(set(seasons) or ({season_length} if season_length > 1 else set()))
    return [period for period in wanted if period > 1 and n >= CYCLES_NEEDED * period]


def _adjusted(y: np.ndarray, periods: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The series less its seasons [T], and the seasonal components [T, K] (K = 0 without seasons)."""
    if not periods:
        return y, np.zeros((len(y), 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seasonal = np.asarray(StatsmodelsMSTL(y, periods=periods).fit().seasonal, dtype=float).reshape(len(y), -1)
    return y - seasonal.sum(axis=1), seasonal


class _MSTLFit(Fitted):
    def __init__(self, trend: Fitted, components: np.ndarray, periods: list[int]):
        self.trend, self.components, self.periods = trend, components, periods

    def forecast(self, h: int, levels: list[int]) -> SeriesForecast:
        forecast = self.trend.forecast(h, levels)
        # each season goes on as its last cycle
        season = sum((component[-period:][np.arange(h) % period]
                      for component, period in zip(self.components.T, self.periods)), np.zeros(h))
        return SeriesForecast(mean=forecast.mean + season,
                              lower={level: bound + season for level, bound in forecast.lower.items()},
                              upper={level: bound + season for level, bound in forecast.upper.items()})

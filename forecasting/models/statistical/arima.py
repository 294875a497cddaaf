"""ARIMA with a small automatic order search, on the seasonally adjusted series.

Seasonality is removed by classical decomposition when M4's seasonality test passes (as the M4
statistical benchmarks do), which keeps long periods (24, 168, 96) tractable where a seasonal
ARIMA state would not be. The differencing order comes from repeated KPSS tests; p and q from an
AICc search over 0..max_order, with a constant (d = 0) or drift (d = 1) as a candidate.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import product
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, NonNegativeInt
from statsmodels.tsa.arima.model import ARIMA as StatsmodelsARIMA
from statsmodels.tsa.stattools import kpss

from forecasting.models.base import FitSpec, FitState, Fitted, Model, SeriesForecast, alpha_of
from forecasting.models.statistical.seasonality import SEASONS_TESTED, deseasonalize, reseasonalize, seasonal_indices

MAX_DIFFERENCES = 2


class ARIMAFit(FitSpec):
    order: tuple[NonNegativeInt, Annotated[int, Field(ge=0, le=MAX_DIFFERENCES)], NonNegativeInt]   # p, d, q
    trend: Literal["c", "n", "t"]
    multiplicative: bool | None        # how the season was removed; None: the series was not seasonal

    def arrays(self) -> set[str]:
        return {"params"} | ({"season"} if self.multiplicative is not None else set())


@dataclass
class ARIMA(Model):
    """Auto ARIMA(p, d, q) with p, q <= max_order on the seasonally adjusted series."""

    name = "arima"
    fit_spec = ARIMAFit
    max_order: NonNegativeInt = 2

    def observations_for_season(self, season_length: int) -> int:
        return SEASONS_TESTED * season_length

    def fit(self, y: np.ndarray, season_length: int) -> FitState:
        seasonal = seasonal_indices(y, season_length)
        adjusted = y if seasonal is None else deseasonalize(y, *seasonal)
        d = _differences(adjusted)
        trends = {0: ["c"], 1: ["n", "t"]}.get(d, ["n"])
        best = None
        for p, q, trend in product(range(self.max_order + 1), range(self.max_order + 1), trends):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # innovations MLE is several times faster than the state-space optimiser here;
                    # its parameters are the same vector, so `restore` filters with them as usual.
                    result = StatsmodelsARIMA(adjusted, order=(p, d, q), trend=trend).fit(method="innovations_mle")
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(result.aicc) and (best is None or result.aicc < best[1].aicc):
                best = ((p, d, q, trend), result)
        if best is None:
            raise ValueError("no ARIMA order could be fitted")
        (p, d, q, trend), result = best
        arrays = {"params": np.asarray(result.params, dtype=float)}
        spec = {"order": [p, d, q], "trend": trend, "multiplicative": None}
        if seasonal is not None:
            arrays["season"], spec["multiplicative"] = seasonal
        return FitState(spec=spec, arrays=arrays)

    def restore(self, y: np.ndarray, season_length: int, state: FitState) -> Fitted:
        season = state.arrays.get("season")
        multiplicative = state.spec["multiplicative"]
        adjusted = y if season is None else deseasonalize(y, season, multiplicative)
        model = StatsmodelsARIMA(adjusted, order=tuple(state.spec["order"]), trend=state.spec["trend"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.filter(state.arrays["params"])
        return _ARIMAFit(result, len(y), season, multiplicative)


def _differences(y: np.ndarray) -> int:
    """How many first differences make the series level-stationary by KPSS at 5%."""
    for d in range(MAX_DIFFERENCES + 1):
        x = np.diff(y, n=d)
        if len(x) < 10 or np.ptp(x) == 0:
            return d
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # KPSS warns when the statistic is off its p-value table
            p_value = kpss(x, regression="c", nlags="auto")[1]
        if p_value > 0.05:
            return d
    return MAX_DIFFERENCES


class _ARIMAFit(Fitted):
    def __init__(self, result, n: int, season: np.ndarray | None, multiplicative: bool | None):
        self.result, self.n, self.season, self.multiplicative = result, n, season, multiplicative

    def forecast(self, h: int, levels: list[int]) -> SeriesForecast:
        prediction = self.result.get_forecast(h)
        forecast = SeriesForecast(mean=self._reseasonalize(np.asarray(prediction.predicted_mean)))
        for level in levels:
            bounds = np.asarray(prediction.conf_int(alpha=alpha_of(level)))
            forecast.lower[level] = self._reseasonalize(bounds[:, 0])
            forecast.upper[level] = self._reseasonalize(bounds[:, 1])
        return forecast

    def _reseasonalize(self, values: np.ndarray) -> np.ndarray:
        if self.season is None:
            return values
        return reseasonalize(values, self.n, self.season, self.multiplicative)

"""ARIMA with a small automatic order search, on the seasonally adjusted series.

Seasonality is removed by classical decomposition when M4's seasonality test passes (as the M4
statistical benchmarks do), which keeps long periods (24, 168, 96) tractable where a seasonal
ARIMA state would not be. The differencing order comes from repeated KPSS tests; p and q from an
AICc search over 0..max_order, with a constant (d = 0) or drift (d = 1) as a candidate.

With text covariates known in advance, the components of their embeddings are regressors (regression with
ARIMA errors, by feasible GLS): the fit keeps which regressors varied in the series, and their p-values.
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
    regressors: list[NonNegativeInt] = []      # the text regressors used (columns of `regressors`), ...
    regressor_pvalues: list[Annotated[float, Field(ge=0, le=1)]] = []   # ... and their p-values

    def arrays(self) -> set[str]:
        return {"params"} | ({"season"} if self.multiplicative is not None else set())


@dataclass
class ARIMA(Model):
    """Auto ARIMA(p, d, q) with p, q <= max_order on the seasonally adjusted series.

    text_components: principal components per known-in-advance text column taken as regressors, besides
        whether a step has text (0: ignore text).
    """

    name = "arima"
    fit_spec = ARIMAFit
    takes_text = True
    max_order: NonNegativeInt = 2
    text_components: NonNegativeInt = 3

    def observations_for_season(self, season_length: int) -> int:
        return SEASONS_TESTED * season_length

    def fit(self, y: np.ndarray, season_length: int, regressors: np.ndarray | None = None) -> FitState:
        seasonal = seasonal_indices(y, season_length)
        adjusted = y if seasonal is None else deseasonalize(y, *seasonal)
        # a regressor that never varies in this series' rows says nothing about it
        used = [] if regressors is None or not self.text_components else \
            [k for k in range(regressors.shape[1]) if np.ptp(regressors[:len(y), k]) > 0]
        exog = regressors[:len(y), used] if used else None
        d = _differences(adjusted)
        trends = {0: ["c"], 1: ["n", "t"]}.get(d, ["n"])
        best = None
        for p, q, trend in product(range(self.max_order + 1), range(self.max_order + 1), trends):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # innovations MLE is several times faster than the state-space optimiser here;
                    # its parameters are the same vector, so `restore` filters with them as usual.
                    result = StatsmodelsARIMA(adjusted, exog=exog, order=(p, d, q), trend=trend).fit(
                        method="innovations_mle")
            except (ValueError, np.linalg.LinAlgError):
                continue
            if np.isfinite(result.aicc) and (best is None or result.aicc < best[1].aicc):
                best = ((p, d, q, trend), result)
        if best is None:
            raise ValueError("no ARIMA order could be fitted")
        (p, d, q, trend), result = best
        arrays = {"params": np.asarray(result.params, dtype=float)}
        spec = {"order": [p, d, q], "trend": trend, "multiplicative": None, "regressors": used,
                "regressor_pvalues": [float(np.nan_to_num(value, nan=1.0)) for value in
                                      np.asarray(result.pvalues)[_exog_params(result, len(used))]]}
        if seasonal is not None:
            arrays["season"], spec["multiplicative"] = seasonal
        return FitState(spec=spec, arrays=arrays)

    def restore(self, y: np.ndarray, season_length: int, state: FitState,
                regressors: np.ndarray | None = None) -> Fitted:
        season = state.arrays.get("season")
        multiplicative = state.spec["multiplicative"]
        adjusted = y if season is None else deseasonalize(y, season, multiplicative)
        used = state.spec.get("regressors", [])
        if used and (regressors is None or regressors.shape[1] <= max(used)):
            raise ValueError("this ARIMA was fitted with text regressors: forecast it with the same text columns")
        exog = regressors[:, used] if used else None
        model = StatsmodelsARIMA(adjusted, exog=None if exog is None else exog[:len(y)],
                                 order=tuple(state.spec["order"]), trend=state.spec["trend"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.filter(state.arrays["params"])
        return _ARIMAFit(result, len(y), season, multiplicative, None if exog is None else exog[len(y):])


def text_effects(state: FitState) -> list[tuple[int, float, float]]:
    """The fit's text regressors: (column of the regressors, coefficient in the series' units, p-value)."""
    used = state.spec.get("regressors", [])
    first = 0 if state.spec["trend"] == "n" else 1           # statsmodels puts the trend's parameter first
    params, scale = state.arrays["params"], state.spec["scale"]
    return [(k, float(params[first + i] * scale), p_value)
            for i, (k, p_value) in enumerate(zip(used, state.spec["regressor_pvalues"]))]


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


def _exog_params(result, k: int) -> list[int]:
    """Where the k regressors' coefficients are in the fit's parameters (after the trend's)."""
    names = list(result.model.param_names)
    return [names.index(name) for name in result.model.exog_names[-k:]] if k else []


class _ARIMAFit(Fitted):
    def __init__(self, result, n: int, season: np.ndarray | None, multiplicative: bool | None,
                 future_exog: np.ndarray | None):
        self.result, self.n, self.season, self.multiplicative = result, n, season, multiplicative
        self.future_exog = future_exog          # [h, K] the regressors over the horizon

    def forecast(self, h: int, levels: list[int]) -> SeriesForecast:
        if self.future_exog is not None and len(self.future_exog) < h:
            raise ValueError(f"the text regressors cover {len(self.future_exog)} steps of the horizon, not {h}")
        prediction = self.result.get_forecast(h, exog=None if self.future_exog is None else self.future_exog[:h])
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

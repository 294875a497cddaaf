"""The analog model: the futures of the most similar past windows, weighted by similarity; nothing is trained.

Fitting indexes every window of `lookback + h` steps of the history (and of a library of other
series, if given; see `forecasting.retrieval`). A forecast takes the series' last `lookback` steps,
finds its k most similar windows, puts each one's future into the series' scale (the window's level
and deviation swapped for the query's) and averages them with softmax weights over similarity. Its
interval ends are weighted quantiles of the same futures, calibrated like a network's quantile head
(conformalised quantile regression) on the forecasts it would have made from each series' latest
cutoffs: each of those sees only windows that ended before its cutoff, so nothing it is scored on was
available to it. Unless given, k and the temperature are chosen on the same forecasts: the pair whose
errors, in units of each window's deviation, have the least mean square. How many analogues to average
depends on the data (M4 Hourly's validation chose 5, ETTh1's 200 or more), so no one default serves.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, PositiveFloat, PositiveInt

from forecasting.models.base import SAVED, FitState, GlobalModel, History, PanelFit, SeriesForecast, read_saved
from forecasting.models.intervals import conformal_quantile, quantile_interval_scores, windows_needed
from forecasting.retrieval.index import WindowIndex
from forecasting.retrieval.keys import window_scale
from forecasting.retrieval.library import check_library, library_series, own_series
from forecasting.retrieval.retriever import NextAnalogues, Retriever, last_windows
from forecasting.retrieval.weights import softmax_weights, weighted_quantiles

MIN_LOOKBACK = 4
CALIBRATION_SHARE = 0.1        # each series' latest rows whose forecasts calibrate the intervals ...
MAX_CALIBRATION_WINDOWS = 2000  # ... at most this many, spread evenly over them
K_CANDIDATES = (1, 2, 5, 10, 20, 50, 100, 200, 500)
TEMPERATURE_CANDIDATES = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
RETRIEVED_BYTES = 2 ** 28      # queries are retrieved in chunks whose analogues (k x (lookback + h)) fit in this


@dataclass
class Analog(GlobalModel):
    """Similarity-weighted futures of the most similar past windows (nothing trained).

    lookback: steps compared (None: max(2h, 32), shortened to fit short series).
    k: analogues per forecast. temperature: the softmax's, over similarity (mean Pearson correlation).
        None: chosen on the forecasts from each series' latest cutoffs, among K_CANDIDATES and
        TEMPERATURE_CANDIDATES (`FittedAnalog.choice` keeps every candidate's error).
    method: "exact" search, "hnsw" (approximate), or "auto" (exact below 30,000 windows).
    dtw: re-rank the most similar windows by their dynamic-time-warping distance (see `forecasting.retrieval`).
    library: other series to retrieve from besides the user's own: a file path, a Panel or a long frame.
        It is data, not a setting: a model file keeps its windows in the index, never the library itself.
    """

    name: ClassVar[str] = "analog"
    unsaved: ClassVar[frozenset[str]] = frozenset({"library"})
    lookback: Annotated[int, Field(ge=MIN_LOOKBACK)] | None = None
    k: PositiveInt | None = None
    temperature: PositiveFloat | None = None
    method: Literal["auto", "exact", "hnsw"] = "auto"
    dtw: bool = False
    library: Any = None

    def __post_init__(self) -> None:
        check_library(self.library)

    def min_length(self, h: int) -> int:
        # one window to retrieve, then a forecast from after it to calibrate on
        return (self.lookback or MIN_LOOKBACK) + 2 * h

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int],
                  progress=None) -> FittedAnalog:
        shortest = min(len(y) for y in history.values)      # min_length keeps it >= lookback + 2h
        lookback = self.lookback or max(MIN_LOOKBACK, min(max(2 * h, 32), shortest - 2 * h))
        own = own_series(history.ids, history.values, history.last_ds, freq)
        index = WindowIndex.build(own, lookback, h, library_series(self.library), self.method)
        latest = _latest_windows(history, freq, h, lookback, levels)
        choice = _choose_settings(index, latest, self.k, self.temperature, self.dtw)
        k, temperature = min(choice, key=choice.get)
        fit = FittedAnalog(retriever=Retriever(index, k, self.dtw), temperature=temperature,
                           calibration_levels=levels, calibration_scores=None, choice=choice)
        if levels:
            fit.calibration_scores = _calibration_scores(fit, latest, levels)
        return fit

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: FittedAnalog) -> list[SeriesForecast]:
        queries, cutoffs = fit.queries(history)
        paths = fit.predict(queries, cutoffs, levels)
        margin = {level: conformal_quantile(fit.calibration(level), level) for level in levels}   # [h] each
        _, deviation = window_scale(queries)
        forecasts = []
        for s in range(len(history.ids)):
            forecast = SeriesForecast(mean=paths["mean"][s])
            for level in levels:
                widening = margin[level] * deviation[s]
                forecast.lower[level] = np.minimum(paths[("lower", level)][s] - widening, forecast.mean)
                forecast.upper[level] = np.maximum(paths[("upper", level)][s] + widening, forecast.mean)
            forecasts.append(forecast)
        return forecasts

    def restore_panel(self, state: FitState, series: list[str], h: int, levels: list[int]) -> FittedAnalog:
        return FittedAnalog.from_state(state, h, levels, self)


class SavedAnalog(BaseModel):
    """A FittedAnalog's spec in a model file."""

    model_config = SAVED
    lookback: PositiveInt
    names: list[str]                      # the indexed series, library ones first
    calibration_levels: list[int]
    k: PositiveInt                        # as given, or as chosen at fit
    temperature: PositiveFloat


@dataclass
class FittedAnalog(PanelFit):
    """The index of windows, and what calibrates the intervals."""

    retriever: Retriever
    temperature: float
    calibration_levels: list[int]
    calibration_scores: np.ndarray | None    # [L, N, h] CQR scores in units of each query's deviation
    choice: dict[tuple[int, float], float] | None = None   # (k, temperature) -> its error at fit; None once loaded

    def calibration(self, level: int) -> np.ndarray:
        if level not in self.calibration_levels:
            raise ValueError(f"the analog model's intervals were calibrated for levels {self.calibration_levels}, "
                             f"not {level}: fit it with level={sorted({*self.calibration_levels, level})}")
        return self.calibration_scores[self.calibration_levels.index(level)]

    @property
    def retrieves(self) -> bool:
        return True

    def calibration_windows(self) -> int | None:
        return None if self.calibration_scores is None else self.calibration_scores.shape[1]

    def queries(self, history: History) -> tuple[np.ndarray, np.ndarray]:
        """Each series' last `lookback` steps [S, L] and its last time (int64 ns) [S]."""
        lookback = self.retriever.index.lookback
        short = [i for i, y in zip(history.ids, history.values) if len(y) < lookback]
        if short:
            raise ValueError(f"analog: series {short[:5]} are shorter than its lookback of {lookback} steps")
        return last_windows(history.values, history.last_ds, lookback)

    def predict(self, queries: np.ndarray, cutoffs: np.ndarray, levels: list[int]) -> dict:
        """Forecast paths [Q, h] in the queries' units: "mean", and ("lower" | "upper", level) for each level."""
        ends = [q for level in levels for q in (0.5 - level / 200, 0.5 + level / 200)]
        parts = []
        for chunk in query_chunks(len(queries), self.retriever):
            retrieved = self.retriever.retrieve(queries[chunk], cutoffs[chunk])
            weights = softmax_weights(retrieved.found.similarity, self.temperature)          # [Q, k]
            futures = np.nan_to_num(retrieved.futures)                            # [Q, k, h]; weight 0 if none
            mean = np.einsum("qk,qkh->qh", weights, futures)
            parts.append((mean, *(weighted_quantiles(futures, weights, ends) if ends else [])))
        paths = {"mean": np.concatenate([part[0] for part in parts])}
        for i, level in enumerate(levels):
            paths[("lower", level)] = np.concatenate([part[1 + 2 * i] for part in parts])
            paths[("upper", level)] = np.concatenate([part[2 + 2 * i] for part in parts])
        return paths

    def next_analogues(self, history: History) -> NextAnalogues:
        retrieved = self.retriever.retrieve(*self.queries(history))
        return NextAnalogues(retrieved, softmax_weights(retrieved.found.similarity, self.temperature),
                             self.retriever.index)

    def to_state(self) -> FitState:
        index = self.retriever.index
        arrays = index.to_arrays()
        if self.calibration_scores is not None:
            arrays["calibration_scores"] = self.calibration_scores
        spec = SavedAnalog(lookback=index.lookback, names=index.names, calibration_levels=self.calibration_levels,
                           k=self.retriever.k, temperature=self.temperature)
        return FitState(spec=spec.model_dump(), arrays=arrays)

    @classmethod
    def from_state(cls, state: FitState, h: int, levels: list[int], model: Analog) -> FittedAnalog:
        saved = read_saved(SavedAnalog, state.spec)
        if saved.calibration_levels != levels:
            raise ValueError(f"the analog fit was calibrated for levels {saved.calibration_levels}, "
                             f"but the forecaster's levels are {levels}")
        if levels and "calibration_scores" not in state.arrays:
            raise ValueError("the saved analog fit lacks calibration_scores")
        index = WindowIndex.from_arrays(state.arrays, saved.names, saved.lookback, h)
        scores = state.arrays.get("calibration_scores") if levels else None
        if scores is not None and (scores.ndim != 3 or scores.shape[0] != len(levels) or scores.shape[2] != h):
            raise ValueError(f"calibration_scores have the shape {list(scores.shape)}, not [levels, windows, h] "
                             f"with {len(levels)} levels and h = {h}")
        return cls(retriever=Retriever(index, saved.k, model.dtw), temperature=saved.temperature,
                   calibration_levels=levels, calibration_scores=scores)


@dataclass
class LatestWindows:
    """Forecasts from each series' latest cutoffs (the last 10% of its rows, or the windows the highest level
    needs; at most MAX_CALIBRATION_WINDOWS): query windows [N, L], cutoffs [N] (int64 ns), actuals [N, h]."""

    queries: np.ndarray
    cutoffs: np.ndarray
    actuals: np.ndarray


def _latest_windows(history: History, freq: str, h: int, lookback: int, levels: list[int]) -> LatestWindows:
    share = math.ceil(windows_needed(max(levels)) / len(history.ids)) if levels else 1
    queries, cutoffs, actuals = [], [], []
    for y, last in zip(history.values, history.last_ds):
        rows = max(int(CALIBRATION_SHARE * len(y)), h - 1 + share)
        first = max(len(y) - rows, lookback + h)              # a forecast from here sees at least one window
        starts = np.arange(first, len(y) - h + 1)
        ds = pd.date_range(end=last, periods=len(y), freq=freq).asi8
        queries += [y[t - lookback:t] for t in starts]
        cutoffs += [ds[t - 1] for t in starts]
        actuals += [y[t:t + h] for t in starts]
    chosen = np.unique(np.linspace(0, len(queries) - 1, min(len(queries), MAX_CALIBRATION_WINDOWS)).astype(int))
    return LatestWindows(*(np.stack([items[i] for i in chosen]) for items in (queries, cutoffs, actuals)))


def _choose_settings(index: WindowIndex, latest: LatestWindows, k: int | None, temperature: float | None,
                     dtw: bool) -> dict[tuple[int, float], float]:
    """Each (k, temperature) candidate's mean squared error on the latest windows, in units of each window's
    deviation (a given k or temperature is the only candidate for it). One search for the largest k: the
    top entries of its ranking are every smaller k's."""
    ks = [k] if k is not None else K_CANDIDATES
    temperatures = [temperature] if temperature is not None else TEMPERATURE_CANDIDATES
    if len(ks) == 1 and len(temperatures) == 1:
        return {(ks[0], temperatures[0]): math.nan}
    retriever = Retriever(index, max(ks), dtw)
    _, deviation = window_scale(latest.queries)
    squared = {(k_, t): 0.0 for k_ in ks for t in temperatures}
    for chunk in query_chunks(len(latest.queries), retriever):
        retrieved = retriever.retrieve(latest.queries[chunk], latest.cutoffs[chunk])
        futures, actuals = np.nan_to_num(retrieved.futures), latest.actuals[chunk]
        for k_, temperature_ in squared:
            weights = softmax_weights(retrieved.found.similarity[:, :k_], temperature_)
            error = (np.einsum("qk,qkh->qh", weights, futures[:, :k_]) - actuals) / deviation[chunk, None]
            squared[(k_, temperature_)] += float(np.sum(error ** 2))
    return {candidate: total / latest.actuals.size for candidate, total in squared.items()}


def query_chunks(n_queries: int, retriever: Retriever) -> list[slice]:
    """Slices of the queries, each small enough that its retrieved analogues (futures and histories, float32)
    take at most RETRIEVED_BYTES."""
    index = retriever.index
    per_query = 4 * retriever.k * (index.lookback + index.horizon)
    size = max(1, RETRIEVED_BYTES // per_query)
    return [slice(start, start + size) for start in range(0, n_queries, size)] or [slice(0, 0)]


def _calibration_scores(fit: FittedAnalog, latest: LatestWindows, levels: list[int]) -> np.ndarray:
    """CQR scores [L, N, h] of the forecasts from the latest windows, in units of each window's deviation."""
    paths = fit.predict(latest.queries, latest.cutoffs, levels)
    _, deviation = window_scale(latest.queries)
    return np.stack([quantile_interval_scores(paths[("lower", level)], paths[("upper", level)], latest.actuals)
                     / deviation[:, None] for level in levels])

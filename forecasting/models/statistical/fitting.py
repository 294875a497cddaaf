"""Fitting and forecasting one series with one model: scaling, constant series, intervals.

Series are divided by their largest absolute value before fitting, so huge or tiny magnitudes
fit like order-one data; the scale is part of the fit, so a restored fit applies it unchanged.
A series too short for the model's season is fitted without one, and the fit records it
(see forecasting.models.season_fallback); a restored fit uses the season its fit used.
`check_fit` reads a saved fit back against what `fit` writes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, Field

from forecasting.errors import DataError
from forecasting.models.base import SAVED, FitState, Model, SeriesForecast, read_saved
from forecasting.models.intervals import add_conformal_bounds, conformal_scores
from forecasting.models.season_fallback import RecordedFallback, fitted_season, record, season_to_fit

SCORES = "conformal_scores"


class LocalFit(BaseModel):
    """What `fit` writes into every model's spec, beside the model's own (`Model.fit_spec`)."""

    model_config = SAVED
    scale: Annotated[float, Field(gt=0)]               # the series' largest absolute value (1 if all zero)
    constant: Literal[True] | None = None              # a constant series: its fit is its last value
    season_fallback: RecordedFallback | None = None


@dataclass
class SeriesTask:
    """One unit of work for a worker: fit on `y` if `state` is None, then forecast if `h` is set."""

    model: Model
    series_id: str
    y: np.ndarray
    season_length: int  # the season wanted; a fit on a series too short for it uses none
    h: int | None = None
    levels: tuple[int, ...] = ()
    state: FitState | None = None
    interval_horizon: int = 0  # h used to calibrate conformal intervals at fit time
    regressors: np.ndarray | None = None  # [T + h, K] for a model that takes text (Model.takes_text)
    seasons: tuple[int, ...] = ()  # the frequency's seasonal periods, for a model that takes them


def run_task(task: SeriesTask) -> tuple[FitState, SeriesForecast | None]:
    try:
        state = task.state if task.state is not None else fit(task)
        if task.h is None:
            return state, None
        return state, forecast(task.model, task.y, task.season_length, state, task.h, list(task.levels),
                               task.regressors, task.seasons)
    except DataError:
        raise  # it already names the series and the fix
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        raise DataError(
            f"model {task.model.name!r} failed on series {task.series_id!r} ({len(task.y)} values): {error}. "
            f"Forecast this series with another model, or check its values."
        ) from None


def recent(model: Model, y: np.ndarray, regressors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The latest `model.max_history` values of y, and the regressors' rows for them and the horizon after."""
    keep = len(y) if model.max_history is None else min(len(y), model.max_history)
    return y[len(y) - keep:], None if regressors is None else regressors[len(y) - keep:]


def describe_recent(models: list[Model], lengths: list[int]) -> list[str]:
    """One sentence per history window that cut some series, e.g. "ets and theta read the latest 2,000 values
    of 7 series longer than that (max_history; None reads them all)." """
    groups: dict[int, list[str]] = {}
    for model in models:
        if model.max_history is not None and any(length > model.max_history for length in lengths):
            groups.setdefault(model.max_history, []).append(model.name)
    return [f"{' and '.join(names)} read{'s' if len(names) == 1 else ''} the latest {window:,} values of "
            f"{sum(length > window for length in lengths)} series longer than that (max_history; None reads them all)."
            for window, names in groups.items()]


def fit(task: SeriesTask) -> FitState:
    y, regressors = recent(task.model, task.y, task.regressors)
    season = season_to_fit(task.model, task.series_id, len(y), task.season_length)
    scale = float(np.max(np.abs(y))) or 1.0
    scaled = y / scale
    if np.ptp(y) == 0:
        state = FitState(spec={"constant": True})
    else:
        extras = _extras(task.model, regressors, task.seasons)
        state = task.model.fit(scaled, season, **extras)
        if not task.model.model_intervals and task.interval_horizon:
            state.arrays[SCORES] = conformal_scores(
                task.model, scaled, season, task.interval_horizon, task.model.calibration_windows,
                None if task.model.calibration_refits else state, extras)
    state.spec["scale"] = scale
    if season != task.season_length:
        record(state, task.model, len(y), task.season_length, season)
    return state


def _extras(model: Model, regressors: np.ndarray | None, seasons: tuple[int, ...]) -> dict:
    """What a model takes beside the series and its season: text regressors, the frequency's seasons."""
    return {**({"regressors": regressors} if model.takes_text else {}),
            **({"seasons": seasons} if model.takes_seasons else {})}


def forecast(model: Model, y: np.ndarray, season_length: int, state: FitState, h: int,
             levels: list[int], regressors: np.ndarray | None = None, seasons: tuple[int, ...] = ()) -> SeriesForecast:
    y, regressors = recent(model, y, regressors)
    scale = state.spec["scale"]
    season = fitted_season(state, season_length)
    if state.spec.get("constant"):
        scaled = SeriesForecast(mean=np.full(h, y[-1] / scale))
        add_conformal_bounds(scaled, np.zeros((1, h)), levels)
    else:
        scaled = model.restore(y / scale, season, state, **_extras(model, regressors, seasons)).forecast(h, levels)
        if not model.model_intervals and levels:
            add_conformal_bounds(scaled, state.arrays[SCORES], levels)
    return SeriesForecast(
        mean=scaled.mean * scale,
        lower={level: bound * scale for level, bound in scaled.lower.items()},
        upper={level: bound * scale for level, bound in scaled.upper.items()},
    )


def check_fit(model: Model, state: FitState, h: int, levels: list[int]) -> None:
    """Raise where `state` is not a fit that `fit` writes for `model` at horizon h with interval `levels`:
    a SavedError for its spec, a ValueError for its arrays."""
    own = {key: value for key, value in state.spec.items() if key not in LocalFit.model_fields}
    common = read_saved(LocalFit, {key: value for key, value in state.spec.items() if key in LocalFit.model_fields})
    if common.constant:
        if own:
            raise ValueError(f"the fit of a constant series has no {', '.join(sorted(own))}")
        needed = set()
    else:
        needed = read_saved(model.fit_spec, own).arrays()
        if not model.model_intervals and levels:
            needed.add(SCORES)
    missing = needed - state.arrays.keys()
    if missing:
        raise ValueError(f"the fit lacks its arrays {', '.join(sorted(missing))}")
    scores = state.arrays.get(SCORES)
    if scores is not None and (scores.ndim != 2 or len(scores) == 0 or scores.shape[1] != h):
        raise ValueError(f"its conformal scores have the shape {list(scores.shape)}, not [windows, h = {h}]")

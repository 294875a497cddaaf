"""Fitting and forecasting one series with one model: scaling, constant series, intervals.

Series are divided by their largest absolute value before fitting, so huge or tiny magnitudes
fit like order-one data; the scale is part of the fit, so a restored fit applies it unchanged.
A series too short for the model's season is fitted without one, and the fit records it
(see forecasting.models.season_fallback); a restored fit uses the season its fit used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.errors import DataError
from forecasting.models.base import FitState, Model, SeriesForecast
from forecasting.models.intervals import add_conformal_bounds, conformal_scores
from forecasting.models.season_fallback import fitted_season, record, season_to_fit


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


def run_task(task: SeriesTask) -> tuple[FitState, SeriesForecast | None]:
    try:
        state = task.state if task.state is not None else fit(task)
        if task.h is None:
            return state, None
        return state, forecast(task.model, task.y, task.season_length, state, task.h, list(task.levels))
    except DataError:
        raise  # it already names the series and the fix
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        raise DataError(
            f"model {task.model.name!r} failed on series {task.series_id!r} ({len(task.y)} values): {error}. "
            f"Forecast this series with another model, or check its values."
        ) from None


def fit(task: SeriesTask) -> FitState:
    y = task.y
    season = season_to_fit(task.model, task.series_id, len(y), task.season_length)
    scale = float(np.max(np.abs(y))) or 1.0
    scaled = y / scale
    if np.ptp(y) == 0:
        state = FitState(spec={"constant": True})
    else:
        state = task.model.fit(scaled, season)
        if not task.model.model_intervals and task.interval_horizon:
            state.arrays["conformal_scores"] = conformal_scores(task.model, scaled, season, task.interval_horizon)
    state.spec["scale"] = scale
    if season != task.season_length:
        record(state, task.model, len(y), task.season_length, season)
    return state


def forecast(model: Model, y: np.ndarray, season_length: int, state: FitState, h: int,
             levels: list[int]) -> SeriesForecast:
    scale = state.spec["scale"]
    season = fitted_season(state, season_length)
    if state.spec.get("constant"):
        scaled = SeriesForecast(mean=np.full(h, y[-1] / scale))
        add_conformal_bounds(scaled, np.zeros((1, h)), levels)
    else:
        scaled = model.restore(y / scale, season, state).forecast(h, levels)
        if not model.model_intervals and levels:
            add_conformal_bounds(scaled, state.arrays["conformal_scores"], levels)
    return SeriesForecast(
        mean=scaled.mean * scale,
        lower={level: bound * scale for level, bound in scaled.lower.items()},
        upper={level: bound * scale for level, bound in scaled.upper.items()},
    )

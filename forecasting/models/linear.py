"""linear: a ridge regression from a series' last `lookback` steps to its next h, the floor every network must beat.

Each window's last value is subtracted from its inputs and targets, so the map learns shapes, not levels, and the
series is divided by its scale (the mean absolute step of its training rows), so series of any size share one map.
Beside the lookback, the inputs hold Fourier terms of the window's position in each season the panel shows
(`detected_seasons`: a day and a week in hourly data, a week and a year in daily data), so a season longer than
the lookback is still read. The fit is closed form (the normal equations over every training window).

Rows are held out as the networks hold them (see `forecasting.models.splits`): the validation rows choose the
lookback, the penalty and the pooling, every candidate's error kept in `FittedLinear.choice`; the calibration rows,
which chose nothing, give conformal intervals (the chosen fit's absolute errors per step, in scaled units). The
final map is then fitted on every row with the chosen settings. Pooling: "shared" fits one map to every series'
windows; "per_series" fits each series its own, shrunk towards the shared one (the penalty says how far it may
stray), so a short series borrows from the panel; "auto" takes the better on validation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, Field, NonNegativeFloat, PositiveInt

from forecasting.data.frequency import candidate_seasons, step_number
from forecasting.models.base import SAVED, FitState, GlobalModel, History, PanelFit, SeriesForecast, read_saved
from forecasting.models.intervals import conformal_quantile, windows_needed
from forecasting.models.splits import grow_calibration, held_out_rows, split_rows
from forecasting.models.statistical.seasonality import detected_seasons

MIN_LOOKBACK = 4
MAX_LOOKBACK = 720
FOURIER_TERMS = 4                   # harmonics per season (fewer for a short season)
# penalties on the squared weights, per mean squared error of a window (so they mean the same at any panel size)
PENALTIES = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)
SHRINKAGES = (1e-3, 1e-2, 1e-1, 1.0, 10.0)   # per-series maps: how strongly they are pulled to the shared one
Pooling = Literal["shared", "per_series"]


@dataclass
class Linear(GlobalModel):
    """Ridge regression from the last lookback steps (and seasonal Fourier terms) to the next h, in closed form.

    lookback: steps read (None: chosen on validation among h, 2h, 4h and one, two and four of each season, up to
        MAX_LOOKBACK).
    penalty: the ridge penalty (None: chosen on validation among PENALTIES).
    pooling: "shared" (one map for every series), "per_series" (each series its own, shrunk to the shared
        one), or "auto" (the better on validation).
    seasons: the seasonal periods given Fourier terms (None: those the data shows among the frequency's
        candidates; []: none).
    """

    name: ClassVar[str] = "linear"
    lookback: Annotated[int, Field(ge=MIN_LOOKBACK)] | None = None
    penalty: NonNegativeFloat | None = None
    pooling: Literal["auto", "shared", "per_series"] = "auto"
    seasons: list[Annotated[int, Field(ge=2)]] | None = None

    def min_length(self, h: int) -> int:
        # the lookback and one training window, then the validation and calibration rows
        return (self.lookback or MIN_LOOKBACK) + h + held_out_rows(h)

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int], progress=None) -> FittedLinear:
        splits = [split_rows(len(y), h) for y in history.values]
        share = math.ceil(windows_needed(max(levels)) / len(splits)) if levels else 1
        splits = [grow_calibration(split, h, share, (self.lookback or MIN_LOOKBACK) + h) for split in splits]
        scales = np.array([_scale(y[split.train]) for y, split in zip(history.values, splits)])
        series = [y / scale for y, scale in zip(history.values, scales)]
        phases = _phases(history, freq)
        seasons = self.seasons if self.seasons is not None else \
            detected_seasons([y[split.train] for y, split in zip(history.values, splits)], candidate_seasons(freq))
        room = min(len(split.train) for split in splits) - h          # every series keeps a training window
        lookbacks = [self.lookback] if self.lookback is not None else _lookbacks(h, seasons, room)

        def windows(design: Design, part: str) -> list[tuple[np.ndarray, np.ndarray]]:
            return [design.windows(y, phase, _origins(getattr(split, part), design.lookback, h))
                    for y, phase, split in zip(series, phases, splits)]

        # Every candidate lookback's inputs are columns of the longest one's (the same windows for all).
        widest = Design(max(lookbacks), h, seasons)
        train = Equations.of(windows(widest, "train"))
        validation = windows(widest, "validation")
        choice: dict[tuple[int, str, float], float] = {}      # (lookback, pooling, penalty or shrinkage) -> MSE
        for lookback in lookbacks:
            columns = widest.columns(lookback)
            for penalty in [self.penalty] if self.penalty is not None else PENALTIES:
                maps = Maps(train.columns(columns).shared(penalty))
                choice[(lookback, "shared", penalty)] = maps.error(validation, columns)
        lookback, _, penalty = min(choice, key=choice.get)
        design, columns = Design(lookback, h, seasons), widest.columns(lookback)
        maps, pooling, shrinkage = Maps(train.columns(columns).shared(penalty)), "shared", None
        if self.pooling != "shared" and len(series) > 1:
            per_series = [Equations.of([part]) for part in windows(design, "train")]
            candidates = {shrinkage_: maps.per_series(per_series, shrinkage_) for shrinkage_ in SHRINKAGES}
            for shrinkage_, candidate in candidates.items():
                choice[(lookback, "per_series", shrinkage_)] = candidate.error(validation, columns)
            best = min(SHRINKAGES, key=lambda shrinkage_: choice[(lookback, "per_series", shrinkage_)])
            if self.pooling == "per_series" or \
                    choice[(lookback, "per_series", best)] < choice[(lookback, "shared", penalty)]:
                maps, pooling, shrinkage = candidates[best], "per_series", best
        scores = maps.absolute_errors(windows(widest, "calibration"), columns) if levels else None
        # the final maps, from every row
        everything = [Equations.of([design.windows(y, phase, _origins(range(len(y)), lookback, h))])
                      for y, phase in zip(series, phases)]
        final = Maps(Equations.total(everything).shared(penalty))
        if pooling == "per_series":
            final = final.per_series(everything, shrinkage)
        return FittedLinear(design=design, maps=final, series=list(history.ids), scales=scales, penalty=penalty,
                            pooling=pooling, shrinkage=shrinkage, calibration_levels=levels,
                            calibration_scores=scores, choice=choice)

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: FittedLinear) -> list[SeriesForecast]:
        lookback = fit.design.lookback
        short = [i for i, y in zip(history.ids, history.values) if len(y) < lookback]
        if short:
            raise ValueError(f"linear: series {short[:5]} are shorter than its lookback of {lookback} steps")
        trained = {series: s for s, series in enumerate(fit.series)}
        margins = {level: conformal_quantile(fit.calibration(level), level) for level in levels}   # [h] each
        forecasts = []
        for series_id, y, phase in zip(history.ids, history.values, _phases(history, freq)):
            s = trained.get(series_id)
            scale = fit.scales[s] if s is not None else _scale(y)
            inputs, last = fit.design.inputs(y / scale, phase, np.array([len(y)]))
            mean = (inputs @ fit.maps.weights_of(s) + last)[0] * scale
            forecasts.append(SeriesForecast(mean=mean, lower={level: mean - m * scale for level, m in margins.items()},
                                            upper={level: mean + m * scale for level, m in margins.items()}))
        return forecasts

    def restore_panel(self, state: FitState, series: list[str], h: int, levels: list[int]) -> FittedLinear:
        return FittedLinear.from_state(state, h, levels)


@dataclass(frozen=True)
class Design:
    """What a window's inputs are: its last `lookback` steps less the last one, Fourier terms of its first forecast
    step's position in each season, and a constant."""

    lookback: int
    h: int
    seasons: list[int]

    @property
    def width(self) -> int:
        return self.lookback + 2 * sum(_harmonics(season) for season in self.seasons) + 1

    def columns(self, lookback: int) -> np.ndarray:
        """Where the inputs of the same design with a shorter `lookback` lie within this one's."""
        return np.r_[self.lookback - lookback:self.width]

    def inputs(self, y: np.ndarray, phase: int | None, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs [N, width] of the windows whose first forecast step is at each of `origins`, and their last
        values [N, 1]. phase: the step number of y[0] (None: no Fourier terms can be placed)."""
        past = sliding_window_view(y, self.lookback)[origins - self.lookback]           # [N, L]
        last = past[:, -1:]
        return np.concatenate([past - last, self._fourier(phase, origins), np.ones((len(origins), 1))], axis=1), last

    def windows(self, y: np.ndarray, phase: int | None, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs [N, width] and targets [N, h] (less each window's last value) of the windows at `origins`."""
        inputs, last = self.inputs(y, phase, origins)
        targets = sliding_window_view(y, self.h)[origins] - last if len(origins) else np.zeros((0, self.h))
        return inputs, targets

    def _fourier(self, phase: int | None, origins: np.ndarray) -> np.ndarray:
        terms = []
        for season in self.seasons:
            # the position of each origin in the season, shared by every series of the frequency
            angle = 2 * np.pi * ((phase or 0) + origins)[:, None] / season * np.arange(1, _harmonics(season) + 1)
            terms += [np.sin(angle), np.cos(angle)] if phase is not None else [np.zeros_like(angle)] * 2
        return np.concatenate(terms, axis=1) if terms else np.zeros((len(origins), 0))


@dataclass
class Equations:
    """The normal equations of some windows: X^T X [W, W], X^T Y [W, h] and how many windows."""

    gram: np.ndarray
    cross: np.ndarray
    count: int

    @classmethod
    def of(cls, windows: list[tuple[np.ndarray, np.ndarray]]) -> Equations:
        return cls(sum(inputs.T @ inputs for inputs, _ in windows),
                   sum(inputs.T @ targets for inputs, targets in windows), sum(len(inputs) for inputs, _ in windows))

    @classmethod
    def total(cls, parts: list[Equations]) -> Equations:
        return cls(sum(part.gram for part in parts), sum(part.cross for part in parts),
                   sum(part.count for part in parts))

    def columns(self, columns: np.ndarray) -> Equations:
        """The equations of the same windows with only these input columns."""
        return Equations(self.gram[np.ix_(columns, columns)], self.cross[columns], self.count)

    def shared(self, penalty: float) -> np.ndarray:
        """The map [W, h] minimising the windows' mean squared error + penalty * |map|^2."""
        count = max(self.count, 1)
        return np.linalg.solve(self.gram / count + penalty * np.eye(len(self.gram)), self.cross / count)


@dataclass
class Maps:
    """The fitted maps: one shared [width, h], and per series [S, width, h] where the pooling is per series."""

    shared_weights: np.ndarray
    series_weights: np.ndarray | None = None

    def per_series(self, equations: list[Equations], shrinkage: float) -> Maps:
        """Each series' own map, minimising its mean squared error + shrinkage * |map - shared map|^2."""
        weights = []
        for own in equations:
            count = max(own.count, 1)
            gram = own.gram / count + shrinkage * np.eye(len(own.gram))
            weights.append(np.linalg.solve(gram, own.cross / count + shrinkage * self.shared_weights))
        return Maps(self.shared_weights, np.stack(weights))

    def weights_of(self, s: int | None) -> np.ndarray:
        """Series s's map (the shared one for a series not fitted, or with shared pooling)."""
        return self.shared_weights if self.series_weights is None or s is None else self.series_weights[s]

    def absolute_errors(self, windows: list[tuple[np.ndarray, np.ndarray]], columns: np.ndarray) -> np.ndarray:
        """|forecast - actual| [N, h] over every series' windows (inputs of a wider design, of which these maps read
        `columns`), in scaled units."""
        errors = [np.abs(inputs[:, columns] @ self.weights_of(s) - targets)
                  for s, (inputs, targets) in enumerate(windows)]
        return np.concatenate(errors) if errors else np.zeros((0, self.shared_weights.shape[1]))

    def error(self, windows: list[tuple[np.ndarray, np.ndarray]], columns: np.ndarray) -> float:
        """Mean squared error over every series' windows, in scaled units."""
        errors = self.absolute_errors(windows, columns)
        return float(np.mean(errors ** 2)) if errors.size else math.inf


class SavedLinear(BaseModel):
    """A FittedLinear's spec in a model file."""

    model_config = SAVED
    lookback: PositiveInt
    seasons: list[Annotated[int, Field(ge=2)]]
    series: list[str]
    penalty: NonNegativeFloat
    pooling: Pooling
    shrinkage: NonNegativeFloat | None
    calibration_levels: list[int]


@dataclass
class FittedLinear(PanelFit):
    """The fitted maps, each series' scale, and what calibrates the intervals."""

    design: Design
    maps: Maps
    series: list[str]
    scales: np.ndarray                       # [S] each fitted series' scale
    penalty: float
    pooling: str
    shrinkage: float | None
    calibration_levels: list[int]
    calibration_scores: np.ndarray | None    # [N, h] absolute errors on the calibration windows, scaled units
    # (lookback, pooling, penalty or shrinkage) -> validation MSE at fit, in scaled units; None once loaded
    choice: dict[tuple[int, str, float], float] | None = None

    def calibration(self, level: int) -> np.ndarray:
        if level not in self.calibration_levels:
            raise ValueError(f"linear's intervals were calibrated for levels {self.calibration_levels}, not {level}: "
                             f"fit it with level={sorted({*self.calibration_levels, level})}")
        return self.calibration_scores

    def calibration_windows(self) -> int | None:
        return None if self.calibration_scores is None else len(self.calibration_scores)

    def choice_note(self) -> str:
        pooling = f"one map shared by the {len(self.series)} series" if self.pooling == "shared" else \
            f"a map per series shrunk towards the shared one (shrinkage {self.shrinkage:g})"
        seasons = ", ".join(str(season) for season in self.design.seasons) or "none"
        return (f"linear chose a lookback of {self.design.lookback} steps, {pooling}, penalty {self.penalty:g}, by "
                f"validation error; seasons with Fourier terms: {seasons}.")

    def to_state(self) -> FitState:
        arrays = {"shared_weights": self.maps.shared_weights, "scales": self.scales}
        if self.maps.series_weights is not None:
            arrays["series_weights"] = self.maps.series_weights
        if self.calibration_scores is not None:
            arrays["calibration_scores"] = self.calibration_scores
        spec = SavedLinear(lookback=self.design.lookback, seasons=self.design.seasons, series=self.series,
                           penalty=self.penalty, pooling=self.pooling, shrinkage=self.shrinkage,
                           calibration_levels=self.calibration_levels)
        return FitState(spec=spec.model_dump(), arrays=arrays)

    @classmethod
    def from_state(cls, state: FitState, h: int, levels: list[int]) -> FittedLinear:
        saved = read_saved(SavedLinear, state.spec)
        if saved.calibration_levels != levels:
            raise ValueError(f"the linear fit was calibrated for levels {saved.calibration_levels}, "
                             f"but the forecaster's levels are {levels}")
        design = Design(saved.lookback, h, saved.seasons)
        shapes = {"shared_weights": [design.width, h], "scales": [len(saved.series)]}
        if saved.pooling == "per_series":
            shapes["series_weights"] = [len(saved.series), design.width, h]
        for name, shape in shapes.items():
            if name not in state.arrays or list(state.arrays[name].shape) != shape:
                found = list(state.arrays[name].shape) if name in state.arrays else "missing"
                raise ValueError(f"the linear fit's {name} should have the shape {shape}, found {found}")
        if not np.all(state.arrays["scales"] > 0):
            raise ValueError("the linear fit's scales must be positive")
        scores = state.arrays.get("calibration_scores") if levels else None
        if levels and (scores is None or scores.ndim != 2 or scores.shape[1] != h or not len(scores)):
            raise ValueError(f"the linear fit's calibration_scores should be [windows, h = {h}]")
        return cls(design=design, maps=Maps(state.arrays["shared_weights"], state.arrays.get("series_weights")),
                   series=saved.series, scales=state.arrays["scales"], penalty=saved.penalty, pooling=saved.pooling,
                   shrinkage=saved.shrinkage, calibration_levels=levels, calibration_scores=scores)


def _harmonics(season: int) -> int:
    return min(FOURIER_TERMS, season // 2)


def _scale(y: np.ndarray) -> float:
    """The mean absolute step of y (its standard deviation if it never steps; 1 if constant)."""
    steps = np.abs(np.diff(y))
    return float(steps.mean()) if len(steps) and steps.mean() > 0 else float(np.std(y)) or 1.0


def _phases(history: History, freq: str) -> list[int | None]:
    """The step number of each series' first row (None where the frequency has none)."""
    return [None if (last := step_number(ds, freq)) is None else last - len(y) + 1
            for y, ds in zip(history.values, history.last_ds)]


def _origins(rows: range, lookback: int, h: int) -> np.ndarray:
    """The first forecast steps of the windows whose targets lie within `rows` and that have a full lookback."""
    return np.arange(max(rows.start, lookback), rows.stop - h + 1)


def _lookbacks(h: int, seasons: list[int], room: int) -> list[int]:
    """Candidate lookbacks: h, 2h, 4h, and one, two and four of each season, within what the shortest series
    allows."""
    wanted = {h, 2 * h, 4 * h, *(multiple * season for season in seasons for multiple in (1, 2, 4))}
    fitting = sorted(lookback for lookback in wanted if MIN_LOOKBACK <= lookback <= min(room, MAX_LOOKBACK))
    return fitting or [max(MIN_LOOKBACK, min(room, MAX_LOOKBACK))]

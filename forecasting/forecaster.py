"""The Forecaster: fit many series with several models, predict with intervals, backtest, save.

Output frames follow the long convention: `unique_id, ds, <model>, <model>-lo-<level>, ...,
<model>-hi-<level>`; cross-validation adds `cutoff` and `y`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .fitting import SeriesTask, run_task
from .frame import FrameReport, validate_frame
from .frequency import season_length
from .models import FitState, Model, SeriesForecast, build
from .parallel import Progress, map_tasks


@dataclass
class History:
    """The validated training series, as arrays."""

    ids: list[str]
    values: list[np.ndarray]
    last_ds: list[pd.Timestamp]


class Forecaster:
    """Fits every model to every series of a long frame.

    models: registered names ("ets", "theta", ...) or model configs (`ETS(season_length=12)`).
    h: forecast horizon in steps of the data's frequency.
    freq: pandas alias to resample to; None infers it from the data.
    level: central interval levels in percent, e.g. [80, 95].
    n_jobs: worker processes (None: all cores).
    fill, duplicates: repair policies for gaps and repeated timestamps (see `validate_frame`).
    progress: called as progress(stage, done, total) while fitting, predicting and backtesting.
    """

    def __init__(self, models: Sequence[str | Model], h: int, freq: str | None = None,
                 level: Sequence[int] | None = None, n_jobs: int | None = None,
                 fill: str = "interpolate", duplicates: str = "error", progress: Progress | None = None):
        self.models = [build(model) for model in models]
        names = [model.name for model in self.models]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"give at least one model and each model once; got {names}")
        if int(h) != h or h < 1:
            raise ValueError(f"h must be a positive whole number of steps, got {h!r}")
        levels = sorted({int(level_) for level_ in level or []})
        if any(not 0 < level_ < 100 for level_ in levels):
            raise ValueError(f"interval levels are percentages strictly between 0 and 100, got {list(level)}")
        self.h, self.freq, self.level, self.n_jobs = int(h), freq, levels, n_jobs
        self.fill, self.duplicates, self.progress = fill, duplicates, progress
        self.report: FrameReport | None = None
        self.freq_: str | None = None
        self.history: History | None = None
        self.states: list[list[FitState]] = []

    # ---- fitting and prediction -------------------------------------------------------------

    def fit(self, df: pd.DataFrame, *, id_col: str = "unique_id", time_col: str = "ds",
            target_col: str = "y") -> Forecaster:
        frame = self._validate(df, id_col, time_col, target_col, self._min_train_length())
        self.history = _history(frame)
        tasks = [self._task(model, series_id, y)
                 for model in self.models for series_id, y in zip(self.history.ids, self.history.values)]
        states = [state for state, _ in map_tasks(run_task, tasks, self.n_jobs, "fit", self.progress)]
        n = len(self.history.ids)
        self.states = [states[i * n:(i + 1) * n] for i in range(len(self.models))]
        return self

    def predict(self) -> pd.DataFrame:
        if self.history is None:
            raise RuntimeError("call fit(df) before predict()")
        history = self.history
        tasks = [self._task(model, series_id, y, h=self.h, state=state)
                 for model, states in zip(self.models, self.states)
                 for series_id, y, state in zip(history.ids, history.values, states)]
        forecasts = [forecast for _, forecast in map_tasks(run_task, tasks, self.n_jobs, "predict", self.progress)]
        ds = np.concatenate([_future(last, self.h, self.freq_) for last in history.last_ds])
        out = pd.DataFrame({"unique_id": np.repeat(history.ids, self.h), "ds": ds})
        return self._add_forecast_columns(out, forecasts, len(history.ids))

    def cross_validation(self, df: pd.DataFrame, n_windows: int = 1, step_size: int | None = None,
                         refit: bool = True, *, id_col: str = "unique_id", time_col: str = "ds",
                         target_col: str = "y") -> pd.DataFrame:
        """Rolling-origin backtest: `n_windows` forecasts of h steps, the last ending at each
        series' end, origins `step_size` (default h) apart. Each window's models see only the
        data up to its cutoff. `refit=False` estimates once, at the first cutoff, and re-uses the
        parameters on the longer histories of later windows."""
        step = int(step_size or self.h)
        if n_windows < 1 or step < 1:
            raise ValueError(f"n_windows and step_size must be positive, got {n_windows} and {step}")
        needed = self._min_train_length() + self.h + (n_windows - 1) * step
        frame = self._validate(df, id_col, time_col, target_col, needed)
        history = _history(frame)
        # origins[s][w]: index of the first forecast step of window w in series s
        origins = [[len(y) - self.h - (n_windows - 1 - w) * step for w in range(n_windows)]
                   for y in history.values]
        states: dict[tuple[int, int], FitState] = {}
        forecasts: dict[tuple[int, int, int], SeriesForecast] = {}
        windows_per_pass = [range(n_windows)] if refit else [range(1), range(1, n_windows)]
        for pass_windows in windows_per_pass:
            keys = [(m, s, w) for m in range(len(self.models)) for s in range(len(history.ids)) for w in pass_windows]
            tasks = [self._task(self.models[m], history.ids[s], history.values[s][:origins[s][w]], h=self.h,
                                state=None if refit else states.get((m, s)))
                     for m, s, w in keys]
            for (m, s, w), (state, forecast) in zip(keys, map_tasks(run_task, tasks, self.n_jobs, "backtest", self.progress)):
                states.setdefault((m, s), state)
                forecasts[(m, s, w)] = forecast
        series_ds = _ds_by_series(frame)
        windows = [(s, origin) for s, series_origins in enumerate(origins) for origin in series_origins]
        rows = pd.DataFrame({
            "unique_id": np.repeat([history.ids[s] for s, _ in windows], self.h),
            "ds": np.concatenate([series_ds[s][o:o + self.h] for s, o in windows]),
            "cutoff": np.repeat([series_ds[s][o - 1] for s, o in windows], self.h),
            "y": np.concatenate([history.values[s][o:o + self.h] for s, o in windows]),
        })
        ordered = [forecasts[(m, s, w)] for m in range(len(self.models))
                   for s in range(len(history.ids)) for w in range(n_windows)]
        return self._add_forecast_columns(rows, ordered, len(history.ids) * n_windows)

    # ---- persistence ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write `config.json` and `model.safetensors` into directory `path`."""
        from .persistence import save_forecaster

        return save_forecaster(self, Path(path))

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        from .persistence import load_forecaster

        return load_forecaster(Path(path))

    # ---- helpers ---------------------------------------------------------------------------

    def _validate(self, df, id_col, time_col, target_col, min_length) -> pd.DataFrame:
        frame, report = validate_frame(df, id_col=id_col, time_col=time_col, target_col=target_col,
                                       freq=self.freq, min_length=min_length, fill=self.fill,
                                       duplicates=self.duplicates)
        self.report, self.freq_ = report, report.freq
        return frame

    def _min_train_length(self) -> int:
        """Shortest history a fit needs: conformal intervals calibrate on at least one h-step window."""
        calibrates = bool(self.level) and any(not model.model_intervals for model in self.models)
        return self.h + 2 if calibrates else 3

    def _task(self, model: Model, series_id: str, y: np.ndarray, h: int | None = None,
              state: FitState | None = None) -> SeriesTask:
        return SeriesTask(model=model, series_id=series_id, y=y,
                          season_length=model.season_length or season_length(self.freq_),
                          h=h, levels=tuple(self.level), state=state,
                          interval_horizon=self.h if self.level else 0)

    def _add_forecast_columns(self, out: pd.DataFrame, forecasts: list[SeriesForecast],
                              per_model: int) -> pd.DataFrame:
        """Columns `<model>`, `<model>-lo-<l>` (widest first), `<model>-hi-<l>`; forecasts are
        ordered model-major, in the row order of `out`."""
        for m, model in enumerate(self.models):
            block = forecasts[m * per_model:(m + 1) * per_model]
            out[model.name] = np.concatenate([f.mean for f in block])
            for level in reversed(self.level):
                out[f"{model.name}-lo-{level}"] = np.concatenate([f.lower[level] for f in block])
            for level in self.level:
                out[f"{model.name}-hi-{level}"] = np.concatenate([f.upper[level] for f in block])
        return out


def _history(frame: pd.DataFrame) -> History:
    groups = frame.groupby("unique_id", sort=False)
    return History(
        ids=[str(key) for key in groups.groups],
        values=[group["y"].to_numpy(dtype=float) for _, group in groups],
        last_ds=[group["ds"].iloc[-1] for _, group in groups],
    )


def _ds_by_series(frame: pd.DataFrame) -> list[np.ndarray]:
    return [group["ds"].to_numpy() for _, group in frame.groupby("unique_id", sort=False)]


def _future(last: pd.Timestamp, h: int, freq: str) -> np.ndarray:
    return pd.date_range(last, periods=h + 1, freq=freq)[1:].to_numpy()

"""What every model in the registry is: a config dataclass that fits one series and restores a fit.

A fit is plain data (a JSON-able `spec` and named numpy arrays), so saving never pickles and
`restore` on a longer history re-uses the estimated parameters (cross-validation without refit).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd


@dataclass
class SeriesForecast:
    """Point forecast and interval bounds for one series, one array of length h each."""

    mean: np.ndarray
    lower: dict[int, np.ndarray] = field(default_factory=dict)
    upper: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class FitState:
    """Everything needed to rebuild a fitted model on a history: JSON spec and numeric arrays."""

    spec: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class Fitted(ABC):
    """A model fitted to (or restored on) one history."""

    @abstractmethod
    def forecast(self, h: int, levels: list[int]) -> SeriesForecast: ...


@dataclass
class Model(ABC):
    """Base config of a local (one series at a time) model.

    `season_length=None` takes the period implied by the data's frequency.
    Models with `model_intervals = False` get conformal intervals from the Forecaster.
    """

    name: ClassVar[str]
    model_intervals: ClassVar[bool] = True
    season_length: int | None = None

    @abstractmethod
    def fit(self, y: np.ndarray, season_length: int) -> FitState:
        """Estimate on history `y` (1-D float, finite, scaled to order one)."""

    @abstractmethod
    def restore(self, y: np.ndarray, season_length: int, state: FitState) -> Fitted:
        """Rebuild the fitted model on history `y` from `state`, without re-estimating."""

    def observations_for_season(self, season_length: int) -> int:
        """Fewest observations a fit needs to use a season of `season_length` steps; 0 for a model
        that uses no season. The Forecaster fits a shorter series without one and records that
        (see `season_fallback`), so `fit` and `restore` are given a season only with enough data."""
        return 0

    def config(self) -> dict:
        return asdict(self)


@dataclass
class History:
    """Several series as arrays: their ids, values and last timestamps."""

    ids: list[str]
    values: list[np.ndarray]
    last_ds: list[pd.Timestamp]


class PanelFit(ABC):
    """A global model fitted to a panel, kept live in memory; `to_state` is what saving writes."""

    @abstractmethod
    def to_state(self) -> FitState: ...


@dataclass
class GlobalModel(ABC):
    """Base config of a global model: one fit across all series (the neural networks).

    Its fit is a single PanelFit for the whole panel; `forecast_panel` on longer histories of the
    same series re-uses it (cross-validation without refit). Its `name` is its registered name.
    """

    @abstractmethod
    def min_length(self, h: int) -> int:
        """Fewest observations every series needs for a fit with horizon h."""

    @abstractmethod
    def fit_panel(self, history: History, freq: str, h: int, levels: list[int],
                  progress: Callable[[int, int], None] | None = None) -> PanelFit: ...

    @abstractmethod
    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: PanelFit) -> list[SeriesForecast]: ...

    @abstractmethod
    def restore_panel(self, state: FitState) -> PanelFit:
        """The fit that `to_state` wrote, live again."""

    def config(self) -> dict:
        return asdict(self)


def alpha_of(level: int) -> float:
    """statsmodels' alpha for a central interval at `level` percent."""
    return 1 - level / 100

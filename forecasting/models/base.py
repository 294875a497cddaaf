"""What every model in the registry is: a config dataclass that fits one series and restores a fit.

A fit is plain data (a JSON-able `spec` and named numpy arrays), so saving never pickles and
`restore` on a longer history re-uses the estimated parameters (cross-validation without refit).

What a model file holds is read back through schemas kept beside what they describe: a model's
config dataclass (its field types and ranges) and its fit's spec (`Model.fit_spec`), each read
with `read_saved`: exact JSON types, no unknown fields, finite numbers.
"""
from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Annotated, ClassVar, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from backbones.language.text_encoder import TextEncoderConfig
from forecasting.retrieval.retriever import NextAnalogues

# How every part of a model file is read: exact JSON types (no "12" for 12), no unknown fields, finite numbers.
SAVED = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
Schema = TypeVar("Schema")
Place = tuple[str | int, ...]         # keys and indices that lead to a value within a saved part
MAX_HISTORY = 2000                    # a local model's default: the latest values it reads (see Model)


class SavedError(ValueError):
    """What is wrong in a saved part: (place within the part, problem) pairs."""

    def __init__(self, problems: list[tuple[Place, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{place_text(place)}: {problem}" if place else problem
                                   for place, problem in problems))


def place_text(place: Place) -> str:
    """("series", "lengths", 0) -> "series.lengths[0]"."""
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in place).removeprefix(".")


def read_saved(schema: type[Schema], value: object, at: Place = ()) -> Schema:
    """`value`, as JSON holds it, read as `schema` (a pydantic model or a dataclass) under the SAVED rules.
    Raises SavedError, placing each problem under `at` (where `value` sits within its part)."""
    try:
        return _saved_reader(schema).model_validate_json(json.dumps({"value": value})).value
    except ValidationError as error:
        raise SavedError([(at + tuple(problem["loc"][1:]), _problem_text(problem))
                          for problem in error.errors()]) from None


def _problem_text(problem: dict) -> str:
    if problem["type"] == "missing":
        return "missing"
    found = repr(problem["input"])
    return f"{problem['msg']} (found {found if len(found) <= 60 else found[:57] + '...'})"


@cache
def _saved_reader(schema: type) -> type[BaseModel]:
    # a dataclass without a pydantic config of its own is read under the wrapper's
    return create_model(f"saved_{schema.__name__}", __config__=SAVED, value=(schema, ...))


class FitSpec(BaseModel):
    """The schema of a local model's fit spec, which each model extends; as it is, a fit that estimates
    nothing (its forecasts are recomputed from the history)."""

    model_config = SAVED

    def arrays(self) -> set[str]:
        """The names of the arrays the fit needs beside its spec."""
        return set()


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
    `max_history`: the latest observations of a series that a fit and its forecasts read (None: all). Long
        series are fitted on their recent seasons: faster (Theta's interval variance on 17,000 hourly values
        took seconds), and closer to how the series behaves now.
    Models with `model_intervals = False` get conformal intervals from the Forecaster: from the errors at the last
    `calibration_windows` origins, each refit there, or (`calibration_refits = False`) restored there from the fit.
    """

    name: ClassVar[str]
    model_intervals: ClassVar[bool] = True
    calibration_windows: ClassVar[int] = 50
    calibration_refits: ClassVar[bool] = True
    fit_spec: ClassVar[type[FitSpec]] = FitSpec          # the schema of `fit`'s spec, and its arrays
    unsaved: ClassVar[frozenset[str]] = frozenset()      # see GlobalModel.unsaved
    # whether fit and restore take `regressors`: [T + h, K] per row of the series and of its horizon, the
    # components of its known-in-advance text (see forecasting.models.text.TextComponents), or None
    takes_text: ClassVar[bool] = False
    # whether fit and restore take `seasons`: every seasonal period of the data's frequency (a day and a week for
    # hourly data; see forecasting.data.frequency.candidate_seasons), or the model's own season_length if set
    takes_seasons: ClassVar[bool] = False
    season_length: Annotated[int, Field(ge=1)] | None = None
    max_history: Annotated[int, Field(ge=3)] | None = MAX_HISTORY

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
        """The settings a model file keeps (copies: the unsaved ones, which may be data, are never copied)."""
        return saved_settings(self)


@dataclass
class HistoryText:
    """The text covariates of a History's series, as strings ('' where a step has none).

    past[s] [T_s, M]: each observed step's text in each column. ahead[s] [h, M]: the text over the forecast's
    horizon, given only in the columns known in advance (`known`); '' elsewhere, or where none was given.
    """

    columns: list[str]
    known: list[bool]
    past: list[np.ndarray]
    ahead: list[np.ndarray]
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    def cut(self, stops: list[int], h: int) -> HistoryText:
        """The text as seen from cutoffs before each series' row stops[s]: up to there, and over the next h steps
        in the columns known in advance."""
        aheads = [past[stop:stop + h].copy() for past, stop in zip(self.past, stops)]
        for ahead in aheads:
            ahead[:, ~np.asarray(self.known, bool)] = ""
        return replace(self, past=[past[:stop] for past, stop in zip(self.past, stops)], ahead=aheads)


@dataclass
class SeriesDescriptions:
    """What each series is, in the user's words ('' where a series has none), and the encoder that reads them."""

    texts: list[str]
    encoder: TextEncoderConfig = field(default_factory=TextEncoderConfig)


@dataclass
class History:
    """Several series as arrays: their ids, values and last timestamps, their text covariates and descriptions."""

    ids: list[str]
    values: list[np.ndarray]
    last_ds: list[pd.Timestamp]
    text: HistoryText | None = None
    descriptions: SeriesDescriptions | None = None


NO_ANALOGUES = "this model retrieves no analogues: use 'analog', or a network with retrieval"


class PanelFit(ABC):
    """A global model fitted to a panel, kept live in memory; `to_state` is what saving writes."""

    @abstractmethod
    def to_state(self) -> FitState: ...

    def calibration_windows(self) -> int | None:
        """How many windows, pooled over the series, calibrated its intervals (None: it has none)."""
        return None

    def choice_note(self) -> str | None:
        """What the fit chose from the data (a model, a lookback), in a sentence; None where it chose nothing."""
        return None

    def comparison(self) -> pd.DataFrame | None:
        """The options the fit compared to choose, one row each (auto's table); None where it compared none."""
        return None

    @property
    def retrieves(self) -> bool:
        """Whether its forecasts use retrieved analogues (then `analogues` lists them)."""
        return False

    def next_analogues(self, history: History) -> NextAnalogues:
        """The past windows each series' next forecast retrieves, and their weights (see `Forecaster.analogues`)."""
        raise ValueError(NO_ANALOGUES)


@dataclass
class GlobalModel(ABC):
    """Base config of a global model: one fit across all series (the neural networks).

    Its fit is a single PanelFit for the whole panel; `forecast_panel` on longer histories of the
    same series re-uses it (cross-validation without refit). Its `name` is its registered name.
    """

    # settings about the machine a fit ran on (where it wrote checkpoints), never written to or read
    # from a model file: a path in a file is not trusted
    unsaved: ClassVar[frozenset[str]] = frozenset()

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
    def restore_panel(self, state: FitState, series: list[str], h: int, levels: list[int]) -> PanelFit:
        """The fit that `to_state` wrote, live again, to forecast `series` h steps with intervals at `levels`.
        Raises ValueError (a SavedError where it can place the problem in the spec) where `state` is not such a fit."""

    def config(self) -> dict:
        """The settings a model file keeps (copies: the unsaved ones, which may be data, are never copied)."""
        return saved_settings(self)


def saved_settings(config: Model | GlobalModel) -> dict:
    return {f.name: copy.deepcopy(getattr(config, f.name)) for f in fields(config) if f.name not in config.unsaved}


def alpha_of(level: int) -> float:
    """statsmodels' alpha for a central interval at `level` percent."""
    return 1 - level / 100

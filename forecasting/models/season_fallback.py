"""The named fallback for series too short for a model's season, decided once per series and model.

A model declares how many observations it needs to use a season (`Model.observations_for_season`).
A shorter series is fitted without one (season length 1: seasonal naive becomes naive, seasonal ETS
non-seasonal), and the fit records it in its spec, so the Forecaster, the report and the app can
say so. A season the user set explicitly is never dropped: a series too short for it is a DataError.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field, NonNegativeInt, PositiveInt

from forecasting.errors import DataError
from forecasting.models.base import SAVED, FitState, Model, PanelFit

SPEC_KEY = "season_fallback"
NO_SEASON = 1
MAX_NAMED_SERIES = 10  # a sentence names this many series, then says how many more


@dataclass(frozen=True)
class SeasonFallback:
    """A model fitted a series without its season because the series was too short for it."""

    model: str
    series: str
    season_length: int  # the season wanted: the model's setting or the data frequency's period
    observations: int   # values the fit had (in a backtest, the first window that fell back)
    needed: int         # values the model needs to fit that season
    used: int           # the season it fitted instead (1: none)


class RecordedFallback(BaseModel):
    """What a fit's spec records of its fallback (see `SeasonFallback`), and its schema in a model file."""

    model_config = SAVED
    season_length: Annotated[int, Field(gt=NO_SEASON)]
    observations: NonNegativeInt
    needed: PositiveInt
    used: Literal[NO_SEASON]


def usable_season(model: Model, observations: int, season_length: int) -> int:
    """`season_length` when `model` has enough observations to fit it, else 1 (no season)."""
    if season_length <= NO_SEASON or observations >= model.observations_for_season(season_length):
        return season_length
    return NO_SEASON


def season_to_fit(model: Model, series_id: str, observations: int, season_length: int) -> int:
    """The season a fit of `model` on a series of `observations` values uses (see `usable_season`).

    Raises DataError where the user set the model's season_length and the series is too short for it."""
    season = usable_season(model, observations, season_length)
    if season != season_length and model.season_length is not None:
        raise DataError(
            f"model {model.name!r} has season_length={season_length}, which needs at least "
            f"{model.observations_for_season(season_length)} values, but series {series_id!r} has "
            f"{observations} to fit on. Lower season_length, or give longer series."
        )
    return season


def record(state: FitState, model: Model, observations: int, season_length: int, used: int) -> None:
    """Write the fallback into the fit's spec (JSON, saved with the model)."""
    state.spec[SPEC_KEY] = RecordedFallback(season_length=season_length, observations=observations,
                                            needed=model.observations_for_season(season_length), used=used).model_dump()


def fitted_season(state: FitState, season_length: int) -> int:
    """The season the fit in `state` used: its fallback's, else the one wanted."""
    fallback = state.spec.get(SPEC_KEY)
    return season_length if fallback is None else fallback["used"]


def season_fallbacks(models: list[str], ids: list[str],
                     windows: list[list[list[FitState | PanelFit]]]) -> list[SeasonFallback]:
    """The fallbacks in fits `windows[w][m][s]` (model m, series s), once per model and series: in a
    backtest, the first window that fell back (the shortest history). A global model's fit is skipped."""
    found: dict[tuple[str, str], SeasonFallback] = {}
    for m, model in enumerate(models):
        for window in windows:
            for series_id, state in zip(ids, window[m]):
                fallback = state.spec.get(SPEC_KEY) if isinstance(state, FitState) else None
                if fallback is not None and (model, series_id) not in found:
                    found[(model, series_id)] = SeasonFallback(model=model, series=series_id, **fallback)
    return list(found.values())


def describe_fallbacks(fallbacks: list[SeasonFallback]) -> list[str]:
    """One sentence per model and season, e.g. "seasonal_naive used no season on 2 series shorter than
    one season (24 steps): a, b."."""
    groups: dict[tuple[str, int, int], list[str]] = {}
    for fallback in fallbacks:
        groups.setdefault((fallback.model, fallback.season_length, fallback.needed), []).append(fallback.series)
    return [f"{model} used no season on {len(series)} series shorter than {_span(needed, season)}: "
            f"{_named(series)}." for (model, season, needed), series in groups.items()]


def _span(needed: int, season_length: int) -> str:
    """E.g. "one season (24 steps)", "two seasons and 2 steps (50 steps)"."""
    seasons, rest = divmod(needed, season_length)
    words = {1: "one season", 2: "two seasons", 3: "three seasons"}.get(seasons, f"{seasons} seasons")
    return f"{words}{f' and {rest} steps' if rest else ''} ({needed} steps)"


def _named(series: list[str]) -> str:
    shown = ", ".join(series[:MAX_NAMED_SERIES])
    return shown if len(series) <= MAX_NAMED_SERIES else f"{shown} and {len(series) - MAX_NAMED_SERIES} more"

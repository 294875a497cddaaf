"""auto: the best forecast for this data, chosen by a rolling-origin backtest on the history it is given.

Each candidate model forecasts the last `windows` horizons of every series (fitted at the first of those cutoffs,
as `cross_validation(refit=False)` does), and is scored by MASE (sMAPE or RMSE where MASE is undefined, as the
backtest ranks). Two ensembles of the best `ensemble_size` candidates are scored on the same forecasts without
fitting anything more: their median, and their mean weighted by inverse score; interval bounds are combined the
same way (quantile averaging), and their coverage on the backtest is reported with the scores. A global candidate
(one fit for the panel) is backtested on the series long enough for it at the first cutoff, and then every option
is compared on the series all of them forecast. The best option for the panel (or, with `per_series`, for each
series) is then refitted on the whole history. Candidates run fastest first. `time_budget` bounds the whole fit:
the comparison ends early enough to refit the best option found so far in the time left (its members' backtest
seconds are the estimate), a candidate still running then is stopped, and those not started are skipped; each
says so.

Only the history given is read: in a backtest, each cutoff's auto chooses from the data before that cutoff.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, NonNegativeInt, PositiveFloat, PositiveInt

from forecasting.api.forecaster import Forecaster
from forecasting.api.persistence import SavedModel, model_from_saved, restore_fit, saved_model
from forecasting.data.frequency import season_length
from forecasting.errors import DataError
from forecasting.evaluation.metrics import COMPARED, evaluate
from forecasting.models import REGISTRY, FitState, GlobalModel, History, PanelFit, SeriesForecast, model, register
from forecasting.models.base import SAVED, read_saved
from forecasting.models.neural.training import TrainingError

# every model of the registry that fits in seconds on a CPU, fastest first (what a time budget keeps); the networks
# are welcome as candidates, but take minutes each
DEFAULT_CANDIDATES = ("seasonal_naive", "naive", "drift", "theta", "linear", "almanac_base", "analog", "ets", "arima",
                      "mstl")
MEDIAN, WEIGHTED = "ensemble_median", "ensemble_weighted"
MEMBER_ARRAY = re.compile(r"member(\d+)@(\d+)@(.+)")     # a member's fit's array, within auto's arrays


@dataclass
class Auto(GlobalModel):
    """The best of several models (or an ensemble of the best), chosen by a backtest on your data.

    candidates: the registered models compared (None: DEFAULT_CANDIDATES; networks are welcome but slow on a CPU).
    windows: backtest windows, h steps apart, at the end of each series.
    per_series: choose each series' own best option (else one for the whole panel, which is steadier).
    ensemble_size: how many of the best candidates the two ensembles combine (0 or 1: no ensembles).
    time_budget: seconds for the whole fit, the final refit included (None: no limit); candidates running when
        the comparison's share is spent are stopped, those not started skipped; the first candidate always runs.
    """

    name: ClassVar[str] = "auto"
    candidates: list[str] | None = None
    windows: PositiveInt = 3
    per_series: bool = False
    ensemble_size: NonNegativeInt = 3
    time_budget: PositiveFloat | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.candidate_names if name not in REGISTRY or name == self.name]
        if unknown or not self.candidate_names:
            raise ValueError(f"auto: candidates must be registered models other than auto, got {unknown or []}; "
                             f"available: {', '.join(name for name in REGISTRY if name != self.name)}")

    @property
    def candidate_names(self) -> list[str]:
        return list(self.candidates) if self.candidates is not None else list(DEFAULT_CANDIDATES)

    def min_length(self, h: int) -> int:
        # the windows and a history before them that the local candidates accept (see _backtested_series)
        return self.windows * h + 3

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int],
                  progress: Callable[[int, int], None] | None = None) -> FittedAuto:
        frame = _frame(history, freq)
        total = len(self.candidate_names) + 1          # the candidates, then the final fit
        comparison, trials = self._compare(frame, history, freq, h, levels,
                                           None if progress is None else lambda done: progress(done, total))
        options, scores, best = comparison.options, comparison.scores, comparison.best
        chosen = {series: best for series in history.ids}
        if self.per_series:
            per_series = _per_series_scores(comparison.forecasts, frame, freq, options)
            chosen = {series: per_series.loc[series].idxmin()
                      if series in per_series.index and per_series.loc[series].notna().any() else best
                      for series in history.ids}
        members = sorted({member for label in set(chosen.values()) for member in options[label].members},
                         key=self.candidate_names.index)
        final = None if progress is None else lambda stage, _done, _total: progress(total - 1, total)
        fitted = Forecaster(members, h=h, freq=freq, level=levels, progress=final).fit(frame)
        if progress is not None:
            progress(total, total)
        return FittedAuto(members=fitted.models, states=fitted.states, options=options, chosen=chosen, best=best,
                          scores=scores, trials=trials, h=h, levels=levels)

    def _compare(self, frame: pd.DataFrame, history: History, freq: str, h: int, levels: list[int],
                 progress: Callable[[int], None] | None) -> tuple[_Comparison, list[Trial]]:
        """Every candidate's backtest, fastest first, within the time budget; progress(candidates done)."""
        lengths = pd.Series([len(y) for y in history.values], index=history.ids)
        backtests, trials, comparison = [], [], None
        began = time.perf_counter()
        deadline = math.inf if self.time_budget is None else began + self.time_budget  # for the comparison
        for done, name in enumerate(self.candidate_names):
            if backtests and time.perf_counter() > deadline:
                trials.append(Trial(name, "skipped", f"the time budget of {self.time_budget:g} s was spent"))
                continue

            # the inner runs report at least every second (see api.parallel): there a caller, or the budget, stops them
            def inner(stage: str, _done: int, _total: int, done: int = done, first: bool = not backtests) -> None:
                if not first and time.perf_counter() > deadline:
                    raise BudgetSpent
                if progress is not None:
                    progress(done)

            started = time.perf_counter()
            backtested, detail = self._backtested_series(name, lengths, h)
            try:
                inner("", 0, 0)
                forecasts = Forecaster([name], h=h, freq=freq, level=levels, progress=inner).cross_validation(
                    frame[frame["unique_id"].isin(backtested)], n_windows=self.windows, refit=False)
            except BudgetSpent:
                trials.append(Trial(name, "stopped", f"stopped when the time budget of {self.time_budget:g} s "
                                                     f"was spent, after {time.perf_counter() - started:.0f} s"))
                continue
            except (DataError, TrainingError, ValueError) as error:
                trials.append(Trial(name, "failed", str(error).split(". ")[0]))
                continue
            trials.append(Trial(name, "scored", detail, seconds=time.perf_counter() - started))
            backtests.append(forecasts)
            if self.time_budget is not None:   # leave the time to refit the best option so far
                comparison = _Comparison.of(backtests, trials, frame, freq, levels, self.ensemble_size)
                deadline = began + self.time_budget - comparison.refit_seconds(comparison.best, trials)
        if not backtests:
            raise DataError("auto: no candidate could be backtested on this data: "
                            + "; ".join(f"{trial.name}: {trial.detail}" for trial in trials))
        if comparison is None:                  # made after each scored candidate where there is a budget
            comparison = _Comparison.of(backtests, trials, frame, freq, levels, self.ensemble_size)
        return comparison, trials

    def _backtested_series(self, name: str, lengths: pd.Series, h: int) -> tuple[list[str], str]:
        """The series a candidate's backtest runs on, and why not all. A global model fits every series it is
        given, so a series long enough for its final fit but not before the backtest's first cutoff is left out of
        its backtest; one too short for its final fit too rules it out (it runs on all, and its error says why)."""
        config = model(name)
        needs = config.min_length(h) if isinstance(config, GlobalModel) else 0
        long_enough = lengths.index[lengths >= self.windows * h + needs].tolist()
        if lengths.min() < needs or len(long_enough) in (0, len(lengths)):
            return lengths.index.tolist(), ""
        return long_enough, (f"backtested on {len(long_enough)} of {len(lengths)} series: the others have fewer than "
                             f"{self.windows * h + needs} rows; compared on those")

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: FittedAuto) -> list[SeriesForecast]:
        forecaster = Forecaster(fit.members, h=h, freq=freq, level=levels, nonnegative=False)
        forecaster.freq_, forecaster.states = freq, fit.states
        by_member = forecaster.forecasts_for(history)                  # [member][series]
        names = [member.name for member in fit.members]
        result = []
        for s, series in enumerate(history.ids):
            option = fit.options[fit.chosen.get(series, fit.best)]
            parts = [by_member[names.index(member)][s] for member in option.members]
            result.append(option.combine(parts, levels))
        return result

    def restore_panel(self, state: FitState, series: list[str], h: int, levels: list[int]) -> FittedAuto:
        return FittedAuto.from_state(state, series, h, levels)


class BudgetSpent(Exception):
    """auto's time budget ran out while a candidate was running."""


@dataclass(frozen=True)
class _Comparison:
    """The backtests so far, joined: every option they make, its scores, and the best."""

    forecasts: pd.DataFrame
    options: dict[str, Option]
    scores: pd.DataFrame
    best: str

    @classmethod
    def of(cls, backtests: list[pd.DataFrame], trials: list[Trial], frame: pd.DataFrame, freq: str,
           levels: list[int], ensemble_size: int) -> _Comparison:
        forecasts = _joined(backtests)
        scored = [trial.name for trial in trials if trial.status == "scored"]
        options = _options(scored, forecasts, frame, freq, levels, ensemble_size)
        scores = _scores(forecasts, frame, freq, options)
        return cls(forecasts, options, scores, min(options, key=lambda label: scores.loc[label, "score"]))

    def refit_seconds(self, label: str, trials: list[Trial]) -> float:
        """About how long refitting an option takes: its members' backtests (one fit each, and a few forecasts)."""
        seconds = {trial.name: trial.seconds for trial in trials}
        return sum(seconds[member] for member in self.options[label].members)


@dataclass(frozen=True)
class Option:
    """A way to forecast: one candidate, or an ensemble of several (their median, or a weighted mean)."""

    label: str
    members: tuple[str, ...]
    weights: tuple[float, ...] = ()         # a weighted mean's; empty for one model or a median

    def pooled(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The members' values combined: the one member's, their median, or their weighted mean."""
        stacked = np.stack(arrays)
        return np.median(stacked, axis=0) if not self.weights else np.tensordot(self.weights, stacked, axes=1)

    def combine(self, parts: list[SeriesForecast], levels: list[int]) -> SeriesForecast:
        """One forecast from the members' forecasts: point and each interval bound combined alike."""
        return SeriesForecast(mean=self.pooled([part.mean for part in parts]),
                              lower={level: self.pooled([part.lower[level] for part in parts]) for level in levels},
                              upper={level: self.pooled([part.upper[level] for part in parts]) for level in levels})


@dataclass(frozen=True)
class Trial:
    """What happened to one candidate: scored (with its seconds), skipped or stopped (time budget) or failed (and
    why)."""

    name: str
    status: Literal["scored", "skipped", "stopped", "failed"]
    detail: str = ""
    seconds: float = math.nan


class SavedOption(BaseModel):
    model_config = SAVED
    label: str
    members: list[str] = Field(min_length=1)
    weights: list[Annotated[float, Field(ge=0)]] = []


class SavedAuto(BaseModel):
    """A FittedAuto's spec in a model file: the members' configs and fits, the options, each series' choice."""

    model_config = SAVED
    members: list[SavedModel] = Field(min_length=1)
    fits: list[list[dict]]                  # per member: a fit's spec per series, or one for a global model
    options: list[SavedOption] = Field(min_length=1)
    chosen: dict[str, str]                  # series -> option label
    best: str                               # the option for the panel (and for a series not seen at fit)
    scores: dict[str, float | None]         # option label -> its backtest score (None: undefined)
    metric: Literal[COMPARED]


@dataclass
class FittedAuto(PanelFit):
    """The fitted members, the options they make, each series' chosen option, and what the backtest measured."""

    members: list                           # model configs
    states: list[list[FitState | PanelFit]]  # per member: a FitState per series, or one PanelFit
    options: dict[str, Option]
    chosen: dict[str, str]
    best: str
    scores: pd.DataFrame                    # per option: score (the ranking metric), metric, coverage-<level>, ...
    trials: list[Trial] = field(default_factory=list)   # empty once loaded
    h: int = 0
    levels: list[int] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return str(self.scores["metric"].iloc[0])

    def comparison(self) -> pd.DataFrame:
        """One row per option tried and candidate skipped, stopped or failed: option, members, score, metric,
        coverage, seconds, status ("chosen", "scored", "skipped", "stopped", "failed") and detail, best first."""
        rows = self.scores.reset_index().rename(columns={"index": "option"})
        rows["members"] = [", ".join(self.options[label].members) for label in rows["option"]]
        seconds = {trial.name: trial.seconds for trial in self.trials}
        rows["seconds"] = [seconds.get(label, math.nan) for label in rows["option"]]
        used = set(self.chosen.values())
        rows["status"] = ["chosen" if label in used else "scored" for label in rows["option"]]
        details = {trial.name: trial.detail for trial in self.trials}
        rows["detail"] = [details.get(label, "") for label in rows["option"]]
        others = pd.DataFrame([{"option": trial.name, "members": trial.name, "status": trial.status,
                                "detail": trial.detail} for trial in self.trials if trial.status != "scored"])
        return pd.concat([rows.sort_values("score", kind="stable"), others], ignore_index=True)

    def choice_note(self) -> str:
        return self.reason()

    def reason(self) -> str:
        """Why the choice, in a sentence."""
        scores, metric = self.scores["score"], self.metric.upper()
        best = f"{self.best} ({', '.join(self.options[self.best].members)})" \
            if len(self.options[self.best].members) > 1 else self.best
        singles = [label for label in scores.index if len(self.options[label].members) == 1]
        runner = min((label for label in singles if label != self.best), key=scores.get, default=None)
        sentence = f"auto chose {best}: {metric} {scores[self.best]:.3f} over the last backtest windows"
        if runner is not None:
            sentence += f", against {scores[runner]:.3f} for {runner}, the best other single model"
        if "seasonal_naive" in scores.index and self.best != "seasonal_naive":
            sentence += f" and {scores['seasonal_naive']:.3f} for seasonal naive"
        if len(set(self.chosen.values())) > 1:
            counts = pd.Series(list(self.chosen.values())).value_counts()
            sentence += "; per series: " + ", ".join(f"{label} for {count}" for label, count in counts.items())
        return sentence + "."

    def to_state(self) -> FitState:
        arrays, fits = {}, []
        for m, states in enumerate(self.states):
            specs = []
            for s, state in enumerate(states):
                state = state.to_state() if isinstance(state, PanelFit) else state
                specs.append(state.spec)
                arrays.update({f"member{m}@{s}@{key}": value for key, value in state.arrays.items()})
            fits.append(specs)
        score = self.scores["score"]
        spec = SavedAuto(members=[saved_model(member) for member in self.members], fits=fits,
                         options=[SavedOption(label=option.label, members=list(option.members),
                                              weights=list(option.weights)) for option in self.options.values()],
                         chosen=self.chosen, best=self.best, metric=self.metric,
                         scores={label: float(value) if np.isfinite(value) else None for label, value in score.items()})
        return FitState(spec=spec.model_dump(), arrays=arrays)

    @classmethod
    def from_state(cls, state: FitState, series: list[str], h: int, levels: list[int]) -> FittedAuto:
        saved = read_saved(SavedAuto, state.spec)
        members = [model_from_saved(entry) for entry in saved.members]
        if len(saved.fits) != len(members):
            raise ValueError(f"auto's fits has {len(saved.fits)} entries for {len(members)} members")
        grouped: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        for key, value in state.arrays.items():
            found = MEMBER_ARRAY.fullmatch(key)
            if found is None:
                raise ValueError(f"auto's array {key!r} belongs to no member")
            grouped.setdefault((int(found[1]), int(found[2])), {})[found[3]] = value
        states = []
        for m, (member, specs) in enumerate(zip(members, saved.fits)):
            expected = 1 if isinstance(member, GlobalModel) else len(series)
            if len(specs) != expected:
                raise ValueError(f"auto's member {member.name} has {len(specs)} fits, not {expected}")
            states.append([restore_fit(member, FitState(spec=spec, arrays=grouped.get((m, s), {})), series, h, levels)
                           for s, spec in enumerate(specs)])
        options = {option.label: Option(option.label, tuple(option.members), tuple(option.weights))
                   for option in saved.options}
        names, used = {member.name for member in members}, {saved.best, *saved.chosen.values()}
        if not used <= options.keys() or any(name not in names for label in used for name in options[label].members):
            raise ValueError("auto's chosen options name an option or a member it does not hold")
        scores = pd.DataFrame({"score": pd.Series(saved.scores, dtype=float), "metric": saved.metric})
        return cls(members=members, states=states, options=options, chosen=saved.chosen, best=saved.best,
                   scores=scores, h=h, levels=levels)


def _frame(history: History, freq: str) -> pd.DataFrame:
    """The history as a long frame (unique_id, ds, y)."""
    return pd.DataFrame({
        "unique_id": np.repeat(history.ids, [len(y) for y in history.values]),
        "ds": np.concatenate([pd.date_range(end=last, periods=len(y), freq=freq).to_numpy()
                              for y, last in zip(history.values, history.last_ds)]),
        "y": np.concatenate(history.values),
    })


def _joined(backtests: list[pd.DataFrame]) -> pd.DataFrame:
    """Every candidate's backtest forecasts side by side; NaN for the series a candidate's backtest left out."""
    keys = ["unique_id", "ds", "cutoff", "y"]
    joined = backtests[0]
    for more in backtests[1:]:
        joined = joined.merge(more, on=keys, how="outer")
    return joined


def _options(scored: list[str], forecasts: pd.DataFrame, frame: pd.DataFrame, freq: str, levels: list[int],
             ensemble_size: int) -> dict[str, Option]:
    """Every scored candidate alone, and (with at least two) the median and inverse-score-weighted mean of the best
    `ensemble_size`, whose columns are added to `forecasts`."""
    options = {name: Option(name, (name,)) for name in scored}
    if ensemble_size < 2 or len(scored) < 2:
        return options
    single = _scores(forecasts, frame, freq, options)["score"]
    best = [name for name in single.sort_values(kind="stable").index[:ensemble_size] if np.isfinite(single[name])]
    if len(best) < 2:
        return options
    inverse = np.array([1 / max(single[name], 1e-12) for name in best])
    options[MEDIAN] = Option(MEDIAN, tuple(best))
    options[WEIGHTED] = Option(WEIGHTED, tuple(best), tuple(float(w) for w in inverse / inverse.sum()))
    suffixes = ["", *(f"-lo-{level}" for level in levels), *(f"-hi-{level}" for level in levels)]
    for label in (MEDIAN, WEIGHTED):
        option = options[label]
        for suffix in suffixes:
            forecasts[label + suffix] = option.pooled([forecasts[name + suffix].to_numpy(dtype=float)
                                                       for name in option.members])
    return options


def _evaluated(forecasts: pd.DataFrame, frame: pd.DataFrame, freq: str, labels: list[str]) -> pd.DataFrame:
    columns = [column for column in forecasts.columns
               if column in ("unique_id", "ds", "cutoff", "y") or column.split("-lo-")[0].split("-hi-")[0] in labels]
    return evaluate(forecasts[columns], frame, season_length(freq))


def _scores(forecasts: pd.DataFrame, frame: pd.DataFrame, freq: str, options: dict[str, Option]) -> pd.DataFrame:
    """Per option: score (the mean of the ranking metric over series and windows), metric, and the mean of every
    other metric (coverage-<level> among them), on the series every option's backtest forecast."""
    per_series = _evaluated(forecasts.dropna(subset=list(options)), frame, freq, list(options))
    means = per_series.drop(columns=["unique_id", "cutoff"]).groupby("metric", sort=False).mean().T
    metric = next((name for name in COMPARED if np.isfinite(means[name].to_numpy(dtype=float)).all()), COMPARED[0])
    return means.assign(score=means[metric], metric=metric)


def _per_series_scores(forecasts: pd.DataFrame, frame: pd.DataFrame, freq: str,
                       options: dict[str, Option]) -> pd.DataFrame:
    """Per series (rows) and option (columns): the mean of the ranking metric over its windows."""
    per_series = _evaluated(forecasts, frame, freq, list(options))
    overall = _scores(forecasts, frame, freq, options)["metric"].iloc[0]
    rows = per_series[per_series["metric"] == overall]
    return rows.drop(columns=["cutoff", "metric"]).groupby("unique_id").mean().replace([np.inf, -np.inf], np.nan)


register(Auto)

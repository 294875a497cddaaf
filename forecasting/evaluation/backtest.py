"""Backtest models over rolling windows and rank them against the seasonal-naive reference."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.api.forecaster import Forecaster
from forecasting.api.parallel import Progress
from forecasting.data.frame import validate_frame
from forecasting.data.frequency import season_length
from forecasting.data.panel import Panel
from forecasting.data.text import describe_text
from forecasting.evaluation.metrics import COMPARED, LABELS, comparison_metric, evaluate, summarize
from forecasting.models import GlobalModel, Model, SeasonalNaive, build
from forecasting.models.intervals import ShortCalibration, describe_short_calibrations
from forecasting.models.season_fallback import SeasonFallback, describe_fallbacks

REFERENCE = "seasonal_naive"  # a model earns trust only by beating it in the same run


@dataclass
class WorstWindow:
    """What a model that retrieves analogues retrieved for its worst-scoring backtest window."""

    model: str
    unique_id: str
    cutoff: pd.Timestamp
    metric: str                # the ranking metric ("mase", or "smape" / "rmse" where MASE is undefined)
    score: float
    analogues: pd.DataFrame    # Forecaster.analogues' columns, for that series and cutoff
    futures: pd.DataFrame      # Forecaster.analogue_futures' columns, likewise
NAMED_SERIES = 5  # a sentence names at most this many series


@dataclass
class Backtest:
    """A finished backtest: what was run, on which data, the forecasts and their accuracy."""

    settings: dict            # source, n_series, freq, season_length, models, h, n_windows, step_size, level, refit,
                              # nonnegative (forecasts kept at or above zero)
    panel: Panel              # the validated history and what validation repaired
    forecasts: pd.DataFrame   # Forecaster.cross_validation output
    per_series: pd.DataFrame  # metrics.evaluate output: unique_id, cutoff, metric, one column per model
    summary: pd.DataFrame     # metrics.summarize output: metric rows x model columns
    ranking: pd.DataFrame     # one row per model, lowest MASE first (see `rank`)
    fallbacks: list[SeasonFallback] = field(default_factory=list)  # fits without their season (too short)
    short_calibrations: list[ShortCalibration] = field(default_factory=list)  # bands from too few windows
    worst_windows: list[WorstWindow] = field(default_factory=list)  # per model that retrieves: its worst window
    history_notes: list[str] = field(default_factory=list)  # local models that read only the latest values

    @property
    def verdict(self) -> str:
        """Which model to trust, in one sentence (see `verdict`)."""
        return verdict(self.ranking, exact_series(self.per_series), self.settings["season_length"])

    @property
    def ranked_by(self) -> str:
        """The metric the ranking is ordered by: "mase", or "smape" or "rmse" where MASE is undefined."""
        return comparison_metric(self.ranking)

    @property
    def fallback_notes(self) -> list[str]:
        """One sentence per model that fitted series without their season, e.g. "seasonal_naive used
        no season on 2 series shorter than one season (24 steps): a, b.", and per model and level whose
        band was calibrated on too few windows, and per history window that cut long series."""
        return describe_fallbacks(self.fallbacks) + describe_short_calibrations(self.short_calibrations) + \
            self.history_notes


def run_backtest(data: pd.DataFrame | Panel, models: Sequence[str | Model | GlobalModel], h: int, n_windows: int = 3,
                 step_size: int | None = None, level: Sequence[int] | None = None, refit: bool = True,
                 freq: str | None = None, n_jobs: int | None = None, nonnegative: bool | None = None,
                 progress: Progress | None = None, source: str | None = None, text_cols: Sequence[str] | None = None,
                 future_text_cols: Sequence[str] = (), description_col: str | None = None,
                 text_encoder: str | None = None) -> Backtest:
    """Rolling-origin backtest of `models` (seasonal naive is always added) on a Panel or a long frame.

    Arguments are those of `Forecaster` and `Forecaster.cross_validation`; `source` names the
    data in messages and in the report (default: the Panel's source). Raises DataError for bad
    data, ValueError for bad settings.
    """
    configs = [build(model) for model in models]
    if REFERENCE not in [config.name for config in configs]:
        configs.append(SeasonalNaive())
    forecaster = Forecaster(configs, h=h, freq=freq, level=level, n_jobs=n_jobs, nonnegative=nonnegative,
                            progress=progress, text_cols=text_cols, future_text_cols=future_text_cols,
                            description_col=description_col, text_encoder=text_encoder)
    panel = validate_frame(data, freq=freq, source=source) if freq or not isinstance(data, Panel) else data
    forecasts = forecaster.cross_validation(panel, n_windows=n_windows, step_size=step_size, refit=refit)
    period = season_length(forecaster.freq_)
    history = panel.frame[["unique_id", "ds", "y"]]
    summary = summarize(forecasts, history, period)
    settings = {
        "source": source or panel.source, "n_series": panel.report.n_series, "freq": forecaster.freq_,
        "season_length": period, "models": [config.name for config in configs], "h": forecaster.h,
        "n_windows": n_windows, "step_size": step_size or forecaster.h, "level": forecaster.level, "refit": refit,
        "nonnegative": forecaster.nonnegative_,
        "text": "; ".join(describe_text(forecaster.panel, forecaster.text_columns_)) or "none",
    }
    per_series, ranking = evaluate(forecasts, history, period), rank(summary)
    return Backtest(settings=settings, panel=panel, forecasts=forecasts, per_series=per_series, summary=summary,
                    ranking=ranking, fallbacks=forecaster.fallbacks, short_calibrations=forecaster.short_calibrations,
                    worst_windows=worst_windows(forecaster, per_series, comparison_metric(ranking)),
                    history_notes=forecaster.history_notes)


def worst_windows(forecaster: Forecaster, per_series: pd.DataFrame, metric: str) -> list[WorstWindow]:
    """For each model whose fits retrieve analogues: its worst (series, cutoff) by `metric`, and what it retrieved."""
    found = []
    retrieving = {config.name for _, fits in forecaster.backtest_fits[:1] for config, fit in zip(forecaster.models, fits)
                  if fit is not None}
    scores = per_series[per_series["metric"] == metric]
    for model in [config.name for config in forecaster.models if config.name in retrieving]:
        if scores[model].notna().any():
            worst = scores.loc[scores[model].idxmax()]
            table, futures = forecaster.window_analogues(model, worst["unique_id"], worst["cutoff"])
            found.append(WorstWindow(model, worst["unique_id"], pd.Timestamp(worst["cutoff"]), metric,
                                     float(worst[model]), table, futures))
    return found


def rank(summary: pd.DataFrame) -> pd.DataFrame:
    """Columns model, mase, smape, rmse, coverage-<level>..., mase_vs_reference (the model's MASE over
    seasonal naive's; NaN where undefined) and beats_reference (strictly lower than seasonal naive on the
    ranking metric); best first. The ranking metric is MASE, or where MASE is undefined sMAPE or RMSE
    (see `metrics.comparison_metric`)."""
    coverage = [metric for metric in summary.index if metric.startswith("coverage-")]
    ranking = summary.loc[list(COMPARED) + coverage].T.rename_axis("model").reset_index()
    ranking.columns.name = None
    metric = comparison_metric(ranking)
    mase_ratio = ranking["mase"] / summary.loc["mase", REFERENCE]
    ranking["mase_vs_reference"] = mase_ratio.where(np.isfinite(mase_ratio))
    ranking["beats_reference"] = ranking[metric] < summary.loc[metric, REFERENCE]
    return ranking.sort_values(metric, kind="stable", na_position="last").reset_index(drop=True)


def exact_series(per_series: pd.DataFrame) -> list[str]:
    """The series whose history seasonal naive repeats exactly at some cutoff, from `evaluate`'s output: its
    in-sample error is 0 there, so every model's MASE is undefined (NaN or infinite)."""
    mase = per_series[per_series["metric"] == "mase"]
    return list(dict.fromkeys(mase.loc[~np.isfinite(mase[REFERENCE].to_numpy(dtype=float)), "unique_id"].astype(str)))


def verdict(ranking: pd.DataFrame, exact: Sequence[str] = (), season_length: int | None = None) -> str:
    """E.g. "ets has the lowest MASE, 0.71x seasonal naive; theta does not beat seasonal naive."; where MASE is
    undefined, it first says why (`exact`: the series seasonal naive repeats exactly, see `exact_series`) and
    which metric the models are compared on instead."""
    challengers = ranking[ranking["model"] != REFERENCE]
    if challengers.empty:
        return "Seasonal naive (the reference) was the only model backtested."
    metric = comparison_metric(ranking)
    best, label = ranking.iloc[0], LABELS[metric]
    if best["model"] == REFERENCE:
        reference = "Seasonal naive" if metric == "mase" else "seasonal naive"  # else it follows a comma
        parts = [f"{reference} (the reference) has the lowest {label}"]
    else:
        ratio = best[metric] / ranking.loc[ranking["model"] == REFERENCE, metric].iloc[0]
        parts = [f"{best['model']} has the lowest {label}" + (f", {ratio:.2f}x seasonal naive" if np.isfinite(ratio) else "")]
    also = challengers[challengers["beats_reference"] & (challengers["model"] != best["model"])]["model"].tolist()
    losers = challengers[~challengers["beats_reference"]]["model"].tolist()
    if also:
        parts.append(f"{_joined(also)} also {'beats' if len(also) == 1 else 'beat'} seasonal naive")
    if losers:
        parts.append(f"{_joined(losers)} {'does' if len(losers) == 1 else 'do'} not beat seasonal naive")
    sentence = "; ".join(parts) + "."
    if metric == "mase":
        return sentence
    return f"{_why_not_mase(ranking, exact, season_length)} Compared on {label} instead, {sentence}"


def _why_not_mase(ranking: pd.DataFrame, exact: Sequence[str], season_length: int | None) -> str:
    """Why the models are not compared on MASE, in one sentence."""
    if exact:
        named = ", ".join(exact[:NAMED_SERIES]) + (", …" if len(exact) > NAMED_SERIES else "")
        which = f"series {named} repeats" if len(exact) == 1 else f"{len(exact)} series ({named}) repeat"
        every = f"every {season_length} steps" if season_length else "every season"
        return (f"MASE is undefined on this data: {which} exactly {every}, so seasonal naive's in-sample error, "
                "which MASE divides by, is 0.")
    undefined = ranking[~np.isfinite(ranking["mase"].to_numpy(dtype=float))]["model"].tolist()
    return f"MASE is undefined for {_joined(undefined)}."


def _joined(names: list[str]) -> str:
    """a; a and b; a, b and c."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

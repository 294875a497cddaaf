"""`auto`, its median ensemble and `linear` on ETTh1's two protocols, beside the ridge floor and seasonal naive.

Each model is fitted as a user fits it, on the standardised rows before the protocol's test rows (auto runs its
own backtest on the last windows of those rows and chooses there), then forecasts test windows from the same fit.
Auto's members are local statistical models that forecast each window from its own history, so on a 2-core CPU
the test windows are sampled every `--stride` origins (first target at the test's first row, all H targets
inside the test rows); every model is scored on the same sampled windows. The ensemble is auto's
`ensemble_median` option (the median of its three best candidates) whether or not auto chose it. Nothing here
is random (auto's default candidates train nothing), so one run stands for every seed.

    .venv/bin/python -W ignore benchmarks/auto_etth1.py [--stride 48] [--horizons 24 48 ...]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch

from etth1 import DATA, LINEAR_LOOKBACK, fit_ridge, load_ett
from forecasting import Forecaster
from forecasting.api.auto import MEDIAN, Auto, FittedAuto
from forecasting.models.base import History

HORIZONS = {"informer": (24, 48, 168, 336, 720), "lookback96": (96, 192, 336, 720)}
SEASON = 24


def history_before(values: np.ndarray, dates: pd.Series, t: int) -> History:
    columns = range(values.shape[1])
    return History(ids=[f"c{c}" for c in columns], values=[values[:t, c] for c in columns],
                   last_ds=[dates.iloc[t - 1]] * values.shape[1])


def as_frame(history: History) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": series, "y": y,
                                    "ds": pd.date_range(end=last, periods=len(y), freq="h")})
                      for series, y, last in zip(history.ids, history.values, history.last_ds)], ignore_index=True)


def option_forecasts(fit: FittedAuto, label: str, frame: pd.DataFrame, h: int):
    """A function from a history to the option's forecasts [S, h], its members fitted on `frame`."""
    option = fit.options[label]
    members = Forecaster(list(option.members), h=h, freq="h").fit(frame)

    def forecast(history: History) -> np.ndarray:
        by_member = members.forecasts_for(history)                                    # [member][series]
        return np.stack([option.combine([part[s] for part in by_member], []).mean for s in range(len(history.ids))])
    return forecast


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stride", type=int, default=48)
    parser.add_argument("--horizons", type=int, nargs="+")
    args = parser.parse_args()
    standardised, calendar, split = load_ett("ETTh1")
    block = (standardised, calendar)
    dates = pd.read_csv(DATA / "ETTh1.csv", usecols=["date"], parse_dates=["date"])["date"]
    values = standardised.astype(np.float64)
    fitted = history_before(values, dates, split.test.start)
    frame = as_frame(fitted)
    horizons = sorted({h for hs in HORIZONS.values() for h in hs} if args.horizons is None else set(args.horizons))
    rows = []
    for h in horizons:
        began = time.perf_counter()
        fit = Auto().fit_panel(fitted, "h", h, [])
        auto_seconds = time.perf_counter() - began
        models = {"auto": option_forecasts(fit, fit.best, frame, h),
                  "ensemble (median of 3)": option_forecasts(fit, MEDIAN, frame, h),
                  "linear": option_forecasts(fit, "linear", frame, h) if "linear" in fit.options else None}
        floor = fit_ridge(block, split, h)
        origins = np.arange(split.test.start, split.test.stop - h + 1, args.stride)
        squared = {name: 0.0 for name in [*models, "ridge floor", "seasonal naive"]}
        for t in origins:
            actual = values[t:t + h].T                                                   # [S, h]
            history = history_before(values, dates, t)
            predictions = {name: forecast(history) for name, forecast in models.items() if forecast is not None}
            x = torch.tensor(standardised[t - LINEAR_LOOKBACK:t][None])                  # [1, L, C]
            predictions["ridge floor"] = floor(SimpleNamespace(x=x))[0].numpy().T
            predictions["seasonal naive"] = np.tile(values[t - SEASON:t].T, -(-h // SEASON))[:, :h]
            for name, forecast in predictions.items():
                squared[name] += float(((forecast - actual) ** 2).mean()) / len(origins)
        row = {"H": h, "windows": len(origins),
               "auto chose": f"{fit.best} ({', '.join(fit.options[fit.best].members)})",
               "auto fit s": round(auto_seconds, 1), **squared}
        row["ensemble members"] = ", ".join(fit.options[MEDIAN].members)
        row["auto / floor"] = row["auto"] / row["ridge floor"]
        rows.append(row)
        print(row, flush=True)
        print(fit.comparison()[["option", "members", "score", "seconds", "status"]].to_markdown(index=False,
                                                                                                 floatfmt=".3f"))
    table = pd.DataFrame(rows)
    print(f"\nETTh1, test MSE (standardised) on every {args.stride}th test origin; {platform.machine()}, "
          f"{os.cpu_count()} cores, {date.today()}")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    for protocol, hs in HORIZONS.items():
        part = table[table["H"].isin(hs)]
        if len(part) == len(hs):
            print(f"{protocol}: average MSE " + ", ".join(f"{name} {part[name].mean():.4f}" for name in
                                                          ("auto", "ensemble (median of 3)", "linear", "ridge floor",
                                                           "seasonal naive")))


if __name__ == "__main__":
    main()

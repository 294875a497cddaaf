"""M4 Hourly (414 series, h = 48) or Weekly (359 series, h = 13), scored as the M4 competition scored them.

Reproducing the official naive rows proves the metrics (sMAPE, MASE with M4's m: 24 hourly, 1 weekly; OWA
relative to Naive2); the other models are reported next to the official rows of the M4 workbook, with the share
of actuals inside their 80% and 95% intervals.

    .venv/bin/python benchmarks/m4.py [--frequency hourly|weekly] [--models seasonal_naive naive2 ets ...] [--limit N]

The official benchmarks (naive2, seasonal_naive, naive, theta) run with M4's season; NAME:product runs one with the
product's defaults instead (seasonal_naive:product: the strongest of the frequency's seasons).

The models see only the train file; M4 has no dates, so hourly series start at 2000-01-01 00:00 and weekly ones on
Sunday 2000-01-02 (a shared, arbitrary phase).
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting import Forecaster, model
from forecasting.evaluation.metrics import summarize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parents[1] / "out"
# per frequency: horizon, M4's seasonal period for MASE and Naive2, the models' pandas frequency, its column suffix
FREQUENCIES = {"hourly": (48, 24, "h", "Hourly"), "weekly": (13, 1, "W-SUN", "Weekly")}
OFFICIAL = {"Naive2": "naive2", "sNaive": "seasonal_naive", "Naive": "naive", "Theta": "theta"}  # method_id -> ours
LEVELS = [80, 95]
PRODUCT = ":product"   # NAME:product runs one of the official models with the product's defaults, not M4's season


def load_m4(split: str, limit: int | None, frequency: str = "hourly") -> pd.DataFrame:
    """The wide M4 file as a long frame (unique_id, y, step: the value's position in its series)."""
    wide = pd.read_csv(DATA / f"M4-{FREQUENCIES[frequency][3]}-{split}.csv", index_col=0).head(limit)
    frames = []
    for series_id, row in wide.iterrows():
        y = row.dropna().to_numpy(dtype=float)
        frames.append(pd.DataFrame({"unique_id": series_id, "y": y}))
    long = pd.concat(frames, ignore_index=True)
    long["step"] = long.groupby("unique_id").cumcount()
    return long


def product_column(name: str) -> str:
    """The column a model run with the product's defaults writes: its name, or NAME:product for an official one."""
    return name + PRODUCT if name in OFFICIAL.values() else name


def ensemble_columns(forecasts: pd.DataFrame, compared: dict[str, pd.DataFrame], train: pd.DataFrame, h: int,
                     n_jobs: int | None) -> list[str]:
    """Adds auto's median ensemble (its three best candidates) as a column, with its bounds: the median of the
    members' forecasts and of each bound, as auto combines them. Members that ran here with the product's defaults
    are re-used (their fits on the train file are the ones auto makes); the others are fitted here. Returns the
    names added."""
    added = []
    for auto, table in compared.items():
        option = table.set_index("option").loc["ensemble_median"]
        members = option["members"].split(", ")
        name = f"ensemble_median ({option['members']})"
        suffixes = ["", *(f"-{side}-{level}" for level in LEVELS for side in ("lo", "hi"))]
        if option["status"] == "chosen":             # auto chose it: auto's forecast is the ensemble's
            for suffix in suffixes:
                forecasts[name + suffix] = forecasts[auto + suffix]
            added.append(name)
            continue
        missing = [member for member in members if product_column(member) not in forecasts]
        parts = forecasts.rename(columns=lambda c: c.replace(PRODUCT, ""))
        if missing:
            own = Forecaster(missing, h=h, level=LEVELS, n_jobs=n_jobs).fit(train).predict()
            parts = parts.drop(columns=[c for c in own if c not in ("unique_id", "ds")], errors="ignore").merge(
                own, on=["unique_id", "ds"])
        for suffix in suffixes:
            forecasts[name + suffix] = parts[[member + suffix for member in members]].median(axis=1).to_numpy()
        added.append(name)
    return added


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frequency", choices=list(FREQUENCIES), default="hourly")
    parser.add_argument("--models", nargs="+", default=["seasonal_naive", "naive2", "naive", "theta", "ets", "arima"])
    parser.add_argument("--limit", type=int, help="first N series only (for a quick look)")
    parser.add_argument("--n-jobs", type=int)
    args = parser.parse_args()

    H, SEASON, freq, column = FREQUENCIES[args.frequency]
    OUT.mkdir(exist_ok=True)
    train, test = load_m4("train", args.limit, args.frequency), load_m4("test", args.limit, args.frequency)
    lengths = train.groupby("unique_id")["step"].max() + 1
    stamps = pd.date_range("2000-01-01", periods=int(lengths.max()) + H, freq=freq)
    train["ds"] = stamps[train["step"].to_numpy()]
    test["ds"] = stamps[(test["step"] + test["unique_id"].map(lengths)).to_numpy()]
    train, test = train[["unique_id", "ds", "y"]], test[["unique_id", "ds", "y"]]
    n_series = train["unique_id"].nunique()

    forecasts = test.copy()
    seconds, notes, compared = {}, [], {}
    for name in args.models:
        began = time.perf_counter()
        registered = name.removesuffix(PRODUCT)
        # M4's own benchmarks use M4's seasonal period (weekly: none), so they reproduce the official rows
        config = model(name, season_length=SEASON) if name in OFFICIAL.values() else registered
        forecaster = Forecaster([config], h=H, level=LEVELS, n_jobs=args.n_jobs).fit(train)
        predicted = forecaster.predict().rename(columns=lambda c: name + c[len(registered):]
                                                if c.startswith(registered) else c)
        seconds[name] = time.perf_counter() - began
        notes += forecaster.choice_notes
        compared.update(forecaster.comparisons())
        forecasts = forecasts.merge(predicted, on=["unique_id", "ds"], how="left")
        forecasts.to_csv(OUT / f"m4_{args.frequency}_forecasts.csv", index=False)  # kept, so scores can be re-checked
    ensembles = ensemble_columns(forecasts, compared, train, H, args.n_jobs)
    summary = summarize(forecasts, train, season_length=SEASON).T

    official = pd.read_csv(DATA / "M4-point-forecast-scores.csv")
    official = official[official["method_id"].isin(OFFICIAL)].set_index("method_id")
    rows = []
    for name in args.models + ensembles:
        row = {"model": name, "sMAPE": summary.loc[name, "smape"], "MASE": summary.loc[name, "mase"],
               "OWA": summary.loc[name, "owa"], "coverage80": summary.loc[name, "coverage-80"],
               "coverage95": summary.loc[name, "coverage-95"], "seconds/series": seconds.get(name, np.nan) / n_series}
        match = [key for key, value in OFFICIAL.items() if value == name]
        if match and args.limit is None:
            ref = official.loc[match[0]]
            row.update({"official sMAPE": ref[f"sMAPE_{column}"], "official MASE": ref[f"MASE_{column}"],
                        "official OWA": ref[f"OWA_{column}"]})
            row["max rel. diff %"] = 100 * max(abs(row[m] / row[f"official {m}"] - 1) for m in ("sMAPE", "MASE", "OWA"))
        rows.append(row)
    table = pd.DataFrame(rows)
    print(f"M4 {column}, {n_series} series, h={H}, m={SEASON}; {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, {date.today()}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    for note in notes:
        print(note)
    for name, table in compared.items():     # what auto compared: each option's backtest score, coverage, time
        print(f"\n{name} compared (backtest on the train file's last windows):")
        print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

"""M4 Hourly: all 414 series, h = 48, scored as the M4 competition scored them.

Reproducing the official seasonal-naive row proves the metrics (sMAPE, MASE with m = 24, OWA
relative to Naive2); the other models are reported next to the official rows of the M4 workbook.

    .venv/bin/python benchmarks/m4_hourly.py [--models seasonal_naive naive2 ets theta arima] [--limit N]
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting import Forecaster
from forecasting.evaluation.metrics import summarize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parents[1] / "out"
H, SEASON = 48, 24
OFFICIAL = {"Naive2": "naive2", "sNaive": "seasonal_naive", "Naive": "naive", "Theta": "theta"}  # method_id -> ours


def load_m4(split: str, limit: int | None) -> pd.DataFrame:
    """The wide M4 file as a long frame; M4 Hourly has no dates, so hours count from 2000-01-01."""
    wide = pd.read_csv(DATA / f"M4-Hourly-{split}.csv", index_col=0).head(limit)
    frames = []
    for series_id, row in wide.iterrows():
        y = row.dropna().to_numpy(dtype=float)
        frames.append(pd.DataFrame({"unique_id": series_id, "y": y}))
    long = pd.concat(frames, ignore_index=True)
    long["step"] = long.groupby("unique_id").cumcount()
    return long


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["seasonal_naive", "naive2", "naive", "theta", "ets", "arima"])
    parser.add_argument("--limit", type=int, help="first N series only (for a quick look)")
    parser.add_argument("--n-jobs", type=int)
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    train, test = load_m4("train", args.limit), load_m4("test", args.limit)
    start = pd.Timestamp("2000-01-01")
    train["ds"] = start + pd.to_timedelta(train["step"], unit="h")
    lengths = train.groupby("unique_id")["step"].max() + 1
    test["ds"] = start + pd.to_timedelta(test["step"] + test["unique_id"].map(lengths), unit="h")
    train, test = train[["unique_id", "ds", "y"]], test[["unique_id", "ds", "y"]]
    n_series = train["unique_id"].nunique()

    forecasts = test.copy()
    seconds = {}
    for name in args.models:
        began = time.perf_counter()
        predicted = Forecaster([name], h=H, level=[95], n_jobs=args.n_jobs).fit(train).predict()
        seconds[name] = time.perf_counter() - began
        forecasts = forecasts.merge(predicted, on=["unique_id", "ds"], how="left")
        forecasts.to_csv(OUT / "m4_hourly_forecasts.csv", index=False)  # kept, so scores can be re-checked
    summary = summarize(forecasts, train, season_length=SEASON).T

    official = pd.read_csv(DATA / "M4-point-forecast-scores.csv")
    official = official[official["method_id"].isin(OFFICIAL)].set_index("method_id")
    rows = []
    for name in args.models:
        row = {"model": name, "sMAPE": summary.loc[name, "smape"], "MASE": summary.loc[name, "mase"],
               "OWA": summary.loc[name, "owa"], "coverage95": summary.loc[name, "coverage-95"],
               "seconds/series": seconds[name] / n_series}
        match = [key for key, value in OFFICIAL.items() if value == name]
        if match and args.limit is None:
            ref = official.loc[match[0]]
            row.update({"official sMAPE": ref["sMAPE_Hourly"], "official MASE": ref["MASE_Hourly"],
                        "official OWA": ref["OWA_Hourly"]})
            row["max rel. diff %"] = 100 * max(abs(row[m] / row[f"official {m}"] - 1) for m in ("sMAPE", "MASE", "OWA"))
        rows.append(row)
    table = pd.DataFrame(rows)
    print(f"M4 Hourly, {n_series} series, h={H}, m={SEASON}; {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, {date.today()}")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

"""Choose the retrieval's clip on analogues' futures (keys.FUTURE_LIMIT) on validation windows only.

Each candidate limit scores the analog model by a rolling-origin backtest on the training data alone: the last 3
horizons of M4 Hourly's and M4 Weekly's train files (h = 48 and 13; MASE with M4's m), and of ETTh1's rows before
the Informer protocol's test rows (h = 24, 7 columns, raw units; MASE with m = 24). No test row is read.

    .venv/bin/python -W ignore benchmarks/analog_limit.py
"""
from __future__ import annotations

import os
import platform
from datetime import date

import numpy as np
import pandas as pd

import forecasting.retrieval.keys as keys
from etth1 import DATA
from forecasting import Forecaster
from forecasting.evaluation.metrics import summarize
from m4 import FREQUENCIES, load_m4

CANDIDATES = (None, 5.0, 10.0, 20.0, 50.0)
WINDOWS = 3
ETTH1_TEST_START = 12 * 30 * 24 + 4 * 30 * 24   # the Informer protocol's 12/4/4-month split


def m4_train(frequency: str) -> tuple[pd.DataFrame, int, int, str]:
    h, season, freq, _ = FREQUENCIES[frequency]
    train = load_m4("train", None, frequency)
    start = "2000-01-01" if frequency == "hourly" else "2000-01-02"
    stamps = pd.date_range(start, periods=int(train["step"].max()) + 1, freq=freq)
    train["ds"] = stamps[train.pop("step").to_numpy()]
    return train, h, season, freq


def etth1_train() -> tuple[pd.DataFrame, int, int, str]:
    wide = pd.read_csv(DATA / "ETTh1.csv", parse_dates=["date"]).iloc[:ETTH1_TEST_START]
    long = wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    return long, 24, 24, "h"


def main() -> None:
    datasets = {"M4 Hourly": m4_train("hourly"), "M4 Weekly": m4_train("weekly"), "ETTh1 (before test)": etth1_train()}
    rows = []
    for name, (frame, h, season, freq) in datasets.items():
        for limit in CANDIDATES:
            keys.FUTURE_LIMIT = limit
            forecasts = Forecaster(["analog"], h=h, freq=freq, level=[80, 95]).cross_validation(
                frame, n_windows=WINDOWS, refit=False)
            summary = summarize(forecasts, frame, season_length=season)["analog"]
            rows.append({"data": name, "limit": "none" if limit is None else f"{limit:g}",
                         "MASE": summary["mase"], "sMAPE": summary["smape"],
                         "coverage80": summary["coverage-80"], "coverage95": summary["coverage-95"]})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["MASE / unclipped"] = table["MASE"] / table.groupby("data")["MASE"].transform("first")
    print(f"\nanalog's validation backtest ({WINDOWS} windows) per clip; {platform.machine()}, {os.cpu_count()} cores, "
          f"{date.today()}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    ratios = table.pivot(index="limit", columns="data", values="MASE / unclipped")
    geometric = np.exp(np.log(ratios).mean(axis=1)).sort_values()
    print("\ngeometric mean of MASE / unclipped over the three data sets:")
    print(geometric.to_frame("ratio").to_markdown(floatfmt=".4f"))


if __name__ == "__main__":
    main()

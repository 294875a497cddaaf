"""The product's `linear` model on ETTh1's two protocols, beside the benchmark's ridge floor and seasonal naive.

The model is fitted as a user fits it (through its own held-out validation and calibration rows) on every row
before the protocol's test rows, then forecasts every test window (all of them, stride 1) from the same fitted
maps; the floor and seasonal naive score the same windows (benchmarks/etth1.py). MSE and MAE are on the
standardised data, as published. `linear` chooses its own lookback; `linear (lookback 96)` keeps the lookback-96
protocol's input length. Nothing here reads the test rows before scoring.

    .venv/bin/python -W ignore benchmarks/linear.py
"""
from __future__ import annotations

import os
import platform
import time
from datetime import date

import numpy as np
import pandas as pd

from etth1 import DATA, LINEAR_LOOKBACK, load_ett, ridge_floor, seasonal_naive
from forecasting.models.base import History
from forecasting.models.linear import FittedLinear, Linear, _phases

HORIZONS = {"informer": (24, 48, 168, 336, 720), "lookback96": (96, 192, 336, 720)}


def test_scores(fit: FittedLinear, values: np.ndarray, history: History, test: range, h: int) -> tuple[float, float]:
    """MSE and MAE of `fit` over every test window (first target in the test rows, all h targets inside them)."""
    squared = absolute = count = 0.0
    for s, phase in enumerate(_phases(history, "h")):
        y = values[:, s] / fit.scales[s]
        origins = np.arange(max(test.start, fit.design.lookback), test.stop - h + 1)
        inputs, last = fit.design.inputs(y, phase, origins)
        forecast = (inputs @ fit.maps.weights_of(s) + last) * fit.scales[s]
        actual = np.lib.stride_tricks.sliding_window_view(values[:, s], h)[origins]
        squared += float(((forecast - actual) ** 2).sum())
        absolute += float(np.abs(forecast - actual).sum())
        count += actual.size
    return squared / count, absolute / count


def main() -> None:
    standardised, calendar, split = load_ett("ETTh1")
    block = (standardised, calendar)
    dates = pd.read_csv(DATA / "ETTh1.csv", usecols=["date"], parse_dates=["date"])["date"]
    values = standardised.astype(np.float64)
    fitted_rows = split.test.start          # train and validation rows of the protocol
    history = History(ids=[f"c{c}" for c in range(values.shape[1])],
                      values=[values[:fitted_rows, c] for c in range(values.shape[1])],
                      last_ds=[dates.iloc[fitted_rows - 1]] * values.shape[1])
    rows = []
    for protocol, horizons in HORIZONS.items():
        for h in horizons:
            row = {"protocol": protocol, "H": h}
            for label, model in (("linear", Linear()), ("linear (lookback 96)", Linear(lookback=LINEAR_LOOKBACK))):
                began = time.perf_counter()
                fit = model.fit_panel(history, "h", h, [])
                row[f"{label} fit s"] = round(time.perf_counter() - began, 2)
                row[label] = test_scores(fit, values, history, split.test, h)[0]
                if label == "linear":
                    row["chosen"] = f"L={fit.design.lookback} {fit.pooling} " + \
                        (f"penalty={fit.penalty:g}" if fit.pooling == "shared" else f"shrinkage={fit.shrinkage:g}")
            row["ridge floor"] = ridge_floor(block, split, h)[0]
            row["seasonal naive"] = seasonal_naive(block, split, h)[0]
            row["linear / floor"] = row["linear"] / row["ridge floor"]
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows)
    print(f"\nETTh1, test MSE (standardised); {platform.machine()}, {os.cpu_count()} cores, {date.today()}")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    for protocol in HORIZONS:
        part = table[table.protocol == protocol]
        print(f"{protocol}: average MSE linear {part['linear'].mean():.4f}, linear (lookback 96) "
              f"{part['linear (lookback 96)'].mean():.4f}, ridge floor {part['ridge floor'].mean():.4f}, "
              f"seasonal naive {part['seasonal naive'].mean():.4f}")


if __name__ == "__main__":
    main()

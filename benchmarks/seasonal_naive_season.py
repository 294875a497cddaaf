"""Choose seasonal naive's margin for a longer season (seasonality.LONGER_SEASON_MARGIN) on validation only.

Hourly data may repeat daily (24) or weekly (168). Each candidate margin chooses every series' season on its
history, and that seasonal naive forecasts the validation horizon: the last 48 hours of each M4 Hourly train series
(its history before them), and the last 3 x 24 hours before the Informer protocol's test rows of each ETTh1 column
(origins 24 apart). Scored by MASE (m = 24) beside the daily-only seasonal naive; no test row is read.

    .venv/bin/python -W ignore benchmarks/seasonal_naive_season.py
"""
from __future__ import annotations

import os
import platform
from datetime import date

import numpy as np
import pandas as pd

import forecasting.models.statistical.seasonality as seasonality
from analog_limit import ETTH1_TEST_START
from etth1 import DATA
from m4 import load_m4

MARGINS = (0.0, 0.05, 0.1, 0.2, 0.3)
SEASONS = (24, 168)


def cases() -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Per data set: (history, validation actuals) pairs."""
    m4 = [(g["y"].to_numpy(float)[:-48], g["y"].to_numpy(float)[-48:])
          for _, g in load_m4("train", None, "hourly").groupby("unique_id", sort=False)]
    wide = pd.read_csv(DATA / "ETTh1.csv").drop(columns="date").to_numpy(float)[:ETTH1_TEST_START]
    ett = [(wide[:end - 24, c], wide[end - 24:end, c]) for c in range(wide.shape[1])
           for end in (len(wide) - 48, len(wide) - 24, len(wide))]
    return {"M4 Hourly (last 48 of train)": m4, "ETTh1 (3 x 24 before test)": ett}


def mase(history: np.ndarray, actual: np.ndarray, season: int) -> float:
    forecast = history[-season:][np.arange(len(actual)) % season]
    scale = np.mean(np.abs(history[24:] - history[:-24]))
    return float(np.mean(np.abs(actual - forecast)) / scale)


def main() -> None:
    rows = []
    for name, pairs in cases().items():
        daily = np.mean([mase(history, actual, 24) for history, actual in pairs])
        for margin in MARGINS:
            seasonality.LONGER_SEASON_MARGIN = margin
            seasons = [seasonality.strongest_season(history, 24, SEASONS) for history, _ in pairs]
            score = np.mean([mase(history, actual, s) for (history, actual), s in zip(pairs, seasons)])
            rows.append({"data": name, "margin": margin, "weekly chosen": f"{np.mean(np.array(seasons) == 168):.0%}",
                         "MASE": score, "daily only": daily, "ratio": score / daily})
    table = pd.DataFrame(rows)
    print(f"seasonal naive's season by margin, validation MASE; {platform.machine()}, {os.cpu_count()} cores, "
          f"{date.today()}")
    print(table.to_markdown(index=False, floatfmt=".4f"))
    geometric = np.exp(np.log(table.pivot(index="margin", columns="data", values="ratio")).mean(axis=1))
    print("\ngeometric mean of MASE / daily only:")
    print(geometric.to_frame("ratio").to_markdown(floatfmt=".4f"))


if __name__ == "__main__":
    main()

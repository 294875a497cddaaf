"""Fit and forecast time of a local model on ETTh1 (7 x 17,420 hours) with its default max_history (the latest 2,000
values) and with every value, side by side in one process.

    .venv/bin/python -W ignore benchmarks/max_history.py [--model theta]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

import forecasting as fc
from forecasting.models import model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="theta")
    args = parser.parse_args()
    wide = pd.read_csv(DATA / "ETTh1.csv")
    long = wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})
    for label, config in (("latest 2,000", model(args.model)), ("every value", model(args.model, max_history=None))):
        began = time.perf_counter()
        fc.Forecaster([config], h=24, level=[80, 95]).fit(long).predict()
        print(f"{args.model}, {label}: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()

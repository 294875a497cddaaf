"""Fine-tuning's defaults (learning rate, by mode), chosen on validation series, never on a transfer target.

The panel: the real series the bundled model's corpus held out for validation (by a hash of their names; the
model never trained on them), each at most its last 4,000 steps. Each series' last h = 48 rows are scored; the
rows before them are all the fine-tuning sees (it chooses its epoch on their own last 48). Candidates: linear
probe and full fine-tuning at learning rates 1e-4, 3e-4, 1e-3 (5 epochs of 50 steps, batch 32), beside
zero-shot. Score: the mean over series of the pinball loss over the 11 quantiles, each series divided by the
mean absolute value of its scored rows (so a series' scale does not weigh), and MAE of the median likewise.

    .venv/bin/python -W ignore benchmarks/fine_tune_choice.py
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecasting.models.base import History
from forecasting.models.pretrained import BUNDLED, FittedPretrained, Pretrained, fine_tune
from forecasting.pretraining.corpus import CorpusConfig, is_validation, read_real
from forecasting.pretraining.train import load_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"
H = 48


def panel() -> tuple[History, np.ndarray]:
    """The corpus' validation series, less their last H rows, and those rows [S, H]."""
    config = CorpusConfig()
    series = {name: values[-4000:].astype(np.float32) for named in read_real(config.sources).values()
              for name, values in named.items() if is_validation(name, config.validation_share)
              and len(values) >= 4 * H}
    history = History(ids=list(series), values=[v[:-H] for v in series.values()],
                      last_ds=[pd.Timestamp("2000-01-01")] * len(series))
    return history, np.stack([v[-H:] for v in series.values()])


def score(fit: FittedPretrained, history: History, future: np.ndarray, paths: int) -> dict:
    quantiles = fit.predict(history.values, H, paths)                                       # [S, H, Q]
    grid = np.array(fit.model.config.quantiles)
    error = future[..., None] - quantiles
    pinball = np.maximum(grid * error, (grid - 1) * error).mean((1, 2))                   # [S]
    scale = np.abs(future).mean(1) + 1e-8
    median = quantiles[..., list(grid).index(0.5)]
    return {"pinball": float(np.mean(pinball / scale)), "mae": float(np.mean(np.abs(future - median).mean(1) / scale))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learning-rates", type=float, nargs="+", default=[1e-4, 3e-4, 1e-3])
    parser.add_argument("--tunings", nargs="+", default=["linear_probe", "full"])
    parser.add_argument("--out", type=Path, default=RESULTS / "fine_tune_choice.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    history, future = panel()
    paths = Pretrained().sample_paths
    model, _ = load_checkpoint(BUNDLED)
    rows = [{"tuning": "zero_shot", "series": len(history.ids),
             **score(FittedPretrained("almanac_base", model, "causal", "zero_shot"), history, future, paths)}]
    print(json.dumps(rows[-1]), flush=True)
    for tuning in args.tunings:
        for rate in args.learning_rates:
            model, _ = load_checkpoint(BUNDLED)
            started = time.perf_counter()
            epochs = fine_tune(model, history, H, Pretrained(tuning=tuning, learning_rate=rate))
            rows.append({"tuning": tuning, "learning_rate": rate, "seconds": round(time.perf_counter() - started),
                         "best_epoch": min(epochs, key=lambda row: row["validation_loss"])["epoch"],
                         **score(FittedPretrained("almanac_base", model.eval(), "causal", tuning), history, future,
                                 paths)})
            print(json.dumps(rows[-1]), flush=True)
    with args.out.open("w") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)


if __name__ == "__main__":
    main()

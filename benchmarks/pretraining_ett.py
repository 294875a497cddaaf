"""A pretrained checkpoint on Time-LLM's transfer protocols, beside its published rows and the ridge floor.

  zero-shot ETTh1 -> ETTh2: ETTh2's test months (12/4/4-month split, each channel standardised by ETTh2's
      training statistics), every window, H = 96, 192, 336, 720. Rows: the checkpoint as pretrained (its
      corpus holds ETTh1's and ETTm1's first 12 months, ETTh1's training months, and no ETTh2 or ETTm2), and
      fine-tuned on ETTh1's training months ("full" tuning) then scored on ETTh2: Time-LLM's protocol.
  10% few-shot ETTh1: fine-tuned on the first 10% of ETTh1's training windows (Time-LLM's cut), scored on
      ETTh1's test months; and the checkpoint zero-shot on the same months.

The model reads the last 448 steps of each window (28 patches of 16; Time-LLM reads 512); the ridge floor,
fit on the same training rows, reads 512. MSE / MAE on the standardised values, every channel and window.

    cd benchmarks && ../.venv/bin/python -W ignore pretraining_ett.py [--checkpoint DIR] [--horizons 96]
    cd benchmarks && ../.venv/bin/python -W ignore pretraining_ett.py --horizons 336 720 --no-fine-tuning

The forecasts feed back the median (one path): these protocols score the point forecast alone. Fine-tuning
needs 2H + 1 rows a channel (its last H choose the epoch); ETTh1's 10% cut holds 1,280 rows, too few at
H = 720: that row says so.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from etth1 import few_shot_split, fit_ridge, load_ett, test_scores, windows_for
from forecasting.models.base import History
from forecasting.models.pretrained import BUNDLED, Pretrained, fine_tune
from forecasting.pretraining.train import load_checkpoint
from timellm import FEW_SHOT_FRACTION, HORIZONS, PUBLISHED

LOOKBACK = 512
RESULTS = Path(__file__).resolve().parent / "results"


def predictor(model):
    """Batch.x [B, L, C] -> the model's median [B, H, C], every channel forecast as its own series."""
    median = model.config.quantiles.index(0.5)

    def predict(batch, horizon):
        B, L, C = batch.x.shape
        out = model.forecast(batch.x.float().permute(0, 2, 1).reshape(B * C, L), horizon)[..., median]
        return out.reshape(B, C, horizon).permute(0, 2, 1).double()
    return predict


def tuned(checkpoint: Path, block: np.ndarray, rows: range, horizon: int, settings: Pretrained):
    """The checkpoint fine-tuned on rows of the block's channels (each its own series)."""
    model, _ = load_checkpoint(checkpoint)
    values = [block[rows.start:rows.stop, c].astype(np.float32) for c in range(block.shape[1])]
    history = History(ids=[str(c) for c in range(block.shape[1])], values=values,
                      last_ds=[pd.Timestamp("2000-01-01")] * block.shape[1])
    started = time.perf_counter()
    record = fine_tune(model, history, horizon, settings)
    return model.eval(), {"seconds": round(time.perf_counter() - started, 1), "epochs": record}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED)
    parser.add_argument("--horizons", type=int, nargs="+", default=list(HORIZONS))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--no-fine-tuning", action="store_true", help="the checkpoint as it is and the floor only")
    parser.add_argument("--out", type=Path, default=RESULTS / "pretraining_ett.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = Pretrained(tuning="full", epochs=args.epochs, steps_per_epoch=args.steps_per_epoch)
    (h1, c1, split1), (h2, c2, split2) = load_ett("ETTh1"), load_ett("ETTh2")
    few = few_shot_split(split1, FEW_SHOT_FRACTION, LOOKBACK)
    pretrained, _ = load_checkpoint(args.checkpoint)
    rows = []
    for horizon in args.horizons:
        tests = {"zero-shot": windows_for((h2, c2), split2, LOOKBACK, horizon)["test"],
                 "few-shot": windows_for((h1, c1), split1, LOOKBACK, horizon)["test"]}
        floors = {"zero-shot": fit_ridge((h1, c1), split1, horizon, LOOKBACK),
                  "few-shot": fit_ridge((h1, c1), few, horizon, LOOKBACK)}
        for setting, test in tests.items():
            row = {"setting": setting, "H": horizon, "windows": len(test),
                   "pretrained, no training on ETTh1": test_scores(
                       lambda b: predictor(pretrained)(b, horizon), test)[:2],
                   "ridge floor L512": test_scores(floors[setting], test)[:2],
                   "published Time-LLM": PUBLISHED[setting]["Time-LLM"][horizon]}
            if not args.no_fine_tuning:
                try:
                    model, row["fine-tuning"] = tuned(args.checkpoint, h1, (split1 if setting == "zero-shot"
                                                                            else few).train, horizon, settings)
                    row["pretrained, fine-tuned (full)"] = test_scores(lambda b: predictor(model)(b, horizon), test)[:2]
                except ValueError as error:          # too few rows to fine-tune for this horizon
                    row["pretrained, fine-tuned (full)"] = f"not run: {error}"
            print(json.dumps(row), flush=True)
            rows.append(row)
            args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

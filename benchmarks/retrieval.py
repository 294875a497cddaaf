"""Retrieval on ETTh1 (lookback-96 protocol): every network with and without fused analogues, the analog
model, the ridge floor and seasonal naive, in one run per horizon.

Each of ETTh1's seven channels is a series of its own (channel independent, as the product trains), so
a window is one channel; batches hold 32 x 7 windows, as many values as etth1.py's 32 seven-channel
windows. The index holds every window of the training months of all seven channels (never a validation
or test row): a training window retrieves only windows that ended before its cutoff, validation and test
windows retrieve from the training months. MSE / MAE on the standardised test split over every test
window and channel, as etth1.py reports them (the same numbers for the ridge floor and seasonal naive).

The analog model's k and temperature are chosen per horizon on the validation windows (every candidate's
validation MSE is recorded); the networks fuse `--k` analogues (not tuned: 10 by default).

    .venv/bin/python benchmarks/retrieval.py --horizons 96 192 336 720 --out benchmarks/results/retrieval_etth1.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate.utils import set_seed

from backbones.retrieval import FusionConfig, RetrievalFusion
from etth1 import DATA, LINEAR_LOOKBACK, REDUCED, load_ett, ridge_floor, seasonal_naive, test_scores
from forecasting.models import network_named
from forecasting.models.neural.training import TrainingConfig, train
from forecasting.models.neural.windows import Split, Windows, make_windows
from forecasting.retrieval.index import IndexedSeries, WindowIndex
from forecasting.retrieval.retriever import Retriever
from forecasting.retrieval.weights import softmax_weights

CHANNELS = 7
ANALOG_K = (5, 10, 20, 50)
ANALOG_TEMPERATURE = (0.02, 0.05, 0.1, 0.2)


def ett_stamps(name: str = "ETTh1") -> np.ndarray:
    return pd.DatetimeIndex(pd.read_csv(DATA / f"{name}.csv", usecols=["date"], parse_dates=["date"])["date"]).asi8


def channel_blocks(values: np.ndarray, time_features: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(values[:, c:c + 1].astype(np.float32), time_features) for c in range(values.shape[1])]


def training_index(values: np.ndarray, stamps: np.ndarray, split: Split, horizon: int) -> WindowIndex:
    """Every window of the training months of each channel."""
    rows = slice(split.train.start, split.train.stop)
    series = [IndexedSeries(f"channel {c}", pd.DatetimeIndex(stamps[rows]), values[rows, c])
              for c in range(values.shape[1])]
    return WindowIndex.build(series, LINEAR_LOOKBACK, horizon, method="exact")


def split_windows(blocks, split: Split, horizon: int, retriever: Retriever | None, stamps: np.ndarray,
                  part: str) -> Windows:
    return make_windows(blocks, LINEAR_LOOKBACK, horizon, [getattr(split, part)] * len(blocks),
                        retriever=retriever, stamps=[stamps] * len(blocks) if retriever else None)


def fit_network(name: str, blocks, split: Split, horizon: int, retriever: Retriever | None, stamps: np.ndarray,
                seed: int) -> tuple[tuple[float, float, int], dict]:
    network_settings, training_settings = REDUCED[name]
    spec = network_named(name)
    set_seed(seed)
    network = spec.module(spec.config(lookback=LINEAR_LOOKBACK, horizon=horizon, channels=1, **network_settings))
    if retriever is not None:
        network = RetrievalFusion(network, FusionConfig(horizon=horizon))
    config = TrainingConfig(seed=seed, **{**training_settings, "batch_size": training_settings["batch_size"] * CHANNELS})
    started = time.perf_counter()
    result = train(network, split_windows(blocks, split, horizon, retriever, stamps, "train"),
                   split_windows(blocks, split, horizon, retriever, stamps, "val"), config, show_bar=False)
    seconds = time.perf_counter() - started
    network.eval()
    with torch.no_grad():
        scores = test_scores(lambda batch: network(batch).double(),
                             split_windows(blocks, split, horizon, retriever, stamps, "test"))
    details = {"train_seconds": round(seconds, 1), "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
               "best_val_loss": round(result.best_val_loss, 5)}
    if retriever is not None:
        details["temperature"] = round(float(network.log_temperature.exp()), 4)
    return scores, details


def analog_scores(index: WindowIndex, blocks, split: Split, horizon: int, stamps: np.ndarray, part: str, k: int,
                  temperature: float) -> tuple[float, float, int]:
    """MSE / MAE of the analog model on the split's windows (each sees the training months only)."""
    retriever = Retriever(index, k)
    windows = split_windows(blocks, split, horizon, None, stamps, part)
    squared = absolute = 0.0
    count = 0
    for chunk in torch.arange(len(windows)).split(2048):
        batch, target = windows.batch(chunk)
        cutoffs = stamps[np.asarray(windows.targets[chunk]) % len(stamps) - 1]
        retrieved = retriever.retrieve(batch.x[:, :, 0].double().numpy(), cutoffs)
        weights = softmax_weights(retrieved.found.similarity, temperature)
        forecast = np.einsum("bk,bkh->bh", weights, np.nan_to_num(retrieved.futures))
        error = forecast - target[:, :, 0].double().numpy()
        squared, absolute, count = squared + float((error ** 2).sum()), absolute + float(np.abs(error).sum()), count + error.size
    return squared / count, absolute / count, len(windows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--models", nargs="+", default=["dlinear", "patchtst", "mamba", "hypermamba"])
    parser.add_argument("--k", type=int, default=10, help="analogues fused into each network's windows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval_etth1.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    values, time_features, split = load_ett()
    stamps = ett_stamps()
    blocks = channel_blocks(values, time_features)
    result = {"date": date.today().isoformat(), "machine": platform.platform(), "threads": torch.get_num_threads(),
              "k": args.k, "seeds": args.seeds, "rows": [], "analog_validation": {}, "details": {}}
    for horizon in args.horizons:
        index = training_index(values, stamps, split, horizon)
        row = {"H": horizon, "ridge floor": ridge_floor((values, time_features), split, horizon)[:2],
               "seasonal naive": seasonal_naive((values, time_features), split, horizon)[:2]}
        validation = {f"k={k} t={t}": analog_scores(index, blocks, split, horizon, stamps, "val", k, t)[0]
                      for k in ANALOG_K for t in ANALOG_TEMPERATURE}
        chosen = min(validation, key=validation.get)
        k, t = (float(part.split("=")[1]) for part in chosen.split())
        result["analog_validation"][str(horizon)] = {"candidates": validation, "chosen": chosen}
        row["analog"] = analog_scores(index, blocks, split, horizon, stamps, "test", int(k), t)[:2]
        print(f"H={horizon} analog {chosen} (validation MSE {validation[chosen]:.4f}): test {row['analog']}", flush=True)
        for name in args.models:
            for label, retriever in ((name, None), (f"{name} + retrieval", Retriever(index, args.k))):
                runs = []
                for seed in args.seeds:
                    (mse, mae, n_windows), details = fit_network(name, blocks, split, horizon, retriever, stamps, seed)
                    runs.append((mse, mae))
                    result["details"][f"{label}/{horizon}/seed{seed}"] = {"mse": mse, "mae": mae, **details}
                    row["test windows"] = n_windows // CHANNELS
                    print(f"H={horizon} {label} seed {seed}: MSE {mse:.4f} MAE {mae:.4f} {details}", flush=True)
                row[label] = tuple(np.mean(runs, axis=0))
        result["rows"].append(row)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=float))
        print(table(result["rows"]), flush=True)


def table(rows: list[dict]) -> str:
    columns = [c for c in rows[0] if c not in ("H", "test windows")]
    lines = ["| H | " + " | ".join(f"{c} MSE / MAE" for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['H']} | " + " | ".join(f"{row[c][0]:.3f} / {row[c][1]:.3f}" for c in columns) + " |")
    if len(rows) > 1:
        lines.append("| average | " + " | ".join(
            "{:.3f} / {:.3f}".format(*np.mean([row[c] for row in rows], axis=0)) for c in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Retrieval on ETTh1 (lookback-96 protocol): every network with and without fused analogues, the analog
model, the ridge floor and seasonal naive, in one run per horizon.

Each of ETTh1's seven channels is a series of its own (channel independent, as the product trains), so
a window is one channel; batches hold 32 x 7 windows, as many values as etth1.py's 32 seven-channel
windows. The index holds every window of the training months of all seven channels (never a validation
or test row): a training window retrieves only windows that ended before its cutoff, validation and test
windows retrieve from the training months. MSE / MAE on the standardised test split over every test
window and channel, as etth1.py reports them (the same numbers for the ridge floor and seasonal naive).

The analog model's k and temperature are chosen per horizon on the validation windows among the candidates
the analog model chooses from (every candidate's validation MSE is recorded); the networks fuse `--k`
analogues (not tuned: 10 by default). Each retrieving network's test windows are scored twice: retrieving
from the training months, as in training, and from the training and validation months (the index brought
up to date without retraining; never a test row): the column "(index to validation)". The analog model
likewise.

    .venv/bin/python benchmarks/retrieval.py --horizons 96 192 336 720 --out benchmarks/results/retrieval_etth1_all.json
    .venv/bin/python benchmarks/retrieval.py --models timellm --horizons 96 --validation-every 7 --no-recent \
        --out benchmarks/results/retrieval_etth1_timellm.json     # what a 2-core CPU affords of TimeLLM
    .venv/bin/python benchmarks/retrieval.py --target ETTh2 --library ETTh1 M4-Hourly --horizons 96 --models dlinear \
        --out benchmarks/results/retrieval_etth2_library.json
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate.utils import set_seed

from backbones.retrieval import FusionConfig, RetrievalFusion
from etth1 import DATA, LINEAR_LOOKBACK, REDUCED, REDUCED_LONG_INFORMER, load_ett, ridge_floor, seasonal_naive, \
    test_scores
from forecasting.models import network_named
from forecasting.models.analog import K_CANDIDATES, TEMPERATURE_CANDIDATES, query_chunks
from forecasting.models.neural.training import TrainingConfig, train
from forecasting.models.neural.windows import Split, Windows, make_windows
from forecasting.retrieval.index import IndexedSeries, WindowIndex
from forecasting.retrieval.retriever import Retriever
from forecasting.retrieval.weights import softmax_weights
from timellm import settings as timellm_settings

CHANNELS = 7
RECENT = " (index to validation)"   # the column of test scores whose index also holds the validation months
# the retrieval fusion's starting trust in the analogues (--select-fusion; at commit 7b26479 a diagonal map, one
# trust per step ahead, was a candidate too: level on validation, so not kept, see BENCHMARKS.md)
FUSION_CANDIDATES = [{"trust": 0.5}, {"trust": 0.0}]
ANALOG_CANDIDATES = [(k, t) for k in K_CANDIDATES for t in TEMPERATURE_CANDIDATES]   # the analog model's own
# (network settings, training settings) with batches counted in one-channel windows: etth1.py's reduced
# settings at 7 one-channel windows for each of its seven-channel ones, as many values a step; Informer, which
# reads the seven channels as one sequence there and here each as its own (7x the work at 7 x 32 windows), at 32
# windows a step on its short schedule (4 epochs of 50 steps) at every horizon, with the lookback-96 protocol's
# start token of 48 steps; TimeLLM as timellm.py's reduced configuration (2 MiniLM blocks, 16 x 7 windows a step).
SETTINGS = {name: (network, {**training, "batch_size": training["batch_size"] * CHANNELS}) for name, (network, training)
            in {**REDUCED, "timellm": timellm_settings(False, None)[1]["timellm"]}.items()}
SETTINGS["informer"] = ({**REDUCED["informer"][0], "label_len": 48, "time_features": 4},
                        {**REDUCED["informer"][1], **REDUCED_LONG_INFORMER})


def ett_stamps(name: str) -> np.ndarray:
    return pd.DatetimeIndex(pd.read_csv(DATA / f"{name}.csv", usecols=["date"], parse_dates=["date"])["date"]).asi8


def channel_blocks(values: np.ndarray, time_features: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(values[:, c:c + 1].astype(np.float32), time_features) for c in range(values.shape[1])]


def training_index(values: np.ndarray, stamps: np.ndarray, split: Split, horizon: int,
                   library: list[IndexedSeries] = (), through: str = "train") -> WindowIndex:
    """Every window of the training months of each channel (through="val": and of the validation months), and
    of the library's series (exact search below EXACT_BELOW rows, HNSW above)."""
    rows = slice(split.train.start, getattr(split, through).stop)
    series = [IndexedSeries(f"channel {c}", pd.DatetimeIndex(stamps[rows]), values[rows, c])
              for c in range(values.shape[1])]
    return WindowIndex.build(series, LINEAR_LOOKBACK, horizon, library=library)


def ett_library(name: str) -> list[IndexedSeries]:
    """Every row of an ETT data set's seven channels."""
    frame = pd.read_csv(DATA / f"{name}.csv", parse_dates=["date"])
    return [IndexedSeries(f"{name} {column}", pd.DatetimeIndex(frame["date"]), frame[column].to_numpy(float))
            for column in frame.columns[1:]]


def m4_hourly_library() -> list[IndexedSeries]:
    """M4 Hourly's 414 training series (they have no dates: hours from 2000-01-01)."""
    wide = pd.read_csv(DATA / "M4-Hourly-train.csv", index_col=0)
    return [IndexedSeries(f"M4 {series_id}", pd.date_range("2000-01-01", periods=int(row.notna().sum()), freq="h"),
                          row.dropna().to_numpy(float)) for series_id, row in wide.iterrows()]


LIBRARIES = {"ETTh1": lambda: ett_library("ETTh1"), "M4-Hourly": m4_hourly_library}


def split_windows(blocks, split: Split, horizon: int, retriever: Retriever | None, stamps: np.ndarray,
                  part: str, label_len: int = 0) -> Windows:
    # every channel is series 1, as in etth1.py's one seven-channel block (HyperMamba's n_series is 1)
    return make_windows(blocks, LINEAR_LOOKBACK, horizon, [getattr(split, part)] * len(blocks), label_len,
                        series=[1] * len(blocks), retriever=retriever,
                        stamps=[stamps] * len(blocks) if retriever else None)


def fit_network(name: str, blocks, split: Split, horizon: int, retriever: Retriever | None, stamps: np.ndarray,
                seed: int, test_retrievers: dict[str, Retriever] | None = None,
                fusion: dict | None = None, score_test: bool = True, validation_every: int = 1) -> tuple[dict, dict]:
    """The network trained (with `retriever`'s analogues, if any; `fusion`: FusionConfig fields; early-stopped on
    every `validation_every`-th validation window) and its test MSE / MAE / windows: under "" with the training
    retriever, and under each of `test_retrievers`' labels with that one instead (none without `score_test`: a
    choice on validation never builds the test windows)."""
    network_settings, training_settings = SETTINGS[name]
    label_len = network_settings.get("label_len", 0)
    spec = network_named(name)
    set_seed(seed)
    network = spec.module(spec.config(lookback=LINEAR_LOOKBACK, horizon=horizon, channels=1, **network_settings))
    if retriever is not None:
        network = RetrievalFusion(network, FusionConfig(horizon=horizon, **(fusion or {})))
    config = TrainingConfig(seed=seed, **training_settings)
    started = time.perf_counter()
    validation = split_windows(blocks, split, horizon, retriever, stamps, "val", label_len)
    validation = replace(validation, targets=validation.targets[::validation_every],
                         series=validation.series[::validation_every])
    result = train(network, split_windows(blocks, split, horizon, retriever, stamps, "train", label_len), validation,
                   config, show_bar=False)
    seconds = time.perf_counter() - started
    network.eval()
    scores = {}
    with torch.no_grad():
        for label, test_retriever in {"": retriever, **(test_retrievers or {})}.items() if score_test else ():
            scores[label] = test_scores(lambda batch: network(batch).double(),
                                        split_windows(blocks, split, horizon, test_retriever, stamps, "test",
                                                      label_len))
    details = {"train_seconds": round(seconds, 1), "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
               "best_val_loss": round(result.best_val_loss, 5)}
    if retriever is not None:
        details["temperature"] = round(float(network.log_temperature.exp()), 4)
    return scores, details


def analog_scores(index: WindowIndex, blocks, split: Split, horizon: int, stamps: np.ndarray, part: str,
                  candidates: list[tuple[int, float]]) -> dict[tuple[int, float], tuple[float, float, int]]:
    """MSE / MAE of the analog model with each (k, temperature) candidate on the split's windows (each sees the
    training months only): one search for the largest k, whose top entries are every smaller k's."""
    retriever = Retriever(index, max(k for k, _ in candidates))
    windows = split_windows(blocks, split, horizon, None, stamps, part)
    sums = {candidate: [0.0, 0.0, 0] for candidate in candidates}
    for rows in query_chunks(len(windows), retriever):            # bounded memory, as the analog model retrieves
        chunk = torch.arange(len(windows))[rows]
        batch, target = windows.batch(chunk)
        cutoffs = stamps[np.asarray(windows.targets[chunk]) % len(stamps) - 1]
        retrieved = retriever.retrieve(batch.x[:, :, 0].double().numpy(), cutoffs)
        futures, actual = np.nan_to_num(retrieved.futures), target[:, :, 0].double().numpy()
        for (k, temperature), total in sums.items():
            weights = softmax_weights(retrieved.found.similarity[:, :k], temperature)
            error = np.einsum("bk,bkh->bh", weights, futures[:, :k]) - actual
            total[0] += float((error ** 2).sum())
            total[1] += float(np.abs(error).sum())
            total[2] += error.size
    return {candidate: (squared / count, absolute / count, len(windows))
            for candidate, (squared, absolute, count) in sums.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="ETTh1", choices=["ETTh1", "ETTh2"], help="the data set forecast")
    parser.add_argument("--library", nargs="+", default=[], choices=list(LIBRARIES),
                        help="also retrieve from these data sets (every row): each retrieving column then runs "
                             "twice, without and with the library")
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--models", nargs="*", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--k", type=int, default=10, help="analogues fused into each network's windows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--validation-every", type=int, default=1,
                        help="early-stop on every N-th validation window only (the test scores every window)")
    parser.add_argument("--recent", action=argparse.BooleanOptionalAction, default=True,
                        help="also score each retrieving network's test windows with the validation months indexed")
    parser.add_argument("--select-fusion", action="store_true",
                        help="instead: train each FUSION_CANDIDATES fusion (and the plain network) and record its "
                             "validation loss; no test window is built")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval_etth1_all.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    values, time_features, split = load_ett(args.target)
    stamps = ett_stamps(args.target)
    blocks = channel_blocks(values, time_features)
    library = [series for name in args.library for series in LIBRARIES[name]()]
    if args.select_fusion:
        return select_fusion(args, values, stamps, split, blocks)
    result = {"date": date.today().isoformat(), "machine": platform.platform(), "threads": torch.get_num_threads(),
              "target": args.target, "library": args.library, "library_series": len(library), "k": args.k,
              "seeds": args.seeds, "rows": [], "analog_validation": {}, "details": {}}
    for horizon in args.horizons:
        indexes = {"": training_index(values, stamps, split, horizon)}
        if library:
            indexes[" + library"] = training_index(values, stamps, split, horizon, library)
        row = {"H": horizon, "ridge floor": ridge_floor((values, time_features), split, horizon)[:2],
               "seasonal naive": seasonal_naive((values, time_features), split, horizon)[:2]}
        # the same fits' test windows also retrieve from the validation months (never the test months): the
        # index brought up to date without retraining, as a user's forecast retrieves from all its history
        recent = Retriever(training_index(values, stamps, split, horizon, through="val"), args.k)
        for suffix, index in indexes.items():
            validation = analog_scores(index, blocks, split, horizon, stamps, "val", ANALOG_CANDIDATES)
            chosen = min(validation, key=lambda candidate: validation[candidate][0])
            result["analog_validation"][f"{horizon}{suffix}"] = {
                "rows indexed": len(index), "search": index.method, "chosen": f"k={chosen[0]} t={chosen[1]}",
                "candidates": {f"k={k} t={t}": mse for (k, t), (mse, _, _) in validation.items()}}
            row[f"analog{suffix}"] = analog_scores(index, blocks, split, horizon, stamps, "test", [chosen])[chosen][:2]
            print(f"H={horizon} analog{suffix} k={chosen[0]} t={chosen[1]} ({len(index)} rows, {index.method}; "
                  f"validation MSE {validation[chosen][0]:.4f}): test {row[f'analog{suffix}']}", flush=True)
            if not suffix and args.recent:
                row[f"analog{RECENT}"] = analog_scores(recent.index, blocks, split, horizon, stamps, "test",
                                                      [chosen])[chosen][:2]
        for name in args.models:
            arms = [(name, None)] + [(f"{name} + retrieval{suffix}", Retriever(index, args.k))
                                     for suffix, index in indexes.items()]
            for label, retriever in arms:
                runs = {}
                for seed in args.seeds:
                    scores, details = fit_network(name, blocks, split, horizon, retriever, stamps, seed,
                                                  {RECENT: recent} if args.recent and label == f"{name} + retrieval"
                                                  else None, validation_every=args.validation_every)
                    for test_label, (mse, mae, _) in scores.items():
                        runs.setdefault(label + test_label, []).append((mse, mae))
                        result["details"][f"{label}{test_label}/{horizon}/seed{seed}"] = {"mse": mse, "mae": mae,
                                                                                         **details}
                        print(f"H={horizon} {label}{test_label} seed {seed}: MSE {mse:.4f} MAE {mae:.4f} {details}",
                              flush=True)
                row.update({column: tuple(np.mean(pairs, axis=0)) for column, pairs in runs.items()})
        result["rows"].append(row)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, default=float))
        print(table(result["rows"]), flush=True)


def select_fusion(args, values: np.ndarray, stamps: np.ndarray, split: Split, blocks) -> None:
    """Each fusion candidate's best validation loss per model, horizon and seed, and the choice: the lowest mean
    over cells of its loss divided by the cell's best candidate's (as select_settings.py chooses)."""
    record = {"date": date.today().isoformat(), "machine": platform.platform(), "threads": torch.get_num_threads(),
              "k": args.k, "seeds": args.seeds, "candidates": [label_of(c) for c in FUSION_CANDIDATES], "cells": {}}
    for horizon in args.horizons:
        retriever = Retriever(training_index(values, stamps, split, horizon), args.k)
        for name in args.models:
            for seed in args.seeds:
                cell = record["cells"].setdefault(f"{name}/{horizon}/seed{seed}", {})
                for candidate in [None, *FUSION_CANDIDATES]:
                    _, details = fit_network(name, blocks, split, horizon, None if candidate is None else retriever,
                                             stamps, seed, fusion=candidate, score_test=False)
                    cell[label_of(candidate)] = details["best_val_loss"]
                    print(f"H={horizon} {name} seed {seed} {label_of(candidate)}: validation {details}", flush=True)
                args.out.write_text(json.dumps(record, indent=1))
    ratios = {label_of(c): np.mean([cell[label_of(c)] / min(cell[label_of(o)] for o in FUSION_CANDIDATES)
                                    for cell in record["cells"].values()]) for c in FUSION_CANDIDATES}
    record["mean ratio to the cell's best"], record["chosen"] = ratios, min(ratios, key=ratios.get)
    args.out.write_text(json.dumps(record, indent=1))
    print(json.dumps(record, indent=1))


def label_of(candidate: dict | None) -> str:
    return "no retrieval" if candidate is None else ", ".join(f"{key} {value}" for key, value in candidate.items())


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

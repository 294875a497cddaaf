"""ETTh1 multivariate benchmark (12/4/4-month split, train-only scaler) on two protocols:

  informer:   H = 24/48/168/336/720 with Informer's own lookbacks; Informer, DLinear, PatchTST.
  lookback96: H = 96/192/336/720 from 96 steps, averaged over H as S-Mamba, iTransformer and CMamba
              publish it; Mamba, HyperMamba, DLinear, PatchTST.

The networks train through the product's training engine; the closed-form ridge floor and seasonal
naive run in the same process on the same test windows (all of them: no window is dropped).
MSE / MAE are on the standardised data, as published.

    .venv/bin/python benchmarks/etth1.py --protocol informer            # reduced, fits a 2-core CPU
    .venv/bin/python benchmarks/etth1.py --protocol lookback96 --full   # the papers' settings (GPU)
    .venv/bin/python benchmarks/etth1.py --protocol lookback96 --models mamba --seeds 0 1 2   # mean and spread
    .venv/bin/python benchmarks/etth1.py --protocol lookback96 --summarize a.json b.json      # one seed table

How the settings below were chosen, with every candidate's validation score: benchmarks/select_settings.py.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from accelerate.utils import set_seed

from forecasting.models import network_named
from forecasting.models.neural.training import TrainingConfig, train
from forecasting.models.neural.windows import SPLITS, Scaler, Split, Windows, calendar_features, make_windows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Published multivariate ETTh1 rows, MSE and MAE: Informer (Zhou et al. 2021, Table 2); S-Mamba
# (Wang et al. 2024) and iTransformer (Liu et al. 2024) at lookback 96; CMamba (Zeng et al. 2024)
# as its average over the four horizons.
PROTOCOLS = {
    "informer": {
        "horizons": (24, 48, 168, 336, 720),
        "models": ["informer", "dlinear", "patchtst"],
        "published": {"informer": {24: (0.577, 0.549), 48: (0.685, 0.625), 168: (0.931, 0.752),
                                   336: (1.128, 0.873), 720: (1.215, 0.896)}},
    },
    "lookback96": {
        "horizons": (96, 192, 336, 720),
        "models": ["mamba", "hypermamba", "dlinear", "patchtst"],
        "published": {"S-Mamba": {96: (0.386, 0.405), 192: (0.443, 0.437), 336: (0.489, 0.468), 720: (0.502, 0.489)},
                      "iTransformer": {96: (0.386, 0.405), 192: (0.441, 0.436), 336: (0.487, 0.458),
                                       720: (0.503, 0.491)},
                      "CMamba": {"average": (0.433, 0.425)}},
    },
}
# The paper's per-horizon encoder length, decoder start-token length and ProbSparse factor.
INFORMER_WINDOWS = {24: (48, 48, 3), 48: (96, 48, 5), 168: (168, 168, 5), 336: (168, 168, 5), 720: (336, 336, 5)}
LINEAR_LOOKBACK = 96  # DLinear, PatchTST and the ridge floor share one lookback

FULL = {
    "informer": ({"d_model": 512, "n_heads": 8, "e_layers": 2, "d_layers": 1, "d_ff": 2048, "dropout": 0.05},
                 {"epochs": 6, "batch_size": 32, "learning_rate": 1e-4, "patience": 3}),
    "dlinear": ({}, {"epochs": 10, "batch_size": 32, "learning_rate": 5e-3, "patience": 3}),
    "patchtst": ({"d_model": 16, "n_heads": 4, "e_layers": 3, "d_ff": 128, "dropout": 0.3},
                 {"epochs": 10, "batch_size": 128, "learning_rate": 1e-4, "patience": 3}),
    # S-Mamba's ETTh1 width and depth, over patches of each channel (channel independent)
    "mamba": ({"tokens": "patch", "d_model": 256, "d_state": 16, "n_layers": 2, "dropout": 0.1},
              {"epochs": 10, "batch_size": 32, "learning_rate": 1e-4, "patience": 3}),
}
FULL["hypermamba"] = ({**FULL["mamba"][0], "n_series": 1}, FULL["mamba"][1])
# The reduced configuration: Informer 4x narrower (d_model 128, d_ff 512: 16x fewer weights),
# Informer, PatchTST and the Mambas capped at 100 steps per epoch (the paper's epoch is ~268 steps),
# Informer at H >= 168, whose decoder is 336-1056 steps long, at 4 epochs of 50 steps, and the
# Mambas 16x narrower with PatchTST's ETTh1 width and dropout (d_model 16, dropout 0.3): chosen over
# d_model 64 / dropout 0.1 and 32 / 0.2 by validation loss at H = 96 and 720.
REDUCED = {
    "informer": ({**FULL["informer"][0], "d_model": 128, "d_ff": 512},
                 {**FULL["informer"][1], "learning_rate": 3e-4, "steps_per_epoch": 100}),
    "dlinear": FULL["dlinear"],
    "patchtst": (FULL["patchtst"][0], {**FULL["patchtst"][1], "learning_rate": 1e-3, "steps_per_epoch": 100}),
    "mamba": ({**FULL["mamba"][0], "d_model": 16, "dropout": 0.3},
              {**FULL["mamba"][1], "learning_rate": 1e-3, "steps_per_epoch": 100}),
}
REDUCED["hypermamba"] = ({**REDUCED["mamba"][0], "n_series": 1}, REDUCED["mamba"][1])
REDUCED_LONG_INFORMER = {"epochs": 4, "steps_per_epoch": 50}


def load_ett(name: str = "ETTh1") -> tuple[np.ndarray, np.ndarray, Split]:
    """Standardised values [T, 7] (statistics of the data set's own training rows), calendar
    features [T, 4], the split."""
    frame = pd.read_csv(DATA / f"{name}.csv", parse_dates=["date"])
    values = frame.drop(columns="date").to_numpy(dtype=np.float64)
    split = SPLITS["informer"](len(values))
    scaler = Scaler.fit(values[split.train.start:split.train.stop])
    return scaler.transform(values), calendar_features(pd.DatetimeIndex(frame["date"]), "h"), split


def windows_for(block, split, lookback: int, horizon: int, label_len: int = 0) -> dict[str, Windows]:
    return {name: make_windows([block], lookback, horizon, [getattr(split, name)], label_len)
            for name in ("train", "val", "test")}


def test_scores(predict, windows: Windows, batch_size: int = 256) -> tuple[float, float, int]:
    squared = absolute = 0.0
    count = 0
    for index in torch.arange(len(windows)).split(batch_size):
        batch, target = windows.batch(index)
        error = predict(batch) - target
        squared += float((error.double() ** 2).sum())
        absolute += float(error.double().abs().sum())
        count += error.numel()
    return squared / count, absolute / count, len(windows)


def few_shot_split(split: Split, fraction: float, lookback: int) -> Split:
    """Only the first `fraction` of the training windows, as Time-LLM's few-shot protocol cuts them
    ((train rows - lookback) * fraction, plus one lookback); validation and test are unchanged."""
    rows = int((len(split.train) - lookback) * fraction) + lookback
    return replace(split, train=range(split.train.start, split.train.start + rows))


RIDGE_PENALTIES = (0.1, 1.0, 10.0, 100.0, 1000.0)


def fit_ridge(block, split, horizon: int, lookback: int = LINEAR_LOOKBACK):
    """A linear map lookback -> horizon shared by all channels, last value subtracted, fit in
    closed form on the training windows; the ridge penalty is chosen on validation. Returns the
    predict function."""
    return fit_ridge_recorded(block, split, horizon, lookback)[0]


def fit_ridge_recorded(block, split, horizon: int, lookback: int = LINEAR_LOOKBACK,
                       penalties: tuple[float, ...] = RIDGE_PENALTIES):
    """fit_ridge that also returns the validation MSE of every candidate penalty (RIDGE_PENALTIES
    unless told) and the one chosen: (predict, {penalty: validation MSE}, chosen penalty). Only
    training and validation windows are read."""
    sets = windows_for(block, split, lookback, horizon)

    def design(windows: Windows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch, target = windows.batch(torch.arange(len(windows)))
        x = batch.x.transpose(1, 2).reshape(-1, lookback).double()                        # [N*C, L]
        y = target.transpose(1, 2).reshape(-1, horizon).double()                           # [N*C, H]
        last = x[:, -1:]
        return x - last, y - last, last

    x, y, _ = design(sets["train"])
    gram, cross = x.T @ x, x.T @ y

    def solve(penalty: float) -> torch.Tensor:
        return torch.linalg.solve(gram + penalty * torch.eye(lookback, dtype=gram.dtype), cross)

    xv, yv, _ = design(sets["val"])
    validation = {p: float(((xv @ solve(p) - yv) ** 2).mean()) for p in penalties}
    penalty = min(penalties, key=validation.get)
    weights = solve(penalty)

    def predict(batch) -> torch.Tensor:
        x = batch.x.transpose(1, 2).double()                                               # [B, C, L]
        last = x[..., -1:]
        return ((x - last) @ weights + last).transpose(1, 2)                               # [B, H, C]

    return predict, validation, penalty


def ridge_floor(block, split, horizon: int, lookback: int = LINEAR_LOOKBACK) -> tuple[float, float, int]:
    return test_scores(fit_ridge(block, split, horizon, lookback), windows_for(block, split, lookback, horizon)["test"])


def seasonal_naive(block, split, horizon: int, period: int = 24) -> tuple[float, float, int]:
    windows = windows_for(block, split, period, horizon)["test"]
    repeats = -(-horizon // period)
    return test_scores(lambda batch: batch.x.double().repeat(1, repeats, 1)[:, :horizon], windows)


def fit_network(name: str, block, split, horizon: int, settings: dict, seed: int,
                lookback: int = LINEAR_LOOKBACK) -> tuple[torch.nn.Module, dict]:
    """The network trained through the product's training engine (in eval mode) and what the run took."""
    network_settings, training_settings = settings[name]
    if name == "informer":
        if settings is not FULL and horizon >= 168:   # REDUCED, or a candidate built from it
            training_settings = {**training_settings, **REDUCED_LONG_INFORMER}
        lookback, label_len, factor = INFORMER_WINDOWS[horizon]
        network_settings = {**network_settings, "label_len": label_len, "factor": factor, "time_features": 4}
    else:
        label_len = 0
    sets = windows_for(block, split, lookback, horizon, label_len)
    spec = network_named(name)
    set_seed(seed)
    network = spec.module(spec.config(lookback=lookback, horizon=horizon, channels=block[0].shape[1], **network_settings))
    config = TrainingConfig(seed=seed, **training_settings)
    started = time.perf_counter()
    result = train(network, sets["train"], sets["val"], config)
    seconds = time.perf_counter() - started
    return network.eval(), {"lookback": lookback, "train_seconds": round(seconds, 1), "epochs_run": result.epochs_run,
                            "train_windows": len(sets["train"]), "best_val_loss": round(result.best_val_loss, 5),
                            "best_epoch": result.best_epoch, "parameters": sum(p.numel() for p in network.parameters()),
                            "network": network_settings, "training": asdict(config)}


@torch.no_grad()
def network_scores(network: torch.nn.Module, windows: Windows) -> tuple[float, float, int]:
    device = "cuda" if torch.cuda.is_available() else "cpu"    # the trainer hands the network back on the CPU
    network.to(device)
    return test_scores(lambda batch: network(batch.to(device)).double().cpu(), windows)


def neural(name: str, block, split, horizon: int, settings: dict, seed: int,
           lookback: int = LINEAR_LOOKBACK) -> tuple[tuple[float, float, int], dict]:
    network, details = fit_network(name, block, split, horizon, settings, seed, lookback)
    label_len = details["network"].get("label_len", 0)
    test = windows_for(block, split, details["lookback"], horizon, label_len)["test"]
    return network_scores(network, test), details


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="informer")
    parser.add_argument("--full", action="store_true", help="the papers' settings (meant for a GPU)")
    parser.add_argument("--horizons", type=int, nargs="+", help="default: the protocol's")
    parser.add_argument("--models", nargs="+", help="default: the protocol's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="train every network cell once per seed (overrides --seed): the main table gives "
                             "the mean over seeds, a second table each seed, the mean, the spread and the "
                             "difference from the ridge floor")
    parser.add_argument("--out", type=Path, help="default: out/etth1_<protocol>.json")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="JSON",
                        help="train nothing: the seed table of earlier --seeds runs (their JSON files, e.g. one per "
                             "horizon run side by side), with each seed's average over the protocol's horizons")
    args = parser.parse_args()
    protocol = PROTOCOLS[args.protocol]
    if args.summarize:
        print(summarize(args.summarize, protocol))
        return
    horizons, models = args.horizons or protocol["horizons"], args.models or protocol["models"]
    seeds = args.seeds or [args.seed]
    out = args.out or Path(f"out/etth1_{args.protocol}.json")
    values, time_features, split = load_ett()
    block = (values, time_features)
    settings = FULL if args.full else REDUCED
    rows, details, per_seed = [], {}, {}
    for horizon in horizons:
        row = {"H": horizon, **{f"published {name}": scores.get(horizon) for name, scores in protocol["published"].items()},
               "ridge floor": ridge_floor(block, split, horizon)[:2],
               "seasonal naive": seasonal_naive(block, split, horizon)[:2]}
        for name in models:
            runs = []
            for seed in seeds:
                key = f"{name}/{horizon}" if len(seeds) == 1 else f"{name}/{horizon}/seed{seed}"
                (mse, mae, n_windows), details[key] = neural(name, block, split, horizon, settings, seed)
                runs.append({"seed": seed, "mse": mse, "mae": mae, "best_val_loss": details[key]["best_val_loss"]})
                row["test windows"] = n_windows
                print(f"H={horizon} {name} seed {seed}: MSE {mse:.3f} MAE {mae:.3f} ({details[key]})", flush=True)
            per_seed[f"{name}/{horizon}"] = runs
            row[name] = (float(np.mean([r["mse"] for r in runs])), float(np.mean([r["mae"] for r in runs])))
        rows.append(row)
        print(markdown_table(rows, protocol), flush=True)
        if len(seeds) > 1:
            print(seed_table(rows, per_seed, models), flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"date": date.today().isoformat(), "machine": platform.platform(),
                                   "protocol": args.protocol, "threads": torch.get_num_threads(),
                                   "cuda": torch.cuda.is_available(), "full": args.full, "seeds": seeds,
                                   "rows": rows, "per_seed": per_seed, "details": details}, indent=1, default=str))


def summarize(paths: list[Path], protocol: dict) -> str:
    """One seed table from several --seeds runs; where a model has every horizon of the protocol for the
    same seeds, each seed's average over the horizons, their mean, spread, and the floor's average."""
    rows, per_seed = {}, {}
    for path in paths:
        record = json.loads(path.read_text())
        for row in record["rows"]:
            rows.setdefault(row["H"], row)
        per_seed.update(record.get("per_seed", {}))
    rows = [rows[h] for h in sorted(rows)]
    models = list(dict.fromkeys(key.split("/")[0] for key in per_seed))
    lines = [seed_table(rows, per_seed, models)]
    for name in models:
        runs = {h: {r["seed"]: r for r in per_seed.get(f"{name}/{h}", [])} for h in protocol["horizons"]}
        seeds = sorted(set.intersection(*(set(by_seed) for by_seed in runs.values())))
        if not seeds or any(h not in {row["H"] for row in rows} for h in protocol["horizons"]):
            continue
        averages = np.array([[np.mean([runs[h][seed][metric] for h in protocol["horizons"]]) for seed in seeds]
                             for metric in ("mse", "mae")])
        floor = np.mean([row["ridge floor"][0] for row in rows if row["H"] in protocol["horizons"]])
        lines.append(f"\n{name}, average over H = {'/'.join(map(str, protocol['horizons']))}: per seed "
                     f"{', '.join(f'{seed}: {mse:.4f} / {mae:.4f}' for seed, mse, mae in zip(seeds, *averages))} "
                     f"(MSE / MAE); mean {averages[0].mean():.4f} / {averages[1].mean():.4f}, sd "
                     f"{averages[0].std(ddof=1) if len(seeds) > 1 else 0.0:.4f}, range "
                     f"{averages[0].min():.4f}-{averages[0].max():.4f}; ridge floor {floor:.4f}")
    return "\n".join(lines)


def seed_table(rows: list[dict], per_seed: dict, models: list[str]) -> str:
    """Per model and horizon: test MSE of each seed, their mean, sample standard deviation and range,
    the mean's difference from the ridge floor and on how many seeds the network is below the floor."""
    lines = ["| model | H | seeds | test MSE per seed | mean MSE | sd | min-max | mean MAE | vs ridge floor | "
             "seeds below floor | best validation loss per seed |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in models:
        for row in rows:
            runs = per_seed.get(f"{name}/{row['H']}")
            if not runs:
                continue
            mse = np.array([r["mse"] for r in runs])
            floor = row["ridge floor"][0]
            lines.append(f"| {name} | {row['H']} | {' '.join(str(r['seed']) for r in runs)} | "
                         f"{', '.join(f'{v:.3f}' for v in mse)} | {mse.mean():.3f} | "
                         f"{(mse.std(ddof=1) if len(mse) > 1 else 0.0):.3f} | {mse.min():.3f}-{mse.max():.3f} | "
                         f"{np.mean([r['mae'] for r in runs]):.3f} | {100 * (mse.mean() / floor - 1):+.1f}% "
                         f"(floor {floor:.3f}) | {int((mse < floor).sum())}/{len(mse)} | "
                         f"{', '.join(format(r['best_val_loss'], '.4f') for r in runs)} |")
    return "\n".join(lines)


def markdown_table(rows: list[dict], protocol: dict) -> str:
    """Per-horizon MSE / MAE; with every horizon of the protocol done, their average as the last row
    (published averages stand in where only the average was published)."""
    columns = [c for c in rows[0] if c not in ("H", "test windows")]
    lines = ["| H | test windows | " + " | ".join(f"{c} MSE / MAE" for c in columns) + " |",
             "|---" * (len(columns) + 2) + "|"]
    cell = lambda pair: "-" if pair is None else f"{pair[0]:.3f} / {pair[1]:.3f}"
    for row in rows:
        lines.append(f"| {row['H']} | {row.get('test windows', '')} | " + " | ".join(cell(row[c]) for c in columns) + " |")
    if sorted(row["H"] for row in rows) == sorted(protocol["horizons"]):
        published = {f"published {name}": scores.get("average") for name, scores in protocol["published"].items()}
        average = {c: published.get(c) or (None if any(row[c] is None for row in rows) else
                                          tuple(np.mean([row[c] for row in rows], axis=0))) for c in columns}
        lines.append("| average | | " + " | ".join(cell(average[c]) for c in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Does HyperMamba specialise? A synthetic panel whose series differ in dynamics, Mamba vs HyperMamba.

Series i is a_i sin(2 pi t / p_i + phase) plus an AR(1) process with coefficient phi_i, with period
p_i, phi_i, a_i and the innovation scale drawn per series. Training series are fitted on their first
70% (next 10% for early stopping); every series, seen or unseen, is scored on the windows in its
last 20%. Unseen series take no part in training: HyperMamba reads them as series 0 ("unseen") and
adapts from its conditioning alone. Every series is standardised by its own first 70%; scores are
MSE in those units, averaged over windows and series.

Compared at equal depth and width (d_model 32, 2 layers, patch tokens): Mamba, a wider Mamba with at
least HyperMamba's parameter count, HyperMamba on its window statistics and series embeddings, and
HyperMamba that also gets, as its external embedding, the same statistics over the series' first 70%
(a longer look at its dynamics than one 48-step window; no row after the training part).

    .venv/bin/python benchmarks/hypermamba_panel.py [--seeds 0 1 2] [--series 64] [--unseen 32] [--epochs 15]
"""
from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass
from datetime import date

import numpy as np
import torch

from backbones.hypermamba import N_STATISTICS, window_statistics
from forecasting.models import network_named
from forecasting.models.neural.training import TrainingConfig, train
from forecasting.models.neural.windows import make_windows

LOOKBACK, HORIZON = 48, 24
NETWORK = dict(tokens="patch", patch_len=8, stride=4, d_model=32, n_layers=2, dropout=0.0, revin=True)


@dataclass
class Panel:
    train: np.ndarray      # [S, T] series seen in training
    unseen: np.ndarray     # [U, T] series never seen in training


def dynamics_panel(n_train: int, n_unseen: int, length: int, seed: int) -> Panel:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_train + n_unseen):
        period = rng.choice([6, 8, 12, 16, 24, 32])
        phi = rng.uniform(0.3, 0.98)
        amplitude, noise = rng.uniform(0.2, 2.0), rng.uniform(0.2, 1.0)
        t = np.arange(length)
        ar = np.zeros(length)
        shocks = rng.normal(0, noise, length)
        for k in range(1, length):
            ar[k] = phi * ar[k - 1] + shocks[k]
        rows.append(amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + ar)
    values = np.stack(rows).astype(np.float32)
    return Panel(train=values[:n_train], unseen=values[n_train:])


def standardise(series: np.ndarray, rows: int) -> np.ndarray:
    return (series - series[:rows].mean()) / series[:rows].std()


def blocks(values: np.ndarray, train_rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(standardise(y, train_rows)[:, None], np.zeros((len(y), 0), np.float32)) for y in values]


def history_statistics(values: np.ndarray, train_rows: int) -> np.ndarray:
    """[S, N_STATISTICS]: window_statistics over each series' standardised training rows."""
    series = np.stack([standardise(y, train_rows)[:train_rows] for y in values])
    return window_statistics(torch.from_numpy(series)[:, :, None])[:, 0].numpy()


def build(name: str, n_series: int) -> torch.nn.Module:
    spec = network_named("hypermamba" if name.startswith("hypermamba") else "mamba")
    network = dict(NETWORK, d_model=matched_width(n_series)) if name == "mamba-wide" else NETWORK
    extra = {}
    if name.startswith("hypermamba"):
        extra = {"n_series": n_series, "external_dim": N_STATISTICS if name == "hypermamba+history" else 0}
    return spec.module(spec.config(lookback=LOOKBACK, horizon=HORIZON, **network, **extra))


def parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def matched_width(n_series: int) -> int:
    """The smallest even d_model at which Mamba has at least HyperMamba's parameters."""
    target = parameters(build("hypermamba", n_series))
    width = NETWORK["d_model"]
    while parameters(build_mamba(width)) < target:
        width += 2
    return width


def build_mamba(width: int) -> torch.nn.Module:
    spec = network_named("mamba")
    return spec.module(spec.config(lookback=LOOKBACK, horizon=HORIZON, **dict(NETWORK, d_model=width)))


def mse(network: torch.nn.Module, windows) -> float:
    network.eval()
    with torch.no_grad():
        errors = [(network(batch) - target).pow(2).mean(dim=(1, 2))
                  for batch, target in (windows.batch(i) for i in torch.arange(len(windows)).split(4096))]
    return torch.cat(errors).mean().item()


def run(name: str, panel: Panel, seed: int, epochs: int, steps: int) -> dict:
    length = panel.train.shape[1]
    fit_rows, val_rows = int(0.7 * length), int(0.8 * length)
    seen, unseen = blocks(panel.train, fit_rows), blocks(panel.unseen, fit_rows)
    n = len(seen)
    described = name == "hypermamba+history"
    seen_stats = history_statistics(panel.train, fit_rows) if described else None
    unseen_stats = history_statistics(panel.unseen, fit_rows) if described else None
    windows = lambda rows: make_windows(seen, LOOKBACK, HORIZON, [rows] * n, series_embedding=seen_stats)
    train_windows, val_windows = windows(range(0, fit_rows)), windows(range(fit_rows, val_rows))
    test_windows = windows(range(val_rows, length))
    unseen_windows = make_windows(unseen, LOOKBACK, HORIZON, [range(val_rows, length)] * len(unseen),
                                  series=[0] * len(unseen), series_embedding=unseen_stats)
    torch.manual_seed(seed)
    network = build(name, n)
    config = TrainingConfig(epochs=epochs, batch_size=64, learning_rate=2e-3, steps_per_epoch=steps, seed=seed,
                            patience=3)
    result = train(network, train_windows, val_windows, config, show_bar=False)
    return {"parameters": parameters(network), "epochs": result.epochs_run,
            "seen": mse(network, test_windows), "unseen": mse(network, unseen_windows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--series", type=int, default=64)
    parser.add_argument("--unseen", type=int, default=32)
    parser.add_argument("--length", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    names = ("mamba", "mamba-wide", "hypermamba", "hypermamba+history")
    scores = {name: [] for name in names}
    for seed in args.seeds:
        panel = dynamics_panel(args.series, args.unseen, args.length, seed)
        for name in names:
            scores[name].append(run(name, panel, seed, args.epochs, args.steps))
            print(f"  seed {seed} {name:10s}: {scores[name][-1]}", flush=True)
    print(f"\nSynthetic dynamics panel: {args.series} training + {args.unseen} unseen series of {args.length} steps, "
          f"lookback {LOOKBACK}, horizon {HORIZON}; seeds {args.seeds}; {platform.machine()} CPU "
          f"({os.cpu_count()} cores), torch {torch.__version__}; {date.today()}\n")
    print("| model | parameters | seen MSE | unseen MSE | seen vs Mamba | unseen vs Mamba |")
    print("|---|---:|---:|---:|---:|---:|")
    base = {part: np.mean([s[part] for s in scores["mamba"]]) for part in ("seen", "unseen")}
    for name in names:
        seen, unseen = (np.mean([s[part] for s in scores[name]]) for part in ("seen", "unseen"))
        print(f"| {name} | {scores[name][0]['parameters']:,} | {seen:.4f} | {unseen:.4f} "
              f"| {seen / base['seen']:.3f} | {unseen / base['unseen']:.3f} |")


if __name__ == "__main__":
    main()

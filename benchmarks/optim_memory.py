"""AdamW vs bitsandbytes' block-wise 8-bit AdamW on a ~10M-parameter Informer, in one run.

Reports optimizer-state bytes per parameter (counted from the state tensors after a step),
median step time, and the best validation loss on ETTh1 (Informer protocol, H=24) reached by
the same network, data and seeds with each optimizer.

    .venv/bin/python benchmarks/optim_memory.py [--seeds 0 1 2] [--d-model 128 --d-ff 512] [--out FILE.json]

With several seeds the table gives each seed's best validation MSE, their mean, sample standard
deviation and range, so that a difference between the optimizers can be read against the spread
between seeds of one optimizer.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from accelerate.utils import set_seed
from etth1 import INFORMER_WINDOWS, load_ett

from backbones import Informer, InformerConfig
from forecasting.models.neural.training import TrainingConfig, build_optimizer, train
from forecasting.models.neural.windows import make_windows

NETWORK = {"d_model": 512, "n_heads": 8, "e_layers": 2, "d_layers": 1, "d_ff": 2048, "dropout": 0.05}


def build(horizon: int, seed: int, network: dict = NETWORK) -> Informer:
    lookback, label_len, factor = INFORMER_WINDOWS[horizon]
    set_seed(seed)
    return Informer(InformerConfig(lookback=lookback, horizon=horizon, channels=7, label_len=label_len,
                                   factor=factor, time_features=4, **network))


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    return sum(value.numel() * value.element_size() for state in optimizer.state.values()
               for value in state.values() if torch.is_tensor(value) and value.dim() > 0)


def step_profile(name: str, horizon: int, windows, steps: int, network_settings: dict = NETWORK) -> tuple[float, float]:
    """(optimizer-state bytes per parameter, median seconds per training step)."""
    network = build(horizon, 0, network_settings)
    optimizer = build_optimizer(network, TrainingConfig(optimizer=name))
    n_parameters = sum(p.numel() for p in network.parameters())
    times = []
    for step in range(steps + 1):
        batch, target = windows.batch(torch.arange(step * 32, (step + 1) * 32))
        started = time.perf_counter()
        loss = torch.mean((network(batch) - target) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step:  # the first step allocates the states
            times.append(time.perf_counter() - started)
    return state_bytes(optimizer) / n_parameters, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--steps-per-epoch", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--d-model", type=int, default=NETWORK["d_model"], help="512: the paper's width")
    parser.add_argument("--d-ff", type=int, default=NETWORK["d_ff"])
    parser.add_argument("--out", type=Path, help="also write the numbers as JSON")
    args = parser.parse_args()
    network_settings = {**NETWORK, "d_model": args.d_model, "d_ff": args.d_ff}
    values, time_features, split = load_ett()
    lookback, label_len, _ = INFORMER_WINDOWS[args.horizon]
    sets = {name: make_windows([(values, time_features)], lookback, args.horizon, [getattr(split, name)], label_len)
            for name in ("train", "val")}
    n_parameters = sum(p.numel() for p in build(args.horizon, 0, network_settings).parameters())
    print(f"Informer, {n_parameters / 1e6:.1f}M parameters, H={args.horizon}, "
          f"{args.epochs} epochs x {args.steps_per_epoch} steps of 32 windows, seeds {args.seeds}")
    rows = {}
    for name in ("adamw", "adamw8bit"):
        per_parameter, seconds = step_profile(name, args.horizon, sets["train"], 10, network_settings)
        losses = []
        for seed in args.seeds:
            network = build(args.horizon, seed, network_settings)
            config = TrainingConfig(optimizer=name, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                                    learning_rate=1e-4, seed=seed, patience=args.epochs)
            losses.append(train(network, sets["train"], sets["val"], config, show_bar=False).best_val_loss)
        rows[name] = (per_parameter, seconds, losses)
        print(f"{name}: {per_parameter:.2f} state bytes/parameter, {seconds * 1000:.0f} ms/step, "
              f"best validation MSE {[round(loss, 4) for loss in losses]}", flush=True)
    base = rows["adamw"]
    print("\n| optimizer | state bytes / parameter | state memory vs AdamW | step time (ms) | step time vs AdamW "
          "| best validation MSE per seed | mean | sd | min-max |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (per_parameter, seconds, losses) in rows.items():
        spread = statistics.stdev(losses) if len(losses) > 1 else 0.0
        print(f"| {name} | {per_parameter:.2f} | {per_parameter / base[0]:.2f} | {seconds * 1000:.0f} | "
              f"{seconds / base[1]:.2f} | {', '.join(f'{loss:.4f}' for loss in losses)} | "
              f"{statistics.mean(losses):.4f} | {spread:.4f} | {min(losses):.4f}-{max(losses):.4f} |")
    paired = [b - a for a, b in zip(rows["adamw"][2], rows["adamw8bit"][2])]
    print(f"\n8-bit minus 32-bit, per seed: {', '.join(f'{d:+.4f}' for d in paired)}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.platform(),
            "threads": torch.get_num_threads(), "network": network_settings, "parameters": n_parameters,
            "horizon": args.horizon, "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "seeds": args.seeds,
            "rows": {name: {"state_bytes_per_parameter": r[0], "step_seconds": r[1], "best_val_mse": r[2]}
                     for name, r in rows.items()}, "paired_difference": paired}, indent=1))


if __name__ == "__main__":
    main()

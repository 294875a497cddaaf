"""Does the language model earn its cost? TimeLLM vs its ablations vs PatchTST, DLinear and the linear floor
on ETTh1 (all seven channels, 12/4/4-month split), in one run.

  --full:   the paper's protocol: lookback 512, the language model's first 6 blocks, 1,000 prototypes,
            d_ff 128, batch 8 (a GPU job).
  reduced:  what finishes on a 2-core CPU: lookback 96, 2 MiniLM blocks, 100 prototypes, d_ff 32,
            epochs of 50 steps of 16 windows. Stated beside every table it produces.

TimeLLM runs over the bundled MiniLM (a pretrained 6-layer BERT) unless --language-model names
another; "timellm_no_lm" removes the language model, "timellm_attention" replaces it by one attention
layer (Tan et al., NeurIPS 2024). Published rows are lookback-512 averages over H = 96..720.

    .venv/bin/python benchmarks/timellm.py [--horizons 96] [--full] [--language-model DIR]
"""
from __future__ import annotations

import argparse
import json
import platform
from datetime import date
from pathlib import Path

import numpy as np
import torch

from etth1 import FULL as LINEAR_FULL
from etth1 import load_etth1, neural, ridge_floor, seasonal_naive

# Averages over H = 96/192/336/720 at lookback 512 (DESIGN.md): Time-LLM as widely quoted, One Fits All (GPT-2)
PUBLISHED_AVERAGE = {"Time-LLM": (0.408, 0.423), "One Fits All": (0.427, 0.426)}
MODELS = ["timellm", "timellm_no_lm", "timellm_attention", "patchtst", "dlinear"]


def settings(full: bool, language_model: str | None) -> tuple[int, dict]:
    """(lookback, {model: (network settings, training settings)})."""
    if full:
        timellm = ({"language_model": language_model, "llm_layers": 6, "n_prototypes": 1000, "d_ff": 128,
                    "patch_len": 16, "stride": 8, "d_model": 32, "n_heads": 8, "dropout": 0.1},
                   {"epochs": 10, "batch_size": 8, "learning_rate": 1e-3, "patience": 3})
        lookback, linear = 512, dict(LINEAR_FULL)
    else:
        timellm = ({"language_model": language_model, "llm_layers": 2, "n_prototypes": 100, "d_ff": 32,
                    "patch_len": 16, "stride": 8, "d_model": 32, "n_heads": 8, "dropout": 0.1},
                   {"epochs": 4, "batch_size": 16, "learning_rate": 1e-3, "patience": 2, "steps_per_epoch": 50})
        lookback = 96
        linear = {"dlinear": LINEAR_FULL["dlinear"],
                  "patchtst": (LINEAR_FULL["patchtst"][0], {**LINEAR_FULL["patchtst"][1], "learning_rate": 1e-3,
                                                            "steps_per_epoch": 100})}
    description = ("Electricity Transformer Temperature: hourly load of an electricity transformer in China "
                   "and its oil temperature, 2016-2018.")
    network, training = timellm
    network = {**network, "description": description}
    return lookback, {"timellm": (network, training),
                      "timellm_no_lm": ({**network, "body": "none"}, training),
                      "timellm_attention": ({**network, "body": "attention"}, training), **linear}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--language-model", help="hub name or directory (default: the bundled MiniLM)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/timellm_etth1.json"))
    args = parser.parse_args()
    lookback, model_settings = settings(args.full, args.language_model)
    values, time_features, split = load_etth1()
    block = (values, time_features)
    rows, details = [], {}
    for horizon in args.horizons:
        row = {"H": horizon, "ridge floor": ridge_floor(block, split, horizon, lookback)[:2],
               "seasonal naive": seasonal_naive(block, split, horizon)[:2]}
        for name in args.models:
            (mse, mae, _), details[f"{name}/{horizon}"] = neural(name, block, split, horizon, model_settings,
                                                                 args.seed, lookback)
            row[name] = (mse, mae)
            print(f"H={horizon} {name}: MSE {mse:.3f} MAE {mae:.3f} ({details[f'{name}/{horizon}']})", flush=True)
        rows.append(row)
        print(_table(rows, lookback, args.full), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"date": date.today().isoformat(), "machine": platform.platform(),
                                        "threads": torch.get_num_threads(), "full": args.full, "lookback": lookback,
                                        "rows": rows, "details": details}, indent=1, default=str))


def _table(rows: list[dict], lookback: int, full: bool) -> str:
    columns = [c for c in rows[0] if c != "H"]
    lines = [f"lookback {lookback}, {'full' if full else 'reduced'} configuration",
             "| H | " + " | ".join(f"{c} MSE / MAE" for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row['H']} | " + " | ".join(f"{row[c][0]:.3f} / {row[c][1]:.3f}" for c in columns) + " |")
    if len(rows) == 4:
        lines.append("| average | " + " | ".join("{:.3f} / {:.3f}".format(*np.mean([r[c] for r in rows], axis=0))
                                              for c in columns) + " |")
    lines.append("published lookback-512 averages: " + ", ".join(f"{k} {v[0]:.3f} / {v[1]:.3f}"
                                                             for k, v in PUBLISHED_AVERAGE.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    main()

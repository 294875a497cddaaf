"""The corpus of almanac_base, chosen on validation: how real windows are drawn, at the same compute.

Candidates (each pretrains the bundled network by the bundled objective for the same number of steps):
  source              each real file equally often (the first bundled model's corpus)
  windows             each file by the square root of its count of distinct windows
  windows+aggregation and each real window at a random temporal aggregation (1, 2, 4, 8 or 24 steps a block)
  windows+aggregation, 3x windows: three times as many distinct windows, each seen a third as often
Every candidate is scored on the same validation windows, the held-out series (and synthetic windows) of the
first corpus, by the zero-shot forecast loss (the pinball loss of each window's last 64 steps forecast from
the rest). No transfer target's data is read. The scores go to results/pretrain_corpus_choice.json.

    .venv/bin/python -W ignore benchmarks/pretrain_corpus_choice.py
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from backbones.patch_lm import PatchLMConfig
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, pretrain
from pretrain_base import NETWORK

RESULTS = Path(__file__).resolve().parent / "results"
AGGREGATIONS = (1, 2, 4, 8, 24)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", default="causal", help="the bundled model's (pretrain_base_choice.json)")
    parser.add_argument("--windows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2, help="passes over --windows: the steps every candidate runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    length = NETWORK["max_patches"] * NETWORK["patch_len"]
    candidates = {
        "source": CorpusConfig(windows=args.windows, seed=args.seed),
        "windows": CorpusConfig(windows=args.windows, real_sampling="windows", seed=args.seed),
        "windows+aggregation": CorpusConfig(windows=args.windows, real_sampling="windows", aggregations=AGGREGATIONS,
                                            seed=args.seed),
        "windows+aggregation, 3x windows": CorpusConfig(windows=3 * args.windows, real_sampling="windows",
                                                        aggregations=AGGREGATIONS, seed=args.seed),
    }
    validation = build_corpus(candidates["source"], length).validation          # one set scores every candidate
    steps = args.epochs * math.ceil(args.windows / 64)
    scores = {}
    for name, config in candidates.items():
        corpus = build_corpus(config, length)
        corpus.validation = validation
        started = time.perf_counter()
        _, result = pretrain(PatchLMConfig(objective=args.objective, **NETWORK), ObjectiveConfig(args.objective),
                             corpus, PretrainConfig(epochs=100, max_steps=steps, seed=args.seed), show_progress=False)
        scores[name] = result.history[-1]["validation_forecast_loss"]
        print(json.dumps({"candidate": name, "corpus": asdict(config), "stats": {
            key: value for key, value in corpus.stats.items() if key != "validation_series"},
            "steps": result.steps, "seconds": round(time.perf_counter() - started),
            "validation_forecast_loss": scores[name], "history": result.history}), flush=True)
    chosen = min(scores, key=scores.get)
    (RESULTS / "pretrain_corpus_choice.json").write_text(json.dumps(
        {"validation_forecast_loss": scores, "chosen": chosen, "steps": steps, "objective": args.objective}, indent=1))
    print(json.dumps({"validation_forecast_loss": scores, "chosen": chosen}), flush=True)


if __name__ == "__main__":
    main()

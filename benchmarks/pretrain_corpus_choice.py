"""The corpus of almanac_base, chosen on validation: how real windows are drawn, at the same compute.

Candidates (each pretrains the bundled network by the bundled objective for the same number of steps):
  source              each real file equally often (the first bundled model's corpus)
  windows             each file by the square root of its count of distinct windows
  windows+aggregation and each real window at a random temporal aggregation (1, 2, 4, 8 or 24 steps a block)
  windows+aggregation, 3x windows: three times as many distinct windows, each seen a third as often
Every candidate is scored on the same validation windows, the held-out series (and synthetic windows) of the
first corpus at seed 0, by the zero-shot forecast loss (the pinball loss of each window's last 64 steps
forecast from the rest). No transfer target's data is read. Each seed draws its own corpus and initial weights;
the chosen candidate has the lowest mean over the seeds. Results: results/pretrain_corpus_choice.json.

    .venv/bin/python -W ignore benchmarks/pretrain_corpus_choice.py --seeds 0 1 2
    .venv/bin/python -W ignore benchmarks/pretrain_corpus_choice.py --seeds 1 2 --candidates source windows+aggregation
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from backbones.patch_lm import PatchLMConfig
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, pretrain
from pretrain_base import NETWORK

RESULTS = Path(__file__).resolve().parent / "results"
AGGREGATIONS = (1, 2, 4, 8, 24)


def candidates(windows: int, seed: int) -> dict[str, CorpusConfig]:
    by_windows = dict(real_sampling="windows", seed=seed)
    return {"source": CorpusConfig(windows=windows, seed=seed),
            "windows": CorpusConfig(windows=windows, **by_windows),
            "windows+aggregation": CorpusConfig(windows=windows, aggregations=AGGREGATIONS, **by_windows),
            "windows+aggregation, 3x windows": CorpusConfig(windows=3 * windows, aggregations=AGGREGATIONS,
                                                            **by_windows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", default="causal", help="the bundled model's (pretrain_base_choice.json)")
    parser.add_argument("--windows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2, help="passes over --windows: the steps every candidate runs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--candidates", nargs="+", choices=list(candidates(1, 0)), default=list(candidates(1, 0)))
    parser.add_argument("--out", type=Path, default=RESULTS / "pretrain_corpus_choice.jsonl",
                        help="one line per run, appended; the summary reads every line")
    args = parser.parse_args()
    torch.set_num_threads(1)
    length = NETWORK["max_patches"] * NETWORK["patch_len"]
    validation = build_corpus(candidates(args.windows, 0)["source"], length).validation   # scores every run
    steps = args.epochs * math.ceil(args.windows / 64)
    for seed in args.seeds:
        for name in args.candidates:
            config = candidates(args.windows, seed)[name]
            corpus = build_corpus(config, length)
            corpus.validation = validation
            started = time.perf_counter()
            _, result = pretrain(PatchLMConfig(objective=args.objective, **NETWORK), ObjectiveConfig(args.objective),
                                 corpus, PretrainConfig(epochs=100, max_steps=steps, seed=seed), show_progress=False)
            row = {"candidate": name, "seed": seed, "corpus": asdict(config),
                   "stats": {key: value for key, value in corpus.stats.items() if key != "validation_series"},
                   "steps": result.steps, "seconds": round(time.perf_counter() - started),
                   "validation_forecast_loss": result.history[-1]["validation_forecast_loss"],
                   "history": result.history}
            with args.out.open("a") as out:
                out.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    runs = [json.loads(line) for line in args.out.read_text().splitlines()]
    summary = {}
    for name in dict.fromkeys(run["candidate"] for run in runs):
        losses = [run["validation_forecast_loss"] for run in runs if run["candidate"] == name]
        summary[name] = {"seeds": len(losses), "mean": float(np.mean(losses)), "min": min(losses), "max": max(losses)}
    print(json.dumps({"summary": summary, "lowest mean": min(summary, key=lambda name: summary[name]["mean"])}))


if __name__ == "__main__":
    main()

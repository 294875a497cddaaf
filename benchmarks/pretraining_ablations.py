"""Pretraining ablations at the same compute: the three objectives, BERT against RoBERTa, T5's corruption rate
and span length. Every variant pretrains the same network on the same corpus windows for the same number of
windows seen, and is scored on the corpus' validation windows (held-out series and synthetic windows of their
own seed): its objective's loss, and the zero-shot forecast loss every variant shares (the pinball loss of each
window's last 4 patches forecast from the rest). Each variant's checkpoint is written for the transfer table
(benchmarks/pretraining_transfer.py).

    .venv/bin/python -W ignore benchmarks/pretraining_ablations.py                   # every variant
    .venv/bin/python -W ignore benchmarks/pretraining_ablations.py --variants span-r30 span-l5
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from backbones.patch_lm import PatchLMConfig
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, pretrain
from pretrain_base import NETWORK

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = RESULTS / "checkpoints"

# name -> (objective settings, training settings beyond the shared ones)
VARIANTS: dict[str, tuple[dict, dict]] = {
    "causal": ({"name": "causal"}, {}),
    "masked": ({"name": "masked"}, {}),                                     # RoBERTa masks, batch 64
    "span": ({"name": "span"}, {}),                                         # T5: 15%, spans of 3
    "bert": ({"name": "masked", "dynamic": False, "next_segment": True}, {}),
    "roberta-b256": ({"name": "masked"}, {"batch_size": 256, "learning_rate": 2e-3}),
    "span-r10": ({"name": "span", "mask_rate": 0.10}, {}),
    "span-r30": ({"name": "span", "mask_rate": 0.30}, {}),
    "span-r50": ({"name": "span", "mask_rate": 0.50}, {}),
    "span-l1": ({"name": "span", "mean_span": 1.0}, {}),
    "span-l5": ({"name": "span", "mean_span": 5.0}, {}),
}


def run(variant: str, corpus, epochs: int, seed: int) -> dict:
    objective_settings, training = VARIANTS[variant]
    objective = ObjectiveConfig(**objective_settings)
    network = PatchLMConfig(objective=objective.name, next_segment=objective.next_segment, **NETWORK)
    started = time.perf_counter()
    _, result = pretrain(network, objective, corpus, PretrainConfig(epochs=epochs, seed=seed, **training),
                         out=CHECKPOINTS / variant, show_progress=False)
    return {"variant": variant, "objective": objective.as_dict(), "training": training, "steps": result.steps,
            "seconds": round(time.perf_counter() - started, 1), "patches_per_second": result.patches_per_second,
            "history": result.history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--windows", type=int, default=8_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "pretraining_ablations.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = build_corpus(CorpusConfig(windows=args.windows, seed=args.seed),
                          NETWORK["max_patches"] * NETWORK["patch_len"])
    for variant in args.variants:
        row = run(variant, corpus, args.epochs, args.seed)
        print(json.dumps(row), flush=True)
        with args.out.open("a") as file:
            file.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

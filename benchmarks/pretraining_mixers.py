"""Pretraining each patch-token stack: throughput and the zero-shot forecast loss at the same steps.

The four mixers of backbones/patch_lm.py (PatchTST's transformer, Mamba, HyperMamba, Time-LLM's reprogramming
into the bundled MiniLM, frozen) pretrain the bundled network's shape by one objective on the same corpus
windows, for the same steps, one after another in one process (so the ratios are fair on a shared machine).
Recorded: patches per second, trainable parameters, and the zero-shot forecast loss on the corpus' validation
windows. The masked objective by default: the MiniLM reads both ways, which the causal objective refuses.

    .venv/bin/python -W ignore benchmarks/pretraining_mixers.py --steps 150
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from backbones.patch_lm import MIXERS, PatchLMConfig
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, pretrain
from pretrain_base import NETWORK

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", default="masked")
    parser.add_argument("--mixers", nargs="+", choices=MIXERS, default=list(MIXERS))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--windows", type=int, default=8_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "pretraining_mixers.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    corpus = build_corpus(CorpusConfig(windows=args.windows, validation_windows=500),
                          NETWORK["max_patches"] * NETWORK["patch_len"])
    for mixer in args.mixers:
        config = PatchLMConfig(objective=args.objective, mixer=mixer, **NETWORK)
        started = time.perf_counter()
        model, result = pretrain(config, ObjectiveConfig(args.objective), corpus,
                                 PretrainConfig(epochs=100, max_steps=args.steps), show_progress=False)
        row = {"mixer": mixer, "objective": args.objective, "steps": result.steps,
               "seconds": round(time.perf_counter() - started, 1), "patches_per_second": result.patches_per_second,
               "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
               "frozen_parameters": sum(p.numel() for p in model.parameters() if not p.requires_grad),
               "validation_forecast_loss": result.history[-1]["validation_forecast_loss"]}
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

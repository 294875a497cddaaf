"""The size of almanac_base, chosen on validation: a wider, deeper network and a larger corpus.

Candidates (the bundled objective, each for the same number of optimizer steps, 64 windows a step):
  base                  the bundled network (0.56M parameters) on 20,000 windows, 6 epochs: the bundled recipe
  base, 2x windows      the same network on 40,000 windows, 3 epochs
  wide, 2x windows      d_model 256, 6 layers, 8 heads (3.2M parameters) on 40,000 windows, 3 epochs
Each is scored after every epoch on the corpus' validation windows (held-out series and synthetic windows of
their own seed; the same windows for every candidate) by the zero-shot forecast loss, the pinball loss of each
window's last 64 steps forecast from the rest. No transfer target's data is read. Each candidate's checkpoint
is kept in results/checkpoints/scale_<candidate>; one line per run goes to results/pretrain_scale_choice.jsonl.

    .venv/bin/python -W ignore benchmarks/pretrain_scale_choice.py --candidates base "base, 2x windows"
    .venv/bin/python -W ignore benchmarks/pretrain_scale_choice.py --candidates "wide, 2x windows"
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
WIDE_NETWORK = dict(NETWORK, d_model=256, n_layers=6, n_heads=8, d_ff=512)
CANDIDATES = {"base": (NETWORK, 20_000, 6), "base, 2x windows": (NETWORK, 40_000, 3),
              "wide, 2x windows": (WIDE_NETWORK, 40_000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", default="causal", help="the bundled model's (pretrain_base_choice.json)")
    parser.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "pretrain_scale_choice.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.candidates:
        network, windows, epochs = CANDIDATES[name]
        config = PatchLMConfig(objective=args.objective, **network)
        corpus = build_corpus(CorpusConfig(windows=windows, seed=args.seed), config.max_patches * config.patch_len)
        started = time.perf_counter()
        model, result = pretrain(config, ObjectiveConfig(args.objective), corpus,
                                 PretrainConfig(epochs=epochs, seed=args.seed), show_progress=False,
                                 out=RESULTS / "checkpoints" / f"scale_{name.replace(', ', '_').replace(' ', '_')}")
        row = {"candidate": name, "seed": args.seed, "network": network, "windows": windows, "epochs": epochs,
               "parameters": sum(p.numel() for p in model.parameters()), "steps": result.steps,
               "seconds": round(time.perf_counter() - started), "patches_per_second": result.patches_per_second,
               "validation_forecast_loss": result.history[-1]["validation_forecast_loss"],
               "history": result.history}
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

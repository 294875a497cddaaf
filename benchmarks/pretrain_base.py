"""The bundled pretrained model, almanac_base: its objective chosen on validation, then pretrained in full.

1. Each candidate objective (causal next-patch, masked patches RoBERTa-style, T5 span corruption) pretrains
   the same network on the same corpus for a short schedule (`--candidate-windows`, `--candidate-epochs`).
   Each is scored on the corpus' held-out validation windows (held-out series, and synthetic windows of their
   own seed) by the zero-shot forecast loss every objective shares: the pinball loss of each window's last
   patches forecast from the rest. No transfer target's data is read.
2. The candidate with the lowest such loss pretrains in full (`--windows`, `--epochs`) into
   forecasting/models/weights/almanac_base: model.safetensors and pretraining.json (network, objective,
   corpus settings and contents, training settings, losses, throughput) side by side.

    .venv/bin/python -W ignore benchmarks/pretrain_base.py            # the bundled model, from scratch
    .venv/bin/python -W ignore benchmarks/pretrain_base.py --objective masked    # skip the choice
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from backbones.patch_lm import OBJECTIVES, PatchLMConfig
from forecasting.models.pretrained import BUNDLED
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.objectives import ObjectiveConfig
from forecasting.pretraining.train import PretrainConfig, pretrain

RESULTS = Path(__file__).resolve().parent / "results"
NETWORK = dict(patch_len=16, max_patches=32, forecast_patches=4, d_model=128, n_layers=4, n_heads=4, d_ff=256)


def candidates(windows: int, epochs: int, seed: int) -> dict[str, float]:
    """Each objective's zero-shot forecast loss on the validation windows after a short pretraining."""
    corpus = build_corpus(CorpusConfig(windows=windows, seed=seed), NETWORK["max_patches"] * NETWORK["patch_len"])
    scores = {}
    for objective in OBJECTIVES:
        started = time.perf_counter()
        _, result = pretrain(PatchLMConfig(objective=objective, **NETWORK), ObjectiveConfig(objective), corpus,
                             PretrainConfig(epochs=epochs, seed=seed), show_progress=False)
        scores[objective] = result.history[-1]["validation_forecast_loss"]
        print(json.dumps({"objective": objective, "seconds": round(time.perf_counter() - started),
                          "patches_per_second": result.patches_per_second, "history": result.history}), flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objective", choices=OBJECTIVES, help="skip the choice: pretrain this objective")
    parser.add_argument("--candidate-windows", type=int, default=8_000)
    parser.add_argument("--candidate-epochs", type=int, default=2)
    parser.add_argument("--windows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=BUNDLED)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    objective = args.objective
    if objective is None:
        scores = candidates(args.candidate_windows, args.candidate_epochs, args.seed)
        objective = min(scores, key=scores.get)
        (RESULTS / "pretrain_base_choice.json").write_text(json.dumps({"validation_forecast_loss": scores,
                                                                      "chosen": objective}, indent=1))
        print(json.dumps({"validation_forecast_loss": scores, "chosen": objective}), flush=True)
    corpus = build_corpus(CorpusConfig(windows=args.windows, seed=args.seed),
                          NETWORK["max_patches"] * NETWORK["patch_len"])
    _, result = pretrain(PatchLMConfig(objective=objective, **NETWORK), ObjectiveConfig(objective), corpus,
                         PretrainConfig(epochs=args.epochs, seed=args.seed), out=args.out, show_progress=False)
    print(json.dumps({"objective": objective, "out": str(args.out), "steps": result.steps, "seconds": result.seconds,
                      "patches_per_second": result.patches_per_second, "history": result.history}), flush=True)


if __name__ == "__main__":
    main()

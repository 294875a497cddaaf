"""How many sample paths a pretrained model's forecast feeds back, chosen on validation.

A causal (or span) model writes a patch at a time, each fed back as history. Feeding back the median (1 path)
conditions every later patch on the likeliest path, and its bands then hold too little; with S paths, each
feeds back its own draw and the later quantiles are those of the mixture (backbones/patch_lm.py). Scored on
the validation windows of the model's corpus (held-out series and synthetic windows; no transfer target): the
pinball loss of the last 64 steps forecast from the rest, in scaled units, over all of them and per patch,
and each patch's 80% band coverage; three seeds of the path draws, and the seconds each forecast took.

    .venv/bin/python -W ignore benchmarks/forecast_paths_choice.py
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from backbones.patch_lm import scaled_forecast
from forecasting.models.pretrained import BUNDLED
from forecasting.pretraining.corpus import CorpusConfig, build_corpus
from forecasting.pretraining.train import load_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"


def score(model, windows: torch.Tensor, paths: int, seed: int, ahead: int = 64) -> dict:
    q = torch.tensor(model.config.quantiles)
    started, pinball, covered = time.perf_counter(), [], []
    with torch.no_grad():
        for first in range(0, len(windows), 250):
            chunk = windows[first:first + 250]
            out, mean, deviation = scaled_forecast(model, chunk[:, :-ahead], ahead, paths, seed)
            target = (chunk[:, -ahead:] - mean) / deviation
            error = target[..., None] - out
            pinball.append(torch.maximum(q * error, (q - 1) * error).mean(-1))              # [B, ahead]
            covered.append(((target >= out[..., 1]) & (target <= out[..., -2])).float())    # 80%: 0.1 to 0.9
    pinball, covered = torch.cat(pinball), torch.cat(covered)
    P = model.config.patch_len
    return {"paths": paths, "seed": seed, "forecast_loss": pinball.mean().item(),
            "per_patch": [round(pinball[:, i:i + P].mean().item(), 4) for i in range(0, ahead, P)],
            "coverage_80": [round(covered[:, i:i + P].mean().item(), 3) for i in range(0, ahead, P)],
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED)
    parser.add_argument("--paths", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "forecast_paths_choice.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, record = load_checkpoint(args.checkpoint)
    corpus_config = {key: tuple(value) if isinstance(value, list) else value
                     for key, value in record["corpus"]["config"].items()}
    corpus = build_corpus(CorpusConfig(**{**corpus_config, "windows": 10}), record["corpus"]["window_steps"])
    windows = torch.from_numpy(corpus.validation)
    rows = []
    for paths in args.paths:
        for seed in range(1 if paths == 1 else args.seeds):
            rows.append(score(model, windows, paths, seed))
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for paths in args.paths:
        losses = [row["forecast_loss"] for row in rows if row["paths"] == paths]
        summary[paths] = {"mean": float(np.mean(losses)), "min": min(losses), "max": max(losses)}
    args.out.write_text(json.dumps({"checkpoint": str(args.checkpoint), "runs": rows, "summary": summary}, indent=1))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()

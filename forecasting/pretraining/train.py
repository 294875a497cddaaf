"""Pretraining: a patch language model trained on a corpus by one objective, written as a checkpoint that the
Forecaster and fine-tuning read.

A checkpoint is a folder: `model.safetensors` (the network's weights) and `pretraining.json` (the network's
config, the objective, the corpus' settings and what went into it, the training settings, the losses and the
throughput). `load_checkpoint` builds the network again from both.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from backbones.patch_lm import PatchLM, PatchLMConfig, scaled_forecast
from backbones.state import load_trained_state, trained_state
from forecasting.models.neural.training import accelerator_for, forecast_loss
from forecasting.pretraining.corpus import Corpus
from forecasting.pretraining.objectives import ObjectiveConfig, objective_loss

WEIGHTS, RECORD = "model.safetensors", "pretraining.json"


@dataclass
class PretrainConfig:
    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    max_steps: int | None = None          # stop early after this many steps (None: every epoch)
    precision: str = "no"                 # accelerate's mixed precision: "no", "bf16", "fp16"
    seed: int = 0


@dataclass
class PretrainResult:
    steps: int
    seconds: float
    patches_per_second: float
    history: list[dict] = field(default_factory=list)     # per epoch: train and validation losses


def pretrain(model_config: PatchLMConfig, objective: ObjectiveConfig, corpus: Corpus, config: PretrainConfig,
             out: Path | None = None, show_progress: bool = True) -> tuple[PatchLM, PretrainResult]:
    """Train a fresh network on the corpus by the objective; with `out`, write the checkpoint there."""
    if objective.name != model_config.objective or objective.next_segment != model_config.next_segment:
        raise ValueError(f"the network is built for objective {model_config.objective!r} (next_segment "
                         f"{model_config.next_segment}), the objective is {objective.name!r} "
                         f"({objective.next_segment})")
    window = model_config.max_patches * model_config.patch_len
    if corpus.windows.shape[1] != window:
        raise ValueError(f"the corpus' windows are {corpus.windows.shape[1]} steps; the network's window is {window}")
    torch.manual_seed(config.seed)
    accelerator = accelerator_for(config.precision)          # the GPU where there is one
    network = PatchLM(model_config)
    trainable = [p for p in network.parameters() if p.requires_grad]       # a language model inside stays frozen
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    model, optimizer = accelerator.prepare(network, optimizer)
    steps_per_epoch = math.ceil(len(corpus.windows) / config.batch_size)
    total = min(config.epochs * steps_per_epoch, config.max_steps or math.inf)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _warmup_cosine(step, config.warmup_steps, total))
    rng = np.random.default_rng(config.seed)
    history, step, started, patches = [], 0, time.perf_counter(), 0
    bar = tqdm(total=total, desc=f"pretraining ({objective.name})", disable=not show_progress, unit="step")
    for epoch in range(config.epochs):
        model.train()
        order, losses = rng.permutation(len(corpus.windows)), []
        for first in range(0, len(order), config.batch_size):
            ids = order[first:first + config.batch_size]
            windows = torch.from_numpy(corpus.windows[ids]).to(accelerator.device)
            with accelerator.autocast():
                loss, parts = objective_loss(network, objective, windows, ids, epoch, config.seed, rng)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(parts)
            step, patches = step + 1, patches + len(ids) * model_config.max_patches
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}",
                            patches_per_s=f"{patches / (time.perf_counter() - started):,.0f}")
            if step >= total:
                break
        history.append({"epoch": epoch + 1, "step": step,
                        **{f"train_{key}": float(np.mean([p[key] for p in losses])) for key in losses[0]},
                        **{f"validation_{key}": value for key, value in
                           validation_loss(network, objective, corpus, config, accelerator.device).items()}})
        if step >= total:
            break
    bar.close()
    seconds = time.perf_counter() - started
    result = PretrainResult(step, round(seconds, 1), round(patches / seconds, 1), history)
    network = accelerator.unwrap_model(model).cpu().eval()
    if out is not None:
        save_checkpoint(network, out, {"objective": objective.as_dict(), "corpus": corpus.record(),
                                       "training": asdict(config), "result": asdict(result),
                                       "device": str(accelerator.device)})
    return network, result


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


@torch.no_grad()
def validation_loss(model: PatchLM, objective: ObjectiveConfig, corpus: Corpus, config: PretrainConfig,
                    device: torch.device | str = "cpu") -> dict:
    """On the held-out windows: the objective's loss, with the same draws every time (epoch 0, a fixed seed), and
    `forecast_loss`, the pinball loss of the zero-shot forecast of each window's last forecast_patches from the
    rest, in its scaled units: the one score every objective shares."""
    model.eval()
    rng, parts = np.random.default_rng([config.seed, 2]), []
    ids = np.arange(len(corpus.validation)) + len(corpus.windows)      # never a training window's identity
    ahead = model.config.forecast_patches * model.config.patch_len
    for first in range(0, len(ids), config.batch_size * 4):
        chunk = ids[first:first + config.batch_size * 4]
        windows = torch.from_numpy(corpus.validation[chunk - len(corpus.windows)]).to(device)
        _, part = objective_loss(model, objective, windows, chunk, 0, config.seed, rng)
        out, mean, deviation = scaled_forecast(model, windows[:, :-ahead], ahead)
        part["forecast_loss"] = forecast_loss(out, (windows[:, -ahead:] - mean) / deviation,
                                              model.config.quantiles).item()
        parts.append((len(chunk), part))
    model.train()
    count = sum(n for n, _ in parts)
    return {key: sum(n * part[key] for n, part in parts) / count for key in parts[0][1]}


def save_checkpoint(model: PatchLM, folder: Path, record: dict) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in trained_state(model).items()}, folder / WEIGHTS)
    record = {"model": {**asdict(model.config), "quantiles": list(model.config.quantiles)}, **record}
    (folder / RECORD).write_text(json.dumps(record, indent=1))


def load_checkpoint(folder: Path | str) -> tuple[PatchLM, dict]:
    """The pretrained network (in eval mode) and its record; a folder without both files is an error that
    says what it lacks."""
    folder = Path(folder)
    missing = [name for name in (WEIGHTS, RECORD) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a pretrained checkpoint: it lacks {', '.join(missing)} "
                                f"(`almanac pretrain --out {folder}` writes one)")
    record = json.loads((folder / RECORD).read_text())
    model = PatchLM(PatchLMConfig(**{**record["model"], "quantiles": tuple(record["model"]["quantiles"])}))
    load_trained_state(model, load_file(folder / WEIGHTS))
    return model.eval(), record

"""The one training loop every network goes through.

Hugging Face `accelerate` places the network (CPU, one GPU, several, or several nodes under
`accelerate launch`) and, when `precision` asks for it, runs bf16 or fp16 autocast; the loop itself
stays short: shuffled windows, loss, clipping, the warm-up + cosine schedule of `transformers`,
validation, early stopping, a checkpoint per epoch. Resuming a killed run restores weights,
optimizer, schedule, early-stopping state and RNG, so it ends where an uninterrupted run would; a
checkpoint records the training settings and quantiles, and resuming with other ones (or another
network) is refused rather than continued.

Weight decay, as in the reference implementations, applies to weight matrices only: not to biases,
norms, or parameters a backbone marks `_no_weight_decay` (Mamba's A_log and D).
"""
from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from backbones.state import is_pretrained, load_trained_state, trained_state
from forecasting.models.neural.windows import Windows

OPTIMIZERS = ("adamw", "adamw8bit")
PRECISIONS = ("no", "bf16", "fp16")


@dataclass
class TrainingConfig:
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    optimizer: str = "adamw"               # "adamw8bit": bitsandbytes' block-wise 8-bit states
    warmup: float = 0.05                   # share of steps with a linear LR ramp, then cosine decay
    clip_grad_norm: float | None = 1.0
    patience: int = 3                      # epochs without a better validation loss before stopping
    steps_per_epoch: int | None = None     # None: one pass over the windows; else exactly this many
                                           # steps (a subset of big data, several passes over small data)
    seed: int = 0
    precision: str = "no"                  # accelerate mixed precision: "no", "bf16", "fp16"
    cpu: bool = False                      # stay on CPU even when a GPU is present

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs} and {self.batch_size}")


@dataclass
class TrainingResult:
    epochs_run: int
    best_epoch: int
    best_val_loss: float                                # NaN without validation windows
    history: list[dict] = field(default_factory=list)  # {"epoch", "train_loss", "val_loss"} per epoch


def forecast_loss(prediction: torch.Tensor, target: torch.Tensor, quantiles: tuple[float, ...]) -> torch.Tensor:
    """MSE for a point forecast [B, H, C]; mean pinball loss for quantiles [B, H, C, Q]."""
    if not quantiles:
        return torch.mean((prediction - target) ** 2)
    q = torch.tensor(quantiles, dtype=prediction.dtype, device=prediction.device)
    error = target.unsqueeze(-1) - prediction                                   # [B, H, C, Q]
    return torch.mean(torch.maximum(q * error, (q - 1) * error))


def train(network: nn.Module, train_windows: Windows, val_windows: Windows | None, config: TrainingConfig,
          quantiles: tuple[float, ...] = (), checkpoint_dir: str | Path | None = None, resume: bool = False,
          progress: Callable[[int, int], None] | None = None, show_bar: bool = True) -> TrainingResult:
    """Train `network` in place; it ends holding the weights of its best validation epoch, or, without
    validation windows, those of its last epoch (a fixed number of epochs, no early stopping).

    With `checkpoint_dir`, every epoch is saved there; `resume=True` continues from the last one, which
    must come from a run with the same settings, quantiles and network shapes (else a TrainingError).
    `progress(epochs done, epochs)` is called after each step and after each epoch's checkpoint is written;
    an exception it raises stops training there. `show_bar` shows a bar on terminals.
    """
    if len(train_windows) == 0:
        raise ValueError("no training windows: the series are shorter than lookback + horizon")
    accelerator = accelerator_for(config.precision, config.cpu)
    set_seed(config.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    per_step = config.batch_size * world
    steps = config.steps_per_epoch or math.ceil(len(train_windows) / per_step)
    # imported here: transformers takes seconds to import, and only training needs it
    from transformers import get_cosine_schedule_with_warmup

    optimizer = build_optimizer(network, config)
    total_steps = steps * config.epochs
    scheduler = get_cosine_schedule_with_warmup(optimizer, max(int(config.warmup * total_steps), 1), total_steps)
    model, optimizer = accelerator.prepare(network, optimizer)
    raw = accelerator.unwrap_model(model)

    state = {"epoch": 0, "best_epoch": 0, "best_val_loss": math.inf, "bad_epochs": 0, "history": []}
    best_weights = _cpu_state(raw)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir is not None else None
    settings = {**asdict(config), "quantiles": list(quantiles)}
    if resume and checkpoints is not None and (checkpoints / "latest").is_file():
        state, best_weights = _load_checkpoint(checkpoints, raw, optimizer, scheduler, settings)

    validating = bool(val_windows)
    bar = tqdm(total=config.epochs, initial=state["epoch"], desc="training", unit="epoch",
               disable=None if show_bar and accelerator.is_local_main_process else True, leave=False)
    while state["epoch"] < config.epochs and state["bad_epochs"] < config.patience:
        epoch = state["epoch"] + 1
        model.train()
        order = _epoch_order(len(train_windows), steps * per_step, config.seed * 100_003 + epoch)
        total, count = torch.zeros((), device=accelerator.device), 0
        for step in range(steps):
            # `order` runs into the next shuffle, so every step, the last included, has a full batch
            index = order[step * per_step:(step + 1) * per_step][rank::world]
            batch, target = train_windows.batch(index)
            with accelerator.autocast():
                loss = forecast_loss(model(batch.to(accelerator.device)).float(), target.to(accelerator.device), quantiles)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            if config.clip_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(index)
            count += len(index)
            if progress is not None:  # between epochs too: a progress that raises stops training within a step
                progress(state["epoch"], config.epochs)
        train_loss = float(accelerator.reduce(total, "sum")) / max(int(accelerator.reduce(torch.tensor(count, device=accelerator.device), "sum")), 1)
        val_loss = evaluate_loss(model, val_windows, quantiles, config.batch_size * 4, accelerator) if validating else math.nan
        if not (math.isfinite(train_loss) and (math.isfinite(val_loss) or not validating)):
            bar.close()
            raise TrainingError(
                f"training diverged in epoch {epoch}: the training loss is {train_loss}, the validation loss "
                f"{val_loss}. No model was kept. Lower learning_rate (now {config.learning_rate:g}), use "
                f"precision='no' (now {config.precision!r}), or check the series for extreme values.")
        if not validating or val_loss < state["best_val_loss"]:
            state.update(best_val_loss=val_loss, best_epoch=epoch, bad_epochs=0)
            best_weights = _cpu_state(raw)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["history"].append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if checkpoints is not None and accelerator.is_main_process:
            _save_checkpoint(checkpoints, raw, best_weights, optimizer, scheduler, state, settings)
        accelerator.wait_for_everyone()
        bar.update(1)
        bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
        if progress is not None:
            progress(epoch, config.epochs)
    bar.close()
    load_trained_state(raw, best_weights)
    raw.to("cpu")
    return TrainingResult(epochs_run=state["epoch"], best_epoch=state["best_epoch"],
                          best_val_loss=state["best_val_loss"], history=state["history"])


@torch.no_grad()
def evaluate_loss(model: nn.Module, windows: Windows, quantiles: tuple[float, ...], batch_size: int,
                  accelerator: Accelerator) -> float:
    """Mean loss over *all* windows (no window dropped), sharded across processes."""
    model.eval()
    shard = torch.arange(accelerator.process_index, len(windows), accelerator.num_processes)
    total = torch.zeros((), device=accelerator.device, dtype=torch.float64)
    for start in range(0, len(shard), batch_size):
        index = shard[start:start + batch_size]
        batch, target = windows.batch(index)
        with accelerator.autocast():
            prediction = model(batch.to(accelerator.device)).float()
        total += forecast_loss(prediction, target.to(accelerator.device), quantiles).double() * len(index)
    return float(accelerator.reduce(total, "sum")) / len(windows)


class TrainingError(ValueError):
    """Training cannot give a model: the message names the epoch and what to change."""


def use_stable_embeddings(network: nn.Module) -> nn.Module:
    """Swap every trained nn.Embedding for bitsandbytes' StableEmbedding (layer norm, 32-bit optimizer
    states), which the 8-bit optimizer paper asks for to keep embeddings stable. Weights are kept.
    Pretrained modules (language models) are left alone: a new layer norm would change what their
    embeddings compute; build_optimizer gives those 32-bit states instead."""
    import bitsandbytes as bnb

    for name, child in network.named_children():
        if is_pretrained(child):
            continue
        if (isinstance(child, nn.Embedding) and child.weight.requires_grad
                and not isinstance(child, bnb.nn.StableEmbedding)):
            stable = bnb.nn.StableEmbedding(child.num_embeddings, child.embedding_dim, child.padding_idx)
            stable.weight.data.copy_(child.weight.data)
            setattr(network, name, stable)
        else:
            use_stable_embeddings(child)
    return network


# ---- pieces ------------------------------------------------------------------------------------

def accelerator_for(precision: str, cpu: bool = False) -> Accelerator:
    """The Accelerator for a run at this mixed precision ("no", "bf16", "fp16"), on the CPU if asked or without GPU."""
    # accelerate keeps one process-wide state; a different precision than the last run needs a reset.
    if AcceleratorState._shared_state and AcceleratorState().mixed_precision != precision:
        AcceleratorState._reset_state()
    # Without a GPU, say so: accelerate then runs `torchrun`/`accelerate launch` processes as a gloo group.
    return Accelerator(mixed_precision=precision, cpu=cpu or not torch.cuda.is_available())


def build_optimizer(network: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adamw8bit":
        import bitsandbytes as bnb

        use_stable_embeddings(network)
        # bitsandbytes keeps per-parameter settings in one process-wide manager: forget earlier optimizers'
        manager = bnb.optim.GlobalOptimManager.get_instance()
        manager.initialize()
        optimizer = bnb.optim.AdamW8bit(_parameter_groups(network, config.weight_decay), lr=config.learning_rate)
        # trained embeddings left as nn.Embedding are pretrained ones: 32-bit states for them (found by
        # the optimizer in its parameter groups at its first step)
        for module in network.modules():
            if type(module) is nn.Embedding and module.weight.requires_grad:
                manager.register_module_override(module, "weight", {"optim_bits": 32})
        return optimizer
    return torch.optim.AdamW(_parameter_groups(network, config.weight_decay), lr=config.learning_rate)


def _parameter_groups(network: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: weight matrices decay; biases, norms (anything 1-D) and
    parameters marked `_no_weight_decay` do not."""
    decay, no_decay = [], []
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        exempt = parameter.ndim < 2 or name.endswith("bias") or getattr(parameter, "_no_weight_decay", False)
        (no_decay if exempt else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def _epoch_order(n_windows: int, n_draws: int, seed: int) -> torch.Tensor:
    """Window indices for one epoch: fresh permutations, back to back, until n_draws are covered."""
    generator = torch.Generator().manual_seed(seed)
    passes = max(1, math.ceil(n_draws / n_windows))
    return torch.cat([torch.randperm(n_windows, generator=generator) for _ in range(passes)])


def _cpu_state(network: nn.Module) -> dict[str, torch.Tensor]:
    return {key: value.detach().to("cpu", copy=True) for key, value in trained_state(network).items()}


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def _save_checkpoint(directory: Path, network: nn.Module, best_weights: dict, optimizer, scheduler, state: dict,
                     settings: dict) -> None:
    """Write `epoch-N/` completely under a temporary name, rename it, then move the `latest`
    pointer: a run killed at any moment leaves the previous checkpoint intact."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{state['epoch']:04d}"
    partial = directory / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    save_file(_cpu_state(network), partial / "model.safetensors")
    save_file(best_weights, partial / "best.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": _rng_state(), "state": state, "settings": settings}, partial / "trainer_state.pt")
    shutil.rmtree(directory / name, ignore_errors=True)
    os.replace(partial, directory / name)
    pointer = directory / ".latest.partial"
    pointer.write_text(name)
    os.replace(pointer, directory / "latest")
    for old in directory.glob("epoch-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(directory: Path, network: nn.Module, optimizer, scheduler, settings: dict) -> tuple[dict, dict]:
    folder = directory / (directory / "latest").read_text().strip()
    weights = load_file(folder / "model.safetensors")
    trainer = torch.load(folder / "trainer_state.pt", weights_only=True)
    changes = _changed_settings(trainer.get("settings"), settings) + _changed_shapes(weights, trained_state(network))
    if changes:
        raise TrainingError(f"{directory} holds a run that differs from this one ({'; '.join(changes)}), and resuming "
                            "continues the same run only. Pass another checkpoint_dir, or resume=False to train from "
                            "the start.")
    load_trained_state(network, weights)
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    torch.set_rng_state(trainer["rng"]["cpu"])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([trainer["rng"][f"cuda{i}"] for i in range(torch.cuda.device_count())])
    return trainer["state"], load_file(folder / "best.safetensors")



def _changed_settings(saved: dict | None, settings: dict) -> list[str]:
    if saved is None:
        return ["its settings are not recorded: an earlier version wrote it"]
    return [f"{key} {saved.get(key)!r} there, {settings.get(key)!r} now"
            for key in sorted(saved.keys() | settings.keys()) if saved.get(key) != settings.get(key)]


def _changed_shapes(saved: dict[str, torch.Tensor], network: dict[str, torch.Tensor]) -> list[str]:
    changed = [f"{key} {list(saved[key].shape) if key in saved else 'absent'} there, "
               f"{list(network[key].shape) if key in network else 'absent'} now"
               for key in sorted(saved.keys() | network.keys())
               if key not in saved or key not in network or saved[key].shape != network[key].shape]
    return [f"network weights {', '.join(changed[:3])}"] if changed else []

"""A pretrained patch language model as a Forecaster model: zero-shot, or fine-tuned on the panel.

`pretrained` reads any checkpoint that `almanac pretrain` wrote; `almanac_base` is the one bundled in the
repository (forecasting/models/weights/almanac_base, made by benchmarks/pretrain_base.py). A forecast reads
each series' latest window (up to the network's context; a shorter history is padded at its start) and
writes the horizon by the objective's route; its median is the point forecast and its quantiles are the
interval ends (a level between two quantiles is interpolated).

Tuning modes: "zero_shot" trains nothing; "linear_probe" trains only the patch head (a linear map);
"lora" trains low-rank adapters (peft) on the mixer's linear maps and the head, then folds them in;
"gradual" trains the head first, then one more mixer layer from the top each epoch, then everything
(ULMFiT's gradual unfreezing, as T5 compared it); "full" trains everything. Fine-tuning scores each epoch on
each series' last h rows and keeps the best epoch's weights.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from pydantic import BaseModel, NonNegativeInt, PositiveFloat, PositiveInt

from backbones.patch_lm import SCALED_LIMIT, PatchLM, PatchLMConfig, scaled_forecast
from backbones.state import is_pretrained, load_trained_state, trained_state
from forecasting.models.base import SAVED, FitState, GlobalModel, History, PanelFit, SeriesForecast, read_saved
from forecasting.models.neural.training import accelerator_for, forecast_loss
from forecasting.pretraining.train import load_checkpoint

BUNDLED = Path(__file__).resolve().parent / "weights" / "almanac_base"
TUNINGS = ("zero_shot", "linear_probe", "lora", "gradual", "full")
PRECISIONS = ("no", "bf16", "fp16")
# the linear maps of the mixers: the transformer's, Mamba's (and HyperMamba's), the reprogramming's
LORA_TARGETS = ["linear1", "linear2", "out_proj", "in_proj", "x_proj", "query", "value", "out"]


@dataclass
class Pretrained(GlobalModel):
    """A pretrained patch language model (`almanac pretrain`): zero-shot, or fine-tuned on the panel.

    checkpoint: the folder `almanac pretrain` wrote (almanac_base: the bundled one unless given).
    tuning: "zero_shot", "linear_probe", "lora", "gradual" or "full" (see the module's notes).
    epochs, steps_per_epoch, batch_size, learning_rate, lora_rank, seed: fine-tuning's settings.
    precision: fine-tuning's mixed precision through accelerate ("no", "bf16", "fp16"); it runs on the GPU
    where there is one.
    sample_paths: paths a forecast feeds back beyond the first written patch (1: the median alone, the
    later bands too narrow; more: each path its own draws, the bands those of their mixture, at that many
    times the cost); chosen on validation by benchmarks/forecast_paths_choice.py.
    """

    name: ClassVar[str] = "pretrained"
    unsaved: ClassVar[frozenset[str]] = frozenset({"checkpoint"})
    checkpoint: str | None = None
    tuning: Literal["zero_shot", "linear_probe", "lora", "gradual", "full"] = "zero_shot"
    epochs: PositiveInt = 5
    steps_per_epoch: PositiveInt = 50
    batch_size: PositiveInt = 32
    learning_rate: PositiveFloat = 3e-4
    lora_rank: PositiveInt = 8
    seed: NonNegativeInt = 0
    precision: Literal["no", "bf16", "fp16"] = "no"
    sample_paths: PositiveInt = 32

    def __post_init__(self) -> None:
        if self.tuning not in TUNINGS:
            raise ValueError(f"tuning must be one of {TUNINGS}, got {self.tuning!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def min_length(self, h: int) -> int:
        # zero-shot reads any history; fine-tuning needs a window to train on before the last h rows
        return 1 if self.tuning == "zero_shot" else 2 * h + 1

    def fit_panel(self, history: History, freq: str, h: int, levels: list[int], progress=None) -> FittedPretrained:
        if self.checkpoint is None and self.name == "pretrained":
            raise ValueError("pretrained forecasts from a checkpoint: give checkpoint= the folder `almanac pretrain` "
                             "wrote (--set pretrained.checkpoint=DIR), or use almanac_base, the bundled one")
        model, record = load_checkpoint(self.checkpoint or BUNDLED)
        fit = FittedPretrained(self.name, model, model.config.objective, self.tuning)
        if self.tuning != "zero_shot":
            fit.training = fine_tune(model, history, h, self, progress)
        return fit

    def forecast_panel(self, history: History, freq: str, h: int, levels: list[int],
                       fit: FittedPretrained) -> list[SeriesForecast]:
        quantiles = fit.predict(history.values, h, self.sample_paths)                     # [S, h, Q]
        grid = np.array(fit.model.config.quantiles)
        forecasts = []
        for series in quantiles:
            forecast = SeriesForecast(mean=series[:, list(grid).index(0.5)])
            for level in levels:
                low, high = (1 - level / 100) / 2, 1 - (1 - level / 100) / 2
                forecast.lower[level] = np.array([np.interp(low, grid, step) for step in series])
                forecast.upper[level] = np.array([np.interp(high, grid, step) for step in series])
            forecasts.append(forecast)
        return forecasts

    def restore_panel(self, state: FitState, series: list[str], h: int, levels: list[int]) -> FittedPretrained:
        return FittedPretrained.from_state(state, self.name)


@dataclass
class AlmanacBase(Pretrained):
    """Almanac's bundled pretrained model: forecasts any series zero-shot, with quantile intervals."""

    name: ClassVar[str] = "almanac_base"


class SavedPretrained(BaseModel):
    """A FittedPretrained's spec in a model file: the network's config; its weights are the file's arrays."""

    model_config = SAVED
    network: dict
    objective: str
    tuning: str


@dataclass
class FittedPretrained(PanelFit):
    name: str                                 # the model's registered name
    model: PatchLM
    objective: str
    tuning: str
    training: list[dict] | None = None        # fine-tuning: per epoch, train and validation loss

    @torch.no_grad()
    def predict(self, values: list[np.ndarray], h: int, paths: int = 1, batch: int = 256) -> np.ndarray:
        """Each series' quantile forecasts [S, h, Q], from its latest window, with `paths` sample paths."""
        self.model.eval()
        context = self.model.config.context_steps
        histories = np.stack([left_padded(y, len(y), context) for y in values])
        batch = max(1, batch // paths)
        out = [self.model.forecast(torch.from_numpy(histories[first:first + batch]), h, paths)
               for first in range(0, len(histories), batch)]
        return torch.cat(out).double().numpy()

    def choice_note(self) -> str | None:
        if self.tuning == "zero_shot":
            return (f"{self.name}: zero-shot, the pretrained {self.objective} model as it is (nothing trained on "
                    f"these series)")
        if not self.training:
            return f"{self.name}: fine-tuned ({self.tuning}) from the pretrained {self.objective} model"
        best = min(self.training, key=lambda row: row["validation_loss"])
        return (f"{self.name}: fine-tuned ({self.tuning}) from the pretrained {self.objective} model: epoch "
                f"{best['epoch']} of {len(self.training)} kept (validation loss {best['validation_loss']:.4f} on "
                f"each series' last rows)")

    def to_state(self) -> FitState:
        config = {**self.model.config.__dict__, "quantiles": list(self.model.config.quantiles)}
        arrays = {f"weight:{key}": value.numpy() for key, value in trained_state(self.model).items()}
        spec = SavedPretrained(network=config, objective=self.objective, tuning=self.tuning)
        return FitState(spec=spec.model_dump(), arrays=arrays)

    @classmethod
    def from_state(cls, state: FitState, name: str) -> FittedPretrained:
        saved = read_saved(SavedPretrained, state.spec)
        model = PatchLM(PatchLMConfig(**{**saved.network, "quantiles": tuple(saved.network["quantiles"])}))
        weights = {key.removeprefix("weight:"): torch.from_numpy(np.asarray(value))
                   for key, value in state.arrays.items() if key.startswith("weight:")}
        try:
            load_trained_state(model, weights)
        except (RuntimeError, ValueError) as error:           # a missing, extra or misshapen weight
            raise ValueError(f"the saved {name} network does not fit its config: {error}") from None
        return cls(name, model.eval(), saved.objective, saved.tuning)


def left_padded(values: np.ndarray, end: int, steps: int) -> np.ndarray:
    """values[:end]'s last `steps` values, padded at the start with the first value where it is shorter."""
    window = np.asarray(values[max(0, end - steps):end], np.float32)
    return np.concatenate([np.full(steps - len(window), window[0], np.float32), window])


# ---- fine-tuning --------------------------------------------------------------------------------------------

def fine_tune(model: PatchLM, history: History, h: int, settings: Pretrained, progress=None) -> list[dict]:
    """Train the model in place on windows of the panel by the tuning mode, through accelerate (the GPU where
    there is one, settings.precision); returns the loss per epoch. The model ends on the CPU."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    accelerator = accelerator_for(settings.precision)
    device = accelerator.device
    context = model.config.context_steps
    # validation: each series' last h rows from the history before them; training cutoffs end before them
    val_history = torch.from_numpy(np.stack([left_padded(y, len(y) - h, context) for y in history.values]))
    val_target = torch.from_numpy(np.stack([np.asarray(y[-h:], np.float32) for y in history.values]))
    last_cutoffs = np.array([len(y) - 2 * h for y in history.values])
    if last_cutoffs.min() < 1:
        short = [series for series, last in zip(history.ids, last_cutoffs) if last < 1]
        raise ValueError(f"fine-tuning for h = {h} needs at least {2 * h + 1} rows a series (its last {h} choose "
                         f"the epoch, a window before them trains); {len(short)} series have fewer, e.g. "
                         f"{short[:3]}: forecast them zero-shot (tuning='zero_shot') or with a shorter horizon")
    tuned = (_with_lora(model, settings.lora_rank) if settings.tuning == "lora" else model).to(device)
    history_rows, best, best_state = [], np.inf, None
    for epoch in range(settings.epochs):
        _set_trainable(model, settings.tuning, epoch)
        optimizer = accelerator.prepare_optimizer(torch.optim.AdamW(
            [p for p in tuned.parameters() if p.requires_grad], lr=settings.learning_rate))
        tuned.train()
        losses = []
        for _ in range(settings.steps_per_epoch):
            series = rng.integers(len(history.values), size=settings.batch_size)
            cutoffs = [rng.integers(1, last + 1) for last in last_cutoffs[series]]
            x = torch.from_numpy(np.stack([left_padded(history.values[s], c, context)
                                           for s, c in zip(series, cutoffs)]))
            y = torch.from_numpy(np.stack([np.asarray(history.values[s][c:c + h], np.float32)
                                           for s, c in zip(series, cutoffs)]))
            with accelerator.autocast():
                loss = _scaled_loss(tuned, x.to(device), y.to(device), h)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            losses.append(loss.item())
        with torch.no_grad(), accelerator.autocast():
            tuned.eval()
            validation = _scaled_loss(tuned, val_history.to(device), val_target.to(device), h).item()
        history_rows.append({"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "validation_loss": validation})
        if validation < best:
            best, best_state = validation, copy.deepcopy(tuned.state_dict())
        if progress is not None:
            progress(epoch + 1, settings.epochs)
    tuned.load_state_dict(best_state)
    if settings.tuning == "lora":           # adapters folded into the weights: a plain network again
        merged = tuned.merge_and_unload()
        model.load_state_dict(merged.state_dict())
    model.requires_grad_(False).cpu()
    return history_rows


def _scaled_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, h: int) -> torch.Tensor:
    """Pinball loss of the forecast of y [B, h] from x [B, T], in each window's scaled units, clipped as
    pretraining clips them (a flat history scales its future by almost nothing: one such window must not
    swamp a batch)."""
    network = model.base_model.model if hasattr(model, "base_model") else model
    out, mean, deviation = scaled_forecast(network, x, h)
    target = ((y - mean) / deviation).clamp(-SCALED_LIMIT, SCALED_LIMIT)
    return forecast_loss(out, target, network.config.quantiles)


def _with_lora(model: PatchLM, rank: int) -> torch.nn.Module:
    # full names, so that a frozen language model's own projections (shared by the process) are never wrapped
    frozen = [name + "." for name, module in model.mixer.named_modules() if is_pretrained(module)]
    targets = [f"mixer.{name}" for name, module in model.mixer.named_modules()
               if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in LORA_TARGETS
               and not name.startswith(tuple(frozen))]
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets,
                                            modules_to_save=["patch_head"]))


def _mixer_layers(model: PatchLM) -> list[torch.nn.Module]:
    layers = model.mixer.layers
    return list(layers.layers if isinstance(layers, torch.nn.TransformerEncoder) else layers)


def _set_trainable(model: PatchLM, tuning: str, epoch: int) -> None:
    """Which parameters train in this epoch."""
    if tuning == "lora":
        return                              # peft set it: the adapters and the head
    model.requires_grad_(tuning == "full")
    if tuning != "full":
        for module in (model.patch_head, model.norm):
            module.requires_grad_(True)
    if tuning == "gradual":
        layers = _mixer_layers(model)
        for layer in layers[len(layers) - epoch:] if epoch else []:
            layer.requires_grad_(True)
        if epoch > len(layers):
            model.requires_grad_(True)
    for module in model.modules():          # a language model inside stays frozen (Time-LLM's)
        if is_pretrained(module):
            module.requires_grad_(False)

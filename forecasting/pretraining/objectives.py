"""The three pretraining objectives, as the language-model papers defined them, on windows of series.

A window is N patches of P steps, scaled by the mean and deviation of its context (all but its last
`forecast_patches`, the patches one forecast step of the model writes: what a forecast from it would know).
Every objective's loss is the pinball loss of the patch head's quantiles on the values it must recover.

- causal (GPT): every patch predicts the next one.
- masked: `mask_rate` of the patches enter as the mask token and are recovered from the rest. BERT-style
  (`dynamic=False`): each window's mask is drawn once, from the window's identity, and every pass over it sees
  the same one; with `next_segment`, the window's second half is, for half of the windows (also fixed), swapped
  for another window's second half, and a head tells whether it follows. RoBERTa-style (`dynamic=True`): the
  masks are drawn again every epoch, no next-segment task (and, in the papers, larger batches: a training
  setting).
- span (T5): `mask_rate` of the patches, in spans of mean length `mean_span`, each replaced by one sentinel in
  the encoder's input; the decoder writes every sentinel followed by its span. As T5's segmentation does, the
  window alternates kept and corrupted runs and ends with a corrupted one.

A share of the windows (`forecast_share`; for span, of the batches, so every window in it has the same
layout) have their last `forecast_patches` patches masked or corrupted: the forecast each objective makes
zero-shot (causal forecasts by its nature).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from backbones.patch_lm import OBJECTIVES, PatchLM, scale
from forecasting.models.neural.training import forecast_loss


@dataclass
class ObjectiveConfig:
    name: str = "masked"                  # "causal" | "masked" | "span"
    mask_rate: float = 0.15               # masked: share of patches masked; span: corruption rate
    dynamic: bool = True                  # masked: masks redrawn every epoch (RoBERTa), else fixed per window (BERT)
    next_segment: bool = False            # masked, BERT-style: the next-segment task
    mean_span: float = 3.0                # span: mean corrupted span, in patches
    forecast_share: float = 0.5           # windows (span: batches) whose last forecast_patches are the target

    def __post_init__(self) -> None:
        if self.name not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.name!r}")
        if not 0 < self.mask_rate < 1:
            raise ValueError(f"mask_rate must be between 0 and 1, got {self.mask_rate}")
        if self.next_segment and (self.name != "masked" or self.dynamic):
            raise ValueError("next_segment is BERT's task: it needs name='masked' and dynamic=False")
        if self.mean_span < 1 or not 0 <= self.forecast_share <= 1:
            raise ValueError("mean_span must be at least 1 and forecast_share within [0, 1]")

    def as_dict(self) -> dict:
        return asdict(self)


def window_rng(seed: int, window: int, epoch: int) -> np.random.Generator:
    """The draws of one window: the same for the same (seed, window, epoch)."""
    return np.random.default_rng([seed, window, epoch])


def draw_masks(config: ObjectiveConfig, patches: int, forecast_patches: int, windows: np.ndarray, epoch: int,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Masked objective: per window, which patches are masked [B, N] bool, and (next segment) whether its
    second half was swapped [B] bool. Static masks (BERT) ignore the epoch; dynamic ones (RoBERTa) do not."""
    masked = np.zeros((len(windows), patches), bool)
    swapped = np.zeros(len(windows), bool)
    count = max(1, round(config.mask_rate * patches))
    for row, window in enumerate(windows):
        rng = window_rng(seed, int(window), epoch if config.dynamic else 0)
        free = patches
        if rng.random() < config.forecast_share:
            masked[row, -forecast_patches:] = True
            free -= forecast_patches
        masked[row, rng.choice(free, size=min(count, free), replace=False)] = True
        swapped[row] = config.next_segment and rng.random() < 0.5
    return masked, swapped


def span_layout(config: ObjectiveConfig, patches: int, rng: np.random.Generator, forecast_patches: int = 0
                ) -> np.ndarray:
    """T5's random segmentation of N patches: [N] int, 0 for a kept patch, k >= 1 for one in corrupted span k.
    Kept and corrupted runs alternate, starting kept and ending corrupted; with `forecast`, the last corrupted
    run is exactly the last `forecast_patches` patches (0: as T5 draws it)."""
    noise = min(max(1, round(config.mask_rate * patches)), patches - 1)
    spans = max(1, min(round(noise / config.mean_span), noise, patches - noise))
    if forecast_patches:
        last = forecast_patches
        earlier = max(noise - last, spans - 1) if spans > 1 else 0        # the other spans' patches
        noise_lengths = _segment(earlier, spans - 1, rng) + [last]
        noise = earlier + last
    else:
        noise_lengths = _segment(noise, spans, rng)
    if patches - noise < spans:
        raise ValueError(f"{patches} patches cannot hold {spans} corrupted spans of {noise} patches in all "
                         f"and a kept run before each: lower mask_rate or the forecast's patches")
    layout = []
    for span, (kept, corrupted) in enumerate(zip(_segment(patches - noise, spans, rng), noise_lengths), start=1):
        layout += [0] * kept + [span] * corrupted
    return np.array(layout)


def _segment(total: int, parts: int, rng: np.random.Generator) -> list[int]:
    """`total` split at random into `parts` positive lengths (T5's _random_segmentation)."""
    if parts <= 0:
        return []
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False)) if parts > 1 else np.array([], int)
    return np.diff(np.concatenate([[0], cuts, [total]])).astype(int).tolist()


@dataclass
class SpanBatch:
    encoder_patches: Tensor               # [B, Ne, P] kept patches, zeros where a sentinel stands
    encoder_sentinel: Tensor              # [B, Ne] 0: a patch, k: sentinel k
    decoder_patches: Tensor               # [B, Nd, P] sentinel 1, span 1's patches, sentinel 2, ...
    decoder_sentinel: Tensor              # [B, Nd]
    target: Tensor                        # [B, Nd, P] what state t predicts: input t + 1
    has_target: Tensor                    # [B, Nd] bool: input t + 1 is a patch


def span_batch(patches: Tensor, layouts: np.ndarray) -> SpanBatch:
    """Scaled windows [B, N, P] and their layouts [B, N] (span_layout) -> the encoder's and decoder's inputs."""
    P = patches.shape[2]
    encoder, decoder = [], []
    for window, layout in zip(patches, layouts):
        first = np.r_[True, layout[1:] != layout[:-1]]                 # the first patch of each run
        keep = (layout == 0) | first                                   # a corrupted run keeps one place
        encoder.append((torch.where(torch.from_numpy(layout[keep] > 0)[:, None], 0.0, window[keep]),
                        torch.from_numpy(np.where(layout[keep] > 0, layout[keep], 0))))
        rows = []
        for span in range(1, layout.max() + 1):
            rows.append((torch.zeros(P), span))
            rows += [(patch, 0) for patch in window[torch.from_numpy(layout == span)]]
        decoder.append((torch.stack([r[0] for r in rows]), torch.tensor([r[1] for r in rows])))
    decoder_patches = torch.stack([d[0] for d in decoder]).to(patches)
    decoder_sentinel = torch.stack([d[1] for d in decoder]).to(patches.device)
    return SpanBatch(torch.stack([e[0] for e in encoder]).to(patches),
                     torch.stack([e[1] for e in encoder]).to(patches.device),
                     decoder_patches, decoder_sentinel, F.pad(decoder_patches[:, 1:], (0, 0, 0, 1)),
                     F.pad(decoder_sentinel[:, 1:] == 0, (0, 1)))


def objective_loss(model: PatchLM, config: ObjectiveConfig, windows: Tensor, window_ids: np.ndarray, epoch: int,
                   seed: int, rng: np.random.Generator) -> tuple[Tensor, dict[str, float]]:
    """windows [B, N * P] raw values -> (the loss, its parts). window_ids name each window in the corpus (static
    masks hang on them); rng draws what is drawn per batch (span's forecast-shaped batches)."""
    P, ahead = model.config.patch_len, model.config.forecast_patches
    N = windows.shape[1] // P
    quantiles = model.config.quantiles
    scaled, _, _ = scale(windows, (N - ahead) * P)
    patches = scaled.unflatten(1, (N, P))                                            # [B, N, P]
    if config.name == "causal":
        predicted = model.read_out(model.encode(patches)[:, :-1])                   # [B, N - 1, P, Q]
        loss = forecast_loss(predicted, patches[:, 1:], quantiles)
        return loss, {"patch_loss": loss.item()}
    if config.name == "masked":
        masked, swapped = draw_masks(config, N, ahead, window_ids, epoch, seed)
        masked = torch.from_numpy(masked).to(patches.device)
        segments = None
        if config.next_segment:                # second halves swapped with the previous window's in the batch
            half = N // 2
            swap = torch.from_numpy(swapped).to(patches.device)
            patches = patches.clone()
            patches[swap, half:] = patches.roll(1, dims=0)[swap, half:]
            segments = torch.zeros(len(patches), N, dtype=torch.long, device=patches.device)
            segments[:, half:] = 1
        states = model.encode(patches, masked, segments=segments)
        if segments is not None:
            logits, states = model.next_segment_logits(states), states[:, 1:]
        patch_loss = forecast_loss(model.read_out(states[masked]), patches[masked], quantiles)
        if segments is None:
            return patch_loss, {"patch_loss": patch_loss.item()}
        follows = (~torch.from_numpy(swapped)).long().to(patches.device)
        segment_loss = F.cross_entropy(logits, follows)
        accuracy = float((logits.argmax(1) == follows).float().mean())
        return patch_loss + segment_loss, {"patch_loss": patch_loss.item(), "segment_loss": segment_loss.item(),
                                           "segment_accuracy": accuracy}
    tail = ahead if rng.random() < config.forecast_share else 0
    layouts = np.stack([span_layout(config, N, window_rng(seed, int(w), epoch), tail) for w in window_ids])
    batch = span_batch(patches, layouts)
    memory = model.encode(batch.encoder_patches, sentinel=batch.encoder_sentinel)
    states = model.decode(memory, batch.decoder_patches, batch.decoder_sentinel)
    loss = forecast_loss(model.read_out(states[batch.has_target]), batch.target[batch.has_target], quantiles)
    return loss, {"patch_loss": loss.item()}

"""A patch language model for series: the network that self-supervised pretraining trains, and that forecasts a
new series without any training on it.

A window is cut into non-overlapping patches of P steps, each patch one token (a linear map of its values plus
a learned position). A token mixer reads the tokens, any of the product's patch-token stacks:
- transformer: pre-norm layers (PatchTST's encoder), causal or bidirectional;
- mamba: Mamba layers, a causal scan or one each way;
- hypermamba: Mamba layers whose scan parameters a hypernetwork sets from the statistics of the values the
  tokens read (HyperMamba's); a causal model conditions each token on the statistics of its own prefix, so no
  token learns anything from a later patch;
- timellm: Time-LLM's reprogramming: the tokens attend to text prototypes (a learned map of a frozen language
  model's word embeddings), the language model reads them as its input embeddings, and a linear map brings its
  states back; the language model stays frozen and is not stored in a checkpoint (it loads from its source).
A patch head reads a token's state out as a patch's values at Q quantiles.

The objectives (forecasting.pretraining.objectives) use it three ways, as the language-model papers did:
- causal (GPT): causal mixing; the state of patch i predicts patch i + 1.
- masked (BERT, RoBERTa): bidirectional; a masked patch enters as a learned mask token and its state predicts
  its values. BERT's next-segment task reads a classification token put before the window, whose two
  segments carry segment embeddings.
- span (T5): the encoder reads the window with each corrupted span replaced by one sentinel token; a decoder
  (causal self-attention, cross-attention to the encoder) writes each sentinel followed by its span's patches.

Each objective forecasts by its own route (`forecast`), so a pretrained model needs no training on a target:
causal generates patches one at a time (each fed back as history), masked masks the patches after the
history, span puts a sentinel after the history and decodes its span.

What is fed back decides how wide the later bands are. Feeding back the median conditions every later patch
on one path, the likeliest, and its bands then hold only the uncertainty around that path (on the corpus'
validation windows, the 80% band of the fourth patch held 51% of the values). With `paths` > 1, each of that
many sample paths feeds back its own draw of every written patch (the patch's quantile at a random level),
and the quantiles after the first written patch are those of the mixture of the paths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .hypermamba import N_STATISTICS, HyperMambaConfig, HyperNetwork, window_statistics
from .mamba import MambaConfig, MambaLayer, Modulation
from .timellm import Reprogramming

OBJECTIVES = ("causal", "masked", "span")
MIXERS = ("transformer", "mamba", "hypermamba", "timellm")
QUANTILES = (0.025, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.975)
SCALE_EPS = 1e-5
SCALED_LIMIT = 50.0          # scaled values are clipped here: one wild point must not dominate a loss


@dataclass
class PatchLMConfig:
    objective: str = "masked"             # "causal" | "masked" | "span"
    mixer: str = "transformer"            # "transformer" | "mamba"
    patch_len: int = 16                   # P
    max_patches: int = 32                 # positions: the window (history and future) in patches
    forecast_patches: int = 4             # patches one forecast step writes (longer horizons: several steps)
    d_model: int = 128                    # D
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 256
    d_state: int = 16                     # mamba and hypermamba
    hyper_hidden: int = 64                # hypermamba only: the hypernetwork's width
    hyper_rank: int = 4                   # hypermamba only: rank of the B/C modulations
    language_model: str | None = None     # timellm only: hub name or directory (None: the bundled MiniLM)
    llm_layers: int = 6                   # timellm only: first k blocks of the language model
    n_prototypes: int = 1000              # timellm only: text prototypes
    dropout: float = 0.1
    next_segment: bool = False            # masked only: BERT's head telling whether segment B follows A
    decoder_layers: int = 2               # span only
    sentinels: int = 16                   # span only: the most spans a window may hold
    quantiles: tuple[float, ...] = QUANTILES

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {MIXERS}, got {self.mixer!r}")
        if self.next_segment and self.objective != "masked":
            raise ValueError("next_segment is BERT's task: it needs objective='masked'")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if not 1 <= self.forecast_patches < self.max_patches:
            raise ValueError(f"forecast_patches ({self.forecast_patches}) must be at least 1 and leave history "
                             f"in {self.max_patches} patches")
        if 0.5 not in self.quantiles:
            raise ValueError("quantiles must hold the median (0.5): generation feeds it back")
        self.quantiles = tuple(sorted(self.quantiles))

    @property
    def causal(self) -> bool:
        return self.objective == "causal"

    @property
    def context_steps(self) -> int:
        """The most history steps a forecast reads: the window less one forecast step."""
        return (self.max_patches - self.forecast_patches) * self.patch_len


def scale(values: Tensor, context: int) -> tuple[Tensor, Tensor, Tensor]:
    """values [B, T] standardised by the mean and deviation of their first `context` steps (what a forecast
    would know), clipped to +-SCALED_LIMIT -> (scaled [B, T], mean [B, 1], deviation [B, 1])."""
    head = values[:, :context]
    mean = head.mean(1, keepdim=True)
    deviation = head.std(1, keepdim=True, unbiased=False) + SCALE_EPS
    return ((values - mean) / deviation).clamp(-SCALED_LIMIT, SCALED_LIMIT), mean, deviation


class TransformerMixer(nn.Module):
    """Pre-norm transformer layers over tokens [B, N, D], causal or bidirectional."""

    def __init__(self, config: PatchLMConfig):
        super().__init__()
        layer = nn.TransformerEncoderLayer(config.d_model, config.n_heads, config.d_ff, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.causal = config.causal

    def forward(self, h: Tensor, values: Tensor) -> Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(h.shape[1], device=h.device) if self.causal else None
        return self.layers(h, mask=mask, is_causal=self.causal)


class MambaMixer(nn.Module):
    """Mamba layers over tokens [B, N, D]: a causal scan, or (not causal objectives) one each way, added."""

    def __init__(self, config: PatchLMConfig):
        super().__init__()
        layer = MambaConfig(lookback=config.patch_len, horizon=config.patch_len, patch_len=config.patch_len,
                            d_model=config.d_model, d_state=config.d_state, n_layers=config.n_layers,
                            dropout=config.dropout, bidirectional=not config.causal, tokens="patch")
        self.layers = nn.ModuleList(MambaLayer(layer) for _ in range(config.n_layers))

    def forward(self, h: Tensor, values: Tensor) -> Tensor:
        for layer in self.layers:
            h = layer(h)
        return h


class HyperMambaMixer(nn.Module):
    """Mamba layers modulated by a hypernetwork (HyperMamba's) that reads statistics of the token values
    [B, N, P]: of the whole visible sequence (bidirectional objectives), or, causal, of each token's prefix."""

    def __init__(self, config: PatchLMConfig):
        super().__init__()
        hyper = HyperMambaConfig(lookback=config.patch_len, horizon=config.patch_len, patch_len=config.patch_len,
                                 d_model=config.d_model, d_state=config.d_state, n_layers=config.n_layers,
                                 dropout=config.dropout, bidirectional=not config.causal, tokens="patch",
                                 hyper_hidden=config.hyper_hidden, hyper_rank=config.hyper_rank)
        self.layers = nn.ModuleList(MambaLayer(hyper, modulation_rank=config.hyper_rank)
                                    for _ in range(config.n_layers))
        self.hyper = HyperNetwork(hyper, N_STATISTICS)
        self.causal = config.causal

    def forward(self, h: Tensor, values: Tensor) -> Tensor:
        B, N, _ = values.shape
        if self.causal:      # token i: the statistics of patches 0 .. i
            statistics = torch.stack([window_statistics(values[:, :i + 1].flatten(1)[..., None])[:, 0]
                                      for i in range(N)], 1)                          # [B, N, K]
            modulations = [Modulation(*(t.unflatten(0, (B, N)) for t in (m.delta_bias, m.D, m.B_up, m.C_up)))
                           for m in self.hyper(statistics.flatten(0, 1))]              # per token [B, N, ...]
        else:
            modulations = self.hyper(window_statistics(values.flatten(1)[..., None])[:, 0])   # per sequence [B, ...]
        for layer, modulation in zip(self.layers, modulations):
            h = layer(h, modulation)
        return h


class TimeLLMMixer(nn.Module):
    """Time-LLM's reprogramming stack over tokens [B, N, D]: attention onto text prototypes -> [B, N, d_llm], a
    frozen language model over them, a linear map back to D."""

    def __init__(self, config: PatchLMConfig):
        from .language import load_language_model   # transformers loads only when this mixer is built

        super().__init__()
        self.language_model = load_language_model(config.language_model, layers=config.llm_layers)
        if config.causal and self.language_model.family not in ("gpt2", "llama"):
            raise ValueError(f"the causal objective needs a language model that reads left to right (GPT-2 or "
                             f"LLaMA style); {self.language_model.source!r} is a {self.language_model.family} "
                             f"model, which reads both ways: choose objective 'masked' or 'span' for it, or a "
                             f"decoder language model")
        d_llm = self.language_model.hidden_size
        self.to_prototypes = nn.Linear(self.language_model.word_embeddings.shape[0], config.n_prototypes)
        self.reprogramming = Reprogramming(config.d_model, config.n_heads, d_llm, config.dropout)
        self.out = nn.Linear(d_llm, config.d_model)
        self.layers = [self.reprogramming, self.out]       # what gradual unfreezing opens, the top first

    def forward(self, h: Tensor, values: Tensor) -> Tensor:
        prototypes = self.to_prototypes(self.language_model.word_embeddings.detach().T).T     # [n_prototypes, H]
        h = self.reprogramming(h, prototypes)                                                 # [B, N, H]
        return self.out(self.language_model(h.to(self.language_model.word_embeddings.dtype)).to(h.dtype))


MIXER_MODULES = {"transformer": TransformerMixer, "mamba": MambaMixer, "hypermamba": HyperMambaMixer,
                 "timellm": TimeLLMMixer}


class PatchLM(nn.Module):
    def __init__(self, config: PatchLMConfig):
        super().__init__()
        self.config = config
        P, D, Q = config.patch_len, config.d_model, len(config.quantiles)
        self.embed = nn.Linear(P, D)
        self.position = nn.Embedding(config.max_patches + 1, D)     # + 1: a classification token's place
        self.mixer = MIXER_MODULES[config.mixer](config)
        self.norm = nn.LayerNorm(D)
        self.patch_head = nn.Linear(D, P * Q)                       # a token's state -> a patch at Q quantiles
        if config.objective == "masked":
            self.mask_token = nn.Parameter(torch.randn(D) * 0.02)
        if config.next_segment:
            self.cls_token = nn.Parameter(torch.randn(D) * 0.02)
            self.segment = nn.Embedding(2, D)                       # segment A, segment B
            self.next_segment_head = nn.Linear(D, 2)
        if config.objective == "span":
            self.sentinel = nn.Embedding(config.sentinels, D)
            self.decoder_position = nn.Embedding(config.max_patches + config.sentinels, D)
            layer = nn.TransformerDecoderLayer(D, config.n_heads, config.d_ff, config.dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.decoder = nn.TransformerDecoder(layer, config.decoder_layers)
            self.decoder_norm = nn.LayerNorm(D)

    # ---- the pieces the objectives combine ----------------------------------------------------------------

    def tokens(self, patches: Tensor, masked: Tensor | None = None, sentinel: Tensor | None = None) -> Tensor:
        """patches [B, N, P] -> token embeddings [B, N, D], without positions. masked [B, N] bool: those enter as
        the mask token; sentinel [B, N] long: where > 0, sentinel number (value - 1) replaces the patch."""
        h = self.embed(patches)                                                    # [B, N, D]
        if masked is not None:
            h = torch.where(masked[..., None], self.mask_token.to(h.dtype), h)
        if sentinel is not None:
            h = torch.where(sentinel[..., None] > 0, self.sentinel((sentinel - 1).clamp(min=0)), h)
        return h

    def encode(self, patches: Tensor, masked: Tensor | None = None, sentinel: Tensor | None = None,
               segments: Tensor | None = None) -> Tensor:
        """The mixer over the window's tokens -> states [B, N, D]; with segments [B, N] (0: A, 1: B) a
        classification token goes first and the states are [B, 1 + N, D]."""
        h = self.tokens(patches, masked, sentinel)                                 # [B, N, D]
        if segments is not None:
            h = h + self.segment(segments)
            h = torch.cat([self.cls_token.expand(h.shape[0], 1, -1), h], dim=1)    # [B, 1 + N, D]
        h = h + self.position.weight[:h.shape[1]]
        hidden = masked if masked is not None else torch.zeros_like(patches[..., 0], dtype=torch.bool)
        if sentinel is not None:
            hidden = hidden | (sentinel > 0)
        values = patches.masked_fill(hidden[..., None], 0.0)                     # [B, N, P] what the tokens read
        return self.norm(self.mixer(h, values))

    def read_out(self, states: Tensor) -> Tensor:
        """states [..., D] -> patches at the quantiles [..., P, Q]."""
        return self.patch_head(states).unflatten(-1, (self.config.patch_len, len(self.config.quantiles)))

    def next_segment_logits(self, states: Tensor) -> Tensor:
        """The classification token's state [B, 1 + N, D] -> [B, 2]: logit of 'B does not follow A', 'it does'."""
        return self.next_segment_head(states[:, 0])

    def decode(self, memory: Tensor, patches: Tensor, sentinel: Tensor) -> Tensor:
        """The span decoder: its inputs (patches [B, M, P], sentinel [B, M] as in `tokens`) attend causally to
        themselves and to the encoder's states memory [B, N, D] -> states [B, M, D]; state t predicts input t + 1."""
        h = self.tokens(patches, sentinel=sentinel) + self.decoder_position.weight[:patches.shape[1]]
        causal = nn.Transformer.generate_square_subsequent_mask(patches.shape[1], device=patches.device)
        return self.decoder_norm(self.decoder(h, memory, tgt_mask=causal, tgt_is_causal=True))

    # ---- forecasting --------------------------------------------------------------------------------------

    @torch.no_grad()
    def forecast(self, history: Tensor, horizon: int, paths: int = 1) -> Tensor:
        """history [B, T] (raw values, any T >= 1) -> quantile forecasts [B, horizon, Q] in its units.

        The history is scaled by its own mean and deviation and cut to whole patches that end at its last value
        (a history shorter than the window is padded at its start with its first value). Each step forecasts
        up to forecast_patches patches by the objective's route; a longer horizon takes several steps, each
        reading what was written before it as history: the medians (paths = 1), or each path's own draws."""
        return forecast_with(self, history, horizon, paths)

    def forecast_scaled(self, patches: Tensor, future_patches: int,
                        levels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Scaled history patches [B, N, P] -> the next future_patches patches at the quantiles [B, F, P, Q], by the
        objective's route, and each read at its level, what is fed back as history [B, F, P] (levels [B, F]; None:
        the median). Differentiable: fine-tuning trains through it."""
        cfg, (B, N, P) = self.config, patches.shape
        fed = lambda step, i: at_level(step, cfg.quantiles, None if levels is None else levels[:, i])   # [B, P]
        if cfg.objective == "masked":
            window = torch.cat([patches, patches.new_zeros(B, future_patches, P)], dim=1)
            masked = torch.zeros(B, N + future_patches, dtype=torch.bool, device=patches.device)
            masked[:, N:] = True
            segments = None
            if cfg.next_segment:    # the history is segment A, the future segment B
                segments = masked.long()
            states = self.encode(window, masked, segments=segments)
            out = self.read_out(states[:, -future_patches:])                        # [B, F, P, Q]
            return out, torch.stack([fed(out[:, i], i) for i in range(future_patches)], 1)
        if cfg.objective == "causal":
            window, out = patches, []
            for i in range(future_patches):
                step = self.read_out(self.encode(window)[:, -1])                     # [B, P, Q]
                out.append(step)
                window = torch.cat([window, fed(step, i)[:, None]], dim=1)
            return torch.stack(out, 1), window[:, N:]
        # span: the history, then sentinel 1; the decoder writes sentinel 1 then its patches
        sentinel = torch.zeros(B, N + 1, dtype=torch.long, device=patches.device)
        sentinel[:, -1] = 1
        memory = self.encode(torch.cat([patches, patches.new_zeros(B, 1, P)], 1), sentinel=sentinel)
        written, kinds, out = patches.new_zeros(B, 1, P), sentinel[:, -1:], []
        for i in range(future_patches):
            step = self.read_out(self.decode(memory, written, kinds)[:, -1])         # [B, P, Q]
            out.append(step)
            written = torch.cat([written, fed(step, i)[:, None]], 1)
            kinds = torch.cat([kinds, kinds.new_zeros(B, 1)], 1)
        return torch.stack(out, 1), written[:, 1:]


def history_patches(history: Tensor, patch_len: int, patches: int) -> Tensor:
    """The last `patches` * patch_len steps of history [B, T] as [B, patches, P]; a shorter history is padded at
    its start with its first value."""
    steps = patches * patch_len
    if history.shape[1] < steps:
        history = F.pad(history[:, None], (steps - history.shape[1], 0), mode="replicate")[:, 0]
    return history[:, -steps:].unflatten(1, (patches, patch_len))


def forecast_with(model: PatchLM, history: Tensor, horizon: int, paths: int = 1) -> Tensor:
    """See PatchLM.forecast; apart so fine-tuning can run it with gradients."""
    out, mean, deviation = scaled_forecast(model, history, horizon, paths)
    return out * deviation[..., None] + mean[..., None]


def scaled_forecast(model: PatchLM, history: Tensor, horizon: int, paths: int = 1,
                    seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """The forecast of PatchLM.forecast in the history's scaled units [B, horizon, Q], with the scale: mean and
    deviation [B, 1]. With paths > 1, the draws come from a generator of this seed: the same history gets the
    same forecast."""
    cfg = model.config
    written_at_once = cfg.patch_len * (cfg.forecast_patches if cfg.objective == "masked" else 1)
    if horizon <= written_at_once:         # nothing is fed back: every path would write the same
        paths = 1
    context = cfg.context_steps // cfg.patch_len
    window = history_patches(history, cfg.patch_len, context)                        # [B, N, P]
    scaled, mean, deviation = scale(window.flatten(1), cfg.context_steps)
    patches = scaled.unflatten(1, (context, cfg.patch_len))                             # [B, N, P]
    first = None
    if paths > 1 and cfg.objective == "causal":     # the first patch reads the history alone: once, not per path
        first = model.read_out(model.encode(patches)[:, -1]).repeat_interleave(paths, 0)   # [B * S, P, Q]
    patches = patches.repeat_interleave(paths, 0)                                       # [B * S, N, P]
    generator = torch.Generator(device=history.device).manual_seed(seed)
    steps, written = [], 0
    while written < horizon:
        future = min(cfg.forecast_patches, math.ceil((horizon - written) / cfg.patch_len))
        levels = None if paths == 1 else torch.rand(len(patches), future, generator=generator,
                                                    device=history.device)           # [B * S, F]
        if first is not None:       # the rest of the step continues from each path's own draw of the first patch
            step, fed = first[:, None], at_level(first, cfg.quantiles, levels[:, 0])[:, None]   # [B * S, 1, ...]
            if future > 1:
                more, more_fed = model.forecast_scaled(torch.cat([patches, fed], 1), future - 1, levels[:, 1:])
                step, fed = torch.cat([step, more], 1), torch.cat([fed, more_fed], 1)
            first = None
        else:
            step, fed = model.forecast_scaled(patches, future, levels)               # [B * S, F, P, Q], [B * S, F, P]
        steps.append(step)
        patches = torch.cat([patches, fed], 1)[:, -context:]
        written += future * cfg.patch_len
    out = torch.cat(steps, 1).flatten(1, 2)[:, :horizon]                             # [B * S, horizon, Q]
    if paths > 1:            # what reads only the history, every path wrote the same: the rest is mixed
        shared = cfg.patch_len * (steps[0].shape[1] if cfg.objective == "masked" else 1)
        out = out.unflatten(0, (-1, paths))                                          # [B, S, horizon, Q]
        out = torch.cat([out[:, 0, :shared], mixture_quantiles(out[:, :, shared:], cfg.quantiles)], 1)
    return out.sort(-1).values, mean, deviation                                      # [B, horizon, Q] no crossing


def at_level(step: Tensor, quantiles: tuple[float, ...], level: Tensor | None) -> Tensor:
    """A patch at quantiles [B, P, Q] read at one level per row ([B], between the quantiles linearly; beyond
    the outer ones, the outer ones; None: the median) -> [B, P]."""
    if level is None:
        return step[..., quantiles.index(0.5)]
    grid = torch.tensor(quantiles, device=step.device, dtype=step.dtype)
    upper = torch.searchsorted(grid, level.to(step.dtype).contiguous()).clamp(1, len(grid) - 1)     # [B]
    weight = ((level - grid[upper - 1]) / (grid[upper] - grid[upper - 1])).clamp(0, 1)[:, None]  # [B, 1]
    ordered = step.sort(-1).values
    low = ordered.gather(-1, (upper - 1)[:, None, None].expand(-1, step.shape[1], 1))[..., 0]
    high = ordered.gather(-1, upper[:, None, None].expand(-1, step.shape[1], 1))[..., 0]
    return low + weight * (high - low)


def mixture_quantiles(paths: Tensor, quantiles: tuple[float, ...]) -> Tensor:
    """The quantiles [B, H, Q] of the equal mixture of S paths' distributions [B, S, H, Q]: each path's quantiles
    taken as atoms weighted by the probability nearer to their level than to a neighbour's, pooled, and read at
    the levels along the atoms' cumulative weight (at each atom's middle)."""
    B, S, H, Q = paths.shape
    grid = torch.tensor(quantiles, device=paths.device, dtype=paths.dtype)
    bounds = torch.cat([grid.new_zeros(1), (grid[1:] + grid[:-1]) / 2, grid.new_ones(1)])
    atoms = paths.permute(0, 2, 1, 3).reshape(B, H, S * Q)                           # [B, H, S * Q]
    weights = (bounds.diff() / S).repeat(S).expand_as(atoms)
    atoms, order = atoms.sort(-1)
    weights = weights.gather(-1, order)
    middle = weights.cumsum(-1) - weights / 2                                        # [B, H, S * Q]
    upper = torch.searchsorted(middle, grid.expand(B, H, Q).contiguous()).clamp(1, S * Q - 1)
    below, above = middle.gather(-1, upper - 1), middle.gather(-1, upper)
    weight = ((grid - below) / (above - below)).clamp(0, 1)
    return atoms.gather(-1, upper - 1) + weight * (atoms.gather(-1, upper) - atoms.gather(-1, upper - 1))

"""Informer (Zhou et al., AAAI 2021, "Beyond Efficient Transformer for Long Sequence Time-Series
Forecasting").

An encoder-decoder transformer with three changes to the vanilla one:
- ProbSparse self-attention: only the u = c * ln(L) queries whose attention is most "peaked" (by a
  max-minus-mean measure over a sample of keys) attend fully; the lazy rest get the mean of the
  values, so attention costs O(L log L) instead of O(L^2).
- Self-attention distilling: between encoder layers a conv + max-pool halves the sequence.
- A generative decoder: its input is the last `label_len` known steps (the "start token") followed
  by H zeros, and all H steps are forecast in one forward pass, not step by step.

The defaults are the authors' settings (their code's `Informer`, one encoder stack). The paper's
replica stacks on halved inputs (`InformerStack`) are not built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batch import Batch
from .network import DataShape, Network
from .output import output_width, shape_output
from .revin import RevIN

ATTENTIONS = ("prob", "full")


@dataclass
class InformerConfig:
    lookback: int                        # L, history steps (encoder length)
    horizon: int                         # H, forecast steps
    channels: int = 1                    # C, series per sample
    quantiles: tuple[float, ...] = ()    # empty: point forecast
    label_len: int = 48                  # start-token steps: the last label_len steps of x open the decoder
    time_features: int = 4               # F, calendar features per step ("timeF"); 0: none
    d_model: int = 512
    n_heads: int = 8
    e_layers: int = 2
    d_layers: int = 1
    d_ff: int = 2048
    factor: int = 5                      # c in u = c * ceil(ln L): active queries and sampled keys
    dropout: float = 0.05
    attention: str = "prob"              # self-attention of encoder and decoder: "prob" or "full"
    distil: bool = True                  # halve the sequence between encoder layers
    revin: bool = False                  # per-window normalisation (not in the paper; helps on drifting series)

    def __post_init__(self):
        if not 0 <= self.label_len <= self.lookback:
            raise ValueError(f"label_len ({self.label_len}) must be between 0 and lookback ({self.lookback}): "
                             "the decoder's start token is the last label_len steps of the history")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


# ---- attention: [B, heads, L, d] in, [B, heads, L_Q, d] out ----

def causal_mask(queries: Tensor, length: int) -> Tensor:
    """[..., u] query positions -> [..., u, length], True where the key lies in the query's future."""
    return torch.arange(length, device=queries.device) > queries.unsqueeze(-1)


class FullAttention(nn.Module):
    """softmax(Q K^T / sqrt(d)) V, optionally causal."""

    def __init__(self, causal: bool = False, dropout: float = 0.0):
        super().__init__()
        self.causal = causal
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        L_Q, L_K = q.shape[2], k.shape[2]
        # scale q, not the scores: one L_Q x L_K temporary fewer
        scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)               # [B, h, L_Q, L_K]
        if self.causal:
            scores = scores.masked_fill(causal_mask(torch.arange(L_Q, device=q.device), L_K), -math.inf)
        return self.dropout(scores.softmax(-1)) @ v                               # [B, h, L_Q, d]


class ProbAttention(nn.Module):
    """ProbSparse attention: full attention for the top-u queries, a cheap fill for the rest.

    Which queries are active is a top-u contest among all queries over a random sample of all keys,
    so with `causal` the values each output mixes are causal but the choice of active queries is not.
    The sample is fixed in eval mode (see `forward`).
    """

    def __init__(self, causal: bool = False, factor: int = 5, dropout: float = 0.0):
        super().__init__()
        self.causal = causal
        self.factor = factor
        self.dropout = nn.Dropout(dropout)

    def budget(self, length: int) -> int:
        """c * ceil(ln length), at least c (ln 1 = 0) and at most length."""
        return min(length, self.factor * max(1, math.ceil(math.log(length))))

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        B, h, L_Q, d = q.shape
        L_K = k.shape[2]
        if self.causal and L_Q != L_K:
            raise ValueError(f"causal ProbSparse attention is self-attention: L_Q ({L_Q}) must equal L_K ({L_K})")

        # sparsity measure M(q) = max_j s_j - sum_j s_j / L_K over sampled keys (the paper's
        # approximation; the same keys for every batch and head). A positive scale does not change the
        # ranking, so raw dot products do; and the choice is not differentiable, so no graph is kept.
        with torch.no_grad():
            # training samples fresh keys each step; inference draws the same keys for the same lengths,
            # whatever the global RNG, so a forecast (and a loaded model's) is repeatable
            generator = None if self.training else torch.Generator(q.device).manual_seed(L_Q * 100_003 + L_K)
            sample = torch.randint(L_K, (L_Q, self.budget(L_K)), device=q.device, generator=generator)  # [L_Q, S]
            k_sample = k[:, :, sample]                                            # [B, h, L_Q, S, d]
            s_sample = (q.unsqueeze(-2) @ k_sample.transpose(-2, -1)).squeeze(-2)  # [B, h, L_Q, S]
            measure = s_sample.max(-1).values - s_sample.sum(-1) / L_K            # [B, h, L_Q]
            top = measure.topk(self.budget(L_Q), dim=-1, sorted=False).indices    # [B, h, u]

        # lazy queries get a cheap fill: a near-flat attention row averages the values, hence mean(V);
        # under the causal mask the authors use the cumulative sum of V (a sum, not a running mean)
        if self.causal:
            context = v.cumsum(-2)                                                # [B, h, L_Q, d]
        else:
            context = v.mean(-2, keepdim=True).expand(B, h, L_Q, v.shape[-1])

        # active queries: exact attention over all keys
        q_top = q.gather(2, top.unsqueeze(-1).expand(-1, -1, -1, d))              # [B, h, u, d]
        scores = (q_top / math.sqrt(d)) @ k.transpose(-2, -1)                     # [B, h, u, L_K]
        if self.causal:
            scores = scores.masked_fill(causal_mask(top, L_K), -math.inf)
        active = self.dropout(scores.softmax(-1)) @ v                             # [B, h, u, d]
        return context.scatter(2, top.unsqueeze(-1).expand(-1, -1, -1, v.shape[-1]), active)


class AttentionLayer(nn.Module):
    """Multi-head attention around a FullAttention or ProbAttention: project, split heads, attend, merge."""

    def __init__(self, attention: nn.Module, d_model: int, n_heads: int):
        super().__init__()
        self.attention = attention
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """queries [B, L_Q, D], keys and values [B, L_K, D] -> [B, L_Q, D]."""
        B, L_Q, D = queries.shape
        split = lambda t: t.view(B, t.shape[1], self.n_heads, -1).transpose(1, 2)  # [B, h, L, D/h]
        out = self.attention(split(self.query(queries)), split(self.key(keys)), split(self.value(values)))
        return self.out(out.transpose(1, 2).reshape(B, L_Q, D))


def self_attention(config: InformerConfig, causal: bool) -> AttentionLayer:
    if config.attention == "prob":
        attention = ProbAttention(causal, config.factor, config.dropout)
    else:
        attention = FullAttention(causal, config.dropout)
    return AttentionLayer(attention, config.d_model, config.n_heads)


def feed_forward(config: InformerConfig) -> nn.Sequential:
    """Position-wise GELU MLP (the paper's kernel-1 Conv1d pair, written as the Linear it equals)."""
    return nn.Sequential(nn.Linear(config.d_model, config.d_ff), nn.GELU(), nn.Dropout(config.dropout),
                         nn.Linear(config.d_ff, config.d_model), nn.Dropout(config.dropout))


# ---- embedding ----

def sinusoids(length: int, d_model: int) -> Tensor:
    """Fixed positional encoding of Vaswani et al.: [length, d_model]."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return table


class DataEmbedding(nn.Module):
    """value (Conv1d k=3, circular) + position (fixed sinusoids) + calendar ("timeF", Linear F -> D)."""

    def __init__(self, config: InformerConfig, length: int):
        super().__init__()
        D = config.d_model
        self.value = nn.Conv1d(config.channels, D, 3, padding=1, padding_mode="circular", bias=False)
        self.register_buffer("position", sinusoids(length, D), persistent=False)
        self.time = nn.Linear(config.time_features, D, bias=False) if config.time_features else None
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, x_time: Tensor | None) -> Tensor:
        """x [B, T, C], x_time [B, T, F] or None -> [B, T, D]."""
        h = self.value(x.transpose(1, 2)).transpose(1, 2) + self.position[: x.shape[1]]
        if self.time is not None:
            if x_time is None:
                raise ValueError(f"this Informer embeds {self.time.in_features} calendar features: "
                                 "pass batch.x_time and batch.y_time, or build it with time_features=0")
            h = h + self.time(x_time)
        return self.dropout(h)


# ---- encoder ----

class EncoderLayer(nn.Module):
    def __init__(self, config: InformerConfig):
        super().__init__()
        self.attention = self_attention(config, causal=False)
        self.ff = feed_forward(config)
        self.norm_attention = nn.LayerNorm(config.d_model)
        self.norm_ff = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """[B, T, D] -> [B, T, D]."""
        x = self.norm_attention(x + self.dropout(self.attention(x, x, x)))
        return self.norm_ff(x + self.ff(x))


class DistilLayer(nn.Module):
    """Self-attention distilling: keep the dominant features and halve the length, [B, T, D] -> [B, ceil(T/2), D]."""

    def __init__(self, d_model: int):
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, 3, padding=1, padding_mode="circular")
        self.norm = nn.BatchNorm1d(d_model)
        self.pool = nn.MaxPool1d(3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.elu(self.norm(self.conv(x.transpose(1, 2))))
        return self.pool(x).transpose(1, 2)


class Encoder(nn.Module):
    def __init__(self, config: InformerConfig):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.e_layers))
        n_distil = config.e_layers - 1 if config.distil else 0
        self.distil = nn.ModuleList(DistilLayer(config.d_model) for _ in range(n_distil))
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, x: Tensor) -> Tensor:
        """[B, L, D] -> [B, L', D], L' = L halved (rounding up) once per distilling layer."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.distil):
                x = self.distil[i](x)
        return self.norm(x)


# ---- decoder ----

class DecoderLayer(nn.Module):
    def __init__(self, config: InformerConfig):
        super().__init__()
        self.self_attention = self_attention(config, causal=True)
        self.cross_attention = AttentionLayer(FullAttention(False, config.dropout), config.d_model, config.n_heads)
        self.ff = feed_forward(config)
        self.norm_self = nn.LayerNorm(config.d_model)
        self.norm_cross = nn.LayerNorm(config.d_model)
        self.norm_ff = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        """x [B, T, D] decoder steps, memory [B, L', D] encoder output -> [B, T, D]."""
        x = self.norm_self(x + self.dropout(self.self_attention(x, x, x)))
        x = self.norm_cross(x + self.dropout(self.cross_attention(x, memory, memory)))
        return self.norm_ff(x + self.ff(x))


class Decoder(nn.Module):
    def __init__(self, config: InformerConfig):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.d_layers))
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, memory)
        return self.norm(x)


class Informer(nn.Module):
    def __init__(self, config: InformerConfig):
        super().__init__()
        self.config = config
        self.enc_embedding = DataEmbedding(config, config.lookback)
        self.dec_embedding = DataEmbedding(config, config.label_len + config.horizon)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.projection = nn.Linear(config.d_model, config.channels * output_width(config.quantiles))
        self.revin = RevIN(config.channels) if config.revin else None

    def forward(self, batch: Batch) -> Tensor:
        """batch.x [B, L, C] (+ x_time [B, L, F], y_time [B, label_len + H, F]) -> [B, H, C] or [B, H, C, Q]."""
        cfg = self.config
        x = batch.x                                                               # [B, L, C]
        B, L, C = x.shape
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        memory = self.encoder(self.enc_embedding(x, batch.x_time))                # [B, L', D]
        # start token: the last label_len known steps, then zeros where the forecast will go
        dec_in = torch.cat([x[:, L - cfg.label_len:], x.new_zeros(B, cfg.horizon, C)], dim=1)  # [B, label_len + H, C]
        h = self.decoder(self.dec_embedding(dec_in, batch.y_time), memory)        # [B, label_len + H, D]
        y = shape_output(self.projection(h[:, -cfg.horizon:]), cfg.quantiles)   # [B, H, C(, Q)]
        return y if self.revin is None else self.revin.denormalize(y, stats)


def _product_defaults(data: DataShape) -> dict:
    # A quarter of the paper's width (d_model 128, d_ff 512) trains in minutes on a CPU and came within
    # 15% of the paper's ETTh1 score (BENCHMARKS.md); network={"d_model": 512, "d_ff": 2048} is the paper's.
    return {"revin": True, "label_len": data.lookback // 2, "time_features": data.calendar_features,
            "d_model": 128, "d_ff": 512}


NETWORK = Network(
    name="informer", summary="Informer: ProbSparse-attention transformer with a generative decoder (Zhou et al. 2021)",
    config=InformerConfig, module=Informer, defaults=_product_defaults, inputs=frozenset({"x_time", "y_time"}))

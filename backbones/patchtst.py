"""PatchTST (Nie et al. 2023, "A Time Series is Worth 64 Words"), supervised and channel independent.

Every channel of every sample is forecast as its own univariate series: it is cut into overlapping
patches, each patch becomes one token, a transformer encoder mixes the tokens, and a linear head
maps all of them to the horizon. Normalisation inside the encoder is BatchNorm over d_model, as in
the paper; in training mode its batch statistics are the only thing shared across series.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batch import Batch
from .network import Network
from .output import from_channel_rows, output_width
from .revin import RevIN


@dataclass
class PatchTSTConfig:
    # Defaults are the paper's settings for its larger datasets (ETTm2, weather, traffic); for
    # ETTh1/ETTh2 its scripts shrink to d_model=16, n_heads=4, d_ff=128, dropout=0.3.
    lookback: int                        # L, history steps
    horizon: int                         # H, forecast steps
    channels: int = 1                    # C, series per sample
    quantiles: tuple[float, ...] = ()    # empty: point forecast
    patch_len: int = 16                  # P
    stride: int = 8                      # S
    d_model: int = 128
    n_heads: int = 16
    e_layers: int = 3
    d_ff: int = 256
    dropout: float = 0.2
    head_dropout: float = 0.0
    revin: bool = True

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.patch_len < 1 or self.stride < 1:
            raise ValueError(f"patch_len ({self.patch_len}) and stride ({self.stride}) must be at least 1")
        if self.patch_len > self.lookback + self.stride:
            raise ValueError(f"patch_len ({self.patch_len}) must be at most lookback + stride "
                             f"({self.lookback} + {self.stride}): the padded history holds no whole patch")

    @property
    def n_patches(self) -> int:
        """N: patches in the history after padding its end with `stride` copies of the last value."""
        return (self.lookback + self.stride - self.patch_len) // self.stride + 1


class BatchNorm(nn.BatchNorm1d):
    """BatchNorm over the feature axis of [B, N, D] tokens."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class EncoderLayer(nn.Module):
    """Post-norm transformer layer: attention and a GELU feed-forward, each added back then normalised."""

    def __init__(self, config: PatchTSTConfig):
        super().__init__()
        D = config.d_model
        self.attn = nn.MultiheadAttention(D, config.n_heads, batch_first=True)
        self.norm_attn = BatchNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, config.d_ff), nn.GELU(), nn.Dropout(config.dropout),
                                nn.Linear(config.d_ff, D))
        self.norm_ff = BatchNorm(D)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x [B*C, N, D] -> [B*C, N, D]."""
        x = self.norm_attn(x + self.dropout(self.attn(x, x, x, need_weights=False)[0]))
        return self.norm_ff(x + self.dropout(self.ff(x)))


class PatchTST(nn.Module):
    def __init__(self, config: PatchTSTConfig):
        super().__init__()
        self.config = config
        N, D = config.n_patches, config.d_model
        self.revin = RevIN(config.channels) if config.revin else None
        self.embed = nn.Linear(config.patch_len, D)
        self.position = nn.Parameter(torch.empty(N, D).uniform_(-0.02, 0.02))  # learned, as the paper's default
        self.dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.e_layers))
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(N * D, config.horizon * output_width(config.quantiles))

    def forward(self, batch: Batch) -> Tensor:
        """batch.x [B, L, C] -> [B, H, C], or [B, H, C, Q] with quantiles."""
        cfg = self.config
        x = batch.x                                                              # [B, L, C]
        B, L, C = x.shape
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        x = x.transpose(1, 2).reshape(B * C, L)                                  # one row per series
        # pad the end so the last steps, the most informative ones, start a patch of their own
        x = F.pad(x.unsqueeze(1), (0, cfg.stride), mode="replicate").squeeze(1)  # [B*C, L + S]
        patches = x.unfold(1, cfg.patch_len, cfg.stride)                         # [B*C, N, P]
        h = self.dropout(self.embed(patches) + self.position)                    # [B*C, N, D]
        for layer in self.layers:
            h = layer(h)
        y = self.head(self.head_dropout(h.flatten(1)))                           # [B*C, H * Q]
        y = from_channel_rows(y.reshape(B, C, -1), cfg.horizon, cfg.quantiles)   # [B, H, C(, Q)]
        if self.revin is not None:
            y = self.revin.denormalize(y, stats)
        return y


NETWORK = Network(
    name="patchtst", summary="PatchTST: channel-independent transformer over patches of the history (Nie et al. 2023)",
    config=PatchTSTConfig, module=PatchTST, defaults=lambda data: {"revin": True})

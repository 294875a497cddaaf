"""Text fusion: any backbone's forecast, moved by the text covariates around its window.

Each step of a window (its L history steps and H forecast steps) may carry text in M columns, as frozen
sentence embeddings (`Batch.text` [B, L + H, M, E], zero where a step has none; the future steps hold text
only for columns known in advance). Two ways to read them, both wrapping any backbone:

- "late" (Time-MMD / MM-TSFlib): a gated MLP turns each step's text into features, zero where there is no
  text; each forecast step reads its own step's features, plus a linear map over all the window's steps (for
  text whose effect comes later or lasts), and turns them into a shift of that step, added to the backbone's
  forecast (every quantile alike).
- "cross": the window's own tokens (patches of its history, and one query per forecast step) attend to the
  text tokens (each step's text, with its position in the window); each forecast step's token, with what the
  history's tokens read, goes through a feed-forward block and is read out as its shift.

The read-out starts at zero, so an untrained fusion leaves the backbone's forecast as it is, and a window
without any text gets exactly the backbone's forecast, in training as in prediction.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .batch import Batch

MODES = ("late", "cross")


@dataclass
class TextFusionConfig:
    lookback: int                         # L
    horizon: int                          # H
    text_dim: int                         # E, the encoder's width
    columns: int = 1                      # M, text columns
    mode: str = "late"                    # "late" | "cross"
    d_model: int = 32                     # features per step (late) or per token (cross)
    n_heads: int = 4                      # cross-attention heads
    patch_len: int = 16                   # cross: the history's tokens are patches this long ...
    stride: int = 8                       # ... this far apart
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"text fusion mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "cross" and not 1 <= self.patch_len <= self.lookback:
            raise ValueError(f"patch_len ({self.patch_len}) must be between 1 and the lookback ({self.lookback})")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")


class TextFusion(nn.Module):
    def __init__(self, backbone: nn.Module, config: TextFusionConfig):
        super().__init__()
        self.backbone, self.config = backbone, config
        steps, D = config.lookback + config.horizon, config.d_model
        # each step's text, all its columns side by side -> D features, gated (GLU)
        self.text_in = nn.Linear(config.columns * config.text_dim, 2 * D)
        self.dropout = nn.Dropout(config.dropout)
        if config.mode == "late":
            self.over_steps = nn.Linear(steps, config.horizon)    # every step's features -> each forecast step
            self.read_out = nn.Linear(D, 1)
        else:
            self.patch = nn.Linear(config.patch_len, D)
            self.step_position = nn.Embedding(steps, D)          # where in the window a text token lies
            self.queries = nn.Parameter(torch.randn(config.horizon, D) * 0.02)   # one per forecast step
            self.attention = nn.MultiheadAttention(D, config.n_heads, dropout=config.dropout, batch_first=True)
            # after attention each query holds the text it found; this block relates it to the query's own step
            self.norm = nn.LayerNorm(D)
            self.feed_forward = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
            self.read_out = nn.Linear(D, 1)
        nn.init.zeros_(self.read_out.weight)                     # untrained: the backbone's forecast
        nn.init.zeros_(self.read_out.bias)

    def forward(self, batch: Batch) -> Tensor:
        forecast = self.backbone(batch)                                          # [B, H, C] or [B, H, C, Q]
        if batch.text is None:
            return forecast
        has_text = batch.text.abs().sum(-1).amax(-1) > 0                         # [B, L + H] a step with any text
        if not has_text.any():      # nothing to read, and no random draw (dropout) that would shift the backbone's
            return forecast
        features = nn.functional.glu(self.text_in(batch.text.flatten(2)), -1)    # [B, L + H, D]
        features = self.dropout(features) * has_text[..., None]
        if self.config.mode == "late":
            lagged = self.over_steps(features.transpose(1, 2)).transpose(1, 2)            # [B, H, D]
            shift = self.read_out(features[:, self.config.lookback:] + lagged)             # [B, H, 1]
        else:
            shift = self._cross(batch.x, features, has_text)                   # [B, H, 1]
        shift = shift * has_text.any(1)[:, None, None]                          # no text at all: no shift
        return forecast + (shift.unsqueeze(-1) if forecast.ndim == 4 else shift)

    def _cross(self, x: Tensor, features: Tensor, has_text: Tensor) -> Tensor:
        """The history's patches and the forecast steps' queries attend to the text tokens -> shift [B, H, 1]."""
        cfg = self.config
        B = x.shape[0]
        series = x.mean(-1)                                                      # [B, L] the channels' mean
        series = (series - series.mean(1, keepdim=True)) / (series.std(1, keepdim=True) + 1e-5)
        patches = self.patch(series.unfold(1, cfg.patch_len, cfg.stride))       # [B, P, D]
        tokens = torch.cat([patches, self.queries.expand(B, -1, -1)], dim=1)    # [B, P + H, D]
        keys = features + self.step_position.weight                             # [B, L + H, D]
        # a window without text would attend to nothing: let it see every step (its shift is zeroed after)
        ignored = ~has_text & has_text.any(1, keepdim=True)                     # [B, L + H]
        attended, _ = self.attention(tokens, keys, keys, key_padding_mask=ignored, need_weights=False)
        mixed = tokens + attended                                                # [B, P + H, D]
        history = mixed[:, :-cfg.horizon].mean(1, keepdim=True)                 # [B, 1, D] what the history read
        steps = mixed[:, -cfg.horizon:] + history                               # [B, H, D] the forecast steps'
        steps = steps + self.feed_forward(self.norm(steps))
        return self.read_out(steps)                                              # [B, H, 1]

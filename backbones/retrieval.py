"""Retrieval fusion: any backbone's forecast, moved toward the futures of retrieved analogues (RAFT-style).

RAFT (Han et al., ICML 2025) weights the top-k retrieved futures by a softmax over their similarity to
the query window and fuses them into the forecast with a linear layer. Here the fusion wraps any
backbone. The analogues' futures are blended with w = softmax(similarity / tau), tau learned; a linear
map over the horizon, G, then moves the backbone's point forecast p toward the blend b:

    forecast = backbone(batch) + G (b - p)        (every quantile moved alike)

G starts at half the identity, so an untrained fusion averages the two, and training learns, step by
step, how far to trust the analogues over the backbone. A window without analogues (early in a series)
keeps the backbone's forecast, and with k = 0 (`Batch.retrieved` None or empty) the fusion is skipped:
the network computes exactly what the backbone computes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from .batch import Batch


@dataclass
class FusionConfig:
    horizon: int                          # H, forecast steps
    quantiles: tuple[float, ...] = ()     # the backbone's output quantiles (empty: a point forecast)
    temperature: float = 0.1              # the softmax's temperature over similarity, at the start of training
    trust: float = 0.5                    # G's diagonal at the start: how far toward the analogues' blend


class RetrievalFusion(nn.Module):
    def __init__(self, backbone: nn.Module, config: FusionConfig):
        super().__init__()
        self.backbone = backbone
        self.median = config.quantiles.index(0.5) if config.quantiles else None
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)))
        self.fuse = nn.Linear(config.horizon, config.horizon)
        with torch.no_grad():
            self.fuse.weight.copy_(config.trust * torch.eye(config.horizon))
            self.fuse.bias.zero_()

    def weights(self, similarity: Tensor) -> Tensor:
        """similarity [B, k] (NaN: no analogue) -> softmax weights [B, k]; 0 where none was found."""
        found = ~torch.isnan(similarity)
        # finite throughout, so that no NaN reaches a gradient: missing analogues get a logit far below the rest
        logits = (similarity.nan_to_num(0.0) / self.log_temperature.exp()).masked_fill(~found, -1e4)
        return torch.softmax(logits, dim=1) * found               # a row without analogues: all 0

    def forward(self, batch: Batch) -> Tensor:
        forecast = self.backbone(batch)                                          # [B, H, C] or [B, H, C, Q]
        if batch.retrieved is None or batch.retrieved.shape[1] == 0:
            return forecast
        weights = self.weights(batch.retrieved_similarity)                      # [B, k]
        blended = torch.einsum("bk,bkhc->bhc", weights, batch.retrieved.nan_to_num(0.0))   # [B, H, C]
        point = forecast if self.median is None else forecast[..., self.median]  # [B, H, C]
        shift = self.fuse((blended - point).transpose(1, 2)).transpose(1, 2)    # [B, H, C]
        shift = shift * (weights.sum(dim=1) > 0)[:, None, None]                 # none found: no shift
        return forecast + (shift.unsqueeze(-1) if forecast.ndim == 4 else shift)


class RetrievalPrepend(nn.Module):
    """RAF-style fusion (Tire et al. 2024): the best-ranked analogue's whole window, its lookback and its
    future in the query's units, is prepended to the input, and the backbone, built for lookback + (lookback +
    horizon) steps, reads it as earlier history. A window without an analogue gets its own mean there instead.
    Prepended steps have calendar features of zero."""

    def __init__(self, backbone: nn.Module, config: FusionConfig):
        super().__init__()
        self.backbone = backbone
        self.horizon = config.horizon

    def weights(self, similarity: Tensor) -> Tensor:
        """All weight on the best-ranked analogue (the one prepended), where one was found."""
        weights = torch.zeros_like(similarity).nan_to_num(0.0)
        weights[:, :1] = (~torch.isnan(similarity[:, :1])).to(weights.dtype)
        return weights

    def forward(self, batch: Batch) -> Tensor:
        x = batch.x                                                              # [B, L, C]
        B, L, C = x.shape
        context = x.mean(dim=1, keepdim=True).expand(B, L + self.horizon, C)    # no analogue: the window's level
        if batch.retrieved is not None and batch.retrieved.shape[1] > 0:
            found = ~torch.isnan(batch.retrieved_similarity[:, 0])              # [B] the best-ranked analogue
            analogue = torch.cat([batch.retrieved_history[:, 0], batch.retrieved[:, 0]], dim=1)   # [B, L + H, C]
            context = torch.where(found[:, None, None], analogue.nan_to_num(0.0), context)
        x_time = batch.x_time
        if x_time is not None:
            x_time = torch.cat([x_time.new_zeros(B, L + self.horizon, x_time.shape[2]), x_time], dim=1)
        longer = replace(batch, x=torch.cat([context, x], dim=1), x_time=x_time)   # [B, 2L + H, C]
        return self.backbone(longer)

"""Retrieval fusion: any backbone's forecast, corrected by the futures of retrieved analogues (RAFT-style).

RAFT (Han et al., ICML 2025) weights the top-k retrieved futures by a softmax over their similarity to
the query window and fuses them into the forecast with a linear layer. Here the fusion wraps any
backbone: forecast = backbone(batch) + Linear_H(sum_j w_j future_j), with w = softmax(similarity / tau)
under a learned temperature tau. The linear map starts at zero, so training starts from the backbone's
own forecast and learns how much of the analogues' futures to take at each step. A batch without
analogues (`Batch.retrieved` None, or k = 0) gets the backbone's forecast unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .batch import Batch


@dataclass
class FusionConfig:
    horizon: int               # H, forecast steps
    temperature: float = 0.1   # the softmax's temperature over similarity, at the start of training


class RetrievalFusion(nn.Module):
    def __init__(self, backbone: nn.Module, config: FusionConfig):
        super().__init__()
        self.backbone = backbone
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)))
        self.fuse = nn.Linear(config.horizon, config.horizon)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def weights(self, similarity: Tensor) -> Tensor:
        """similarity [B, k] (NaN: no analogue) -> softmax weights [B, k]; 0 where none was found."""
        found = ~torch.isnan(similarity)
        logits = torch.where(found, similarity / self.log_temperature.exp(), torch.tensor(-math.inf))
        return torch.softmax(logits, dim=1).nan_to_num(0.0)      # a row without analogues: NaN -> 0

    def forward(self, batch: Batch) -> Tensor:
        forecast = self.backbone(batch)                                          # [B, H, C] or [B, H, C, Q]
        if batch.retrieved is None or batch.retrieved.shape[1] == 0:
            return forecast
        weights = self.weights(batch.retrieved_similarity)                      # [B, k]
        blended = torch.einsum("bk,bkhc->bhc", weights, batch.retrieved.nan_to_num(0.0))   # [B, H, C]
        correction = self.fuse(blended.transpose(1, 2)).transpose(1, 2)         # [B, H, C]
        return forecast + (correction.unsqueeze(-1) if forecast.ndim == 4 else correction)

"""Reversible instance normalisation (RevIN, Kim et al. 2022): each window is standardised by its
own mean and deviation on the way in and the forecast is de-standardised on the way out, so a
network sees level-free shapes and distribution shift between train and test hurts less."""
from __future__ import annotations

import torch
from torch import nn


class RevIN(nn.Module):
    def __init__(self, channels: int, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x [B, L, C] -> (normalised x, statistics for `denormalize`)."""
        mean = x.mean(dim=1, keepdim=True).detach()                                   # [B, 1, C]
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.weight is not None:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """y [B, H, C] or [B, H, C, Q] -> the scale of the input."""
        mean, std = stats
        if y.dim() == 4:  # quantiles: broadcast the per-channel statistics over Q
            mean, std = mean.unsqueeze(-1), std.unsqueeze(-1)
            weight = None if self.weight is None else self.weight.unsqueeze(-1)
            bias = None if self.bias is None else self.bias.unsqueeze(-1)
        else:
            weight, bias = self.weight, self.bias
        if weight is not None:
            y = (y - bias) / (weight + self.eps * self.eps)
        return y * std + mean

"""Shared output convention: a point forecast [B, H, C], or quantiles [B, H, C, Q]."""
from __future__ import annotations

import torch


def output_width(quantiles: tuple[float, ...]) -> int:
    """Numbers a head emits per (step, channel): 1 for a point forecast, else one per quantile."""
    return max(len(quantiles), 1)


def shape_output(y: torch.Tensor, quantiles: tuple[float, ...]) -> torch.Tensor:
    """[B, H, C * Q] with Q innermost -> [B, H, C] (no quantiles) or [B, H, C, Q]."""
    if not quantiles:
        return y
    batch, horizon, width = y.shape
    return y.reshape(batch, horizon, width // len(quantiles), len(quantiles))


def from_channel_rows(y: torch.Tensor, horizon: int, quantiles: tuple[float, ...]) -> torch.Tensor:
    """[B, C, H * Q] (one row per channel, as channel-independent heads emit) -> [B, H, C(, Q)]."""
    batch, channels, _ = y.shape
    y = y.reshape(batch, channels, horizon, -1).permute(0, 2, 1, 3)              # [B, H, C, Q]
    return shape_output(y.reshape(batch, horizon, -1), quantiles)

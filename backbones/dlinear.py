"""DLinear (Zeng et al. 2023, "Are Transformers Effective for Time Series Forecasting?").

The history is split into a trend (a centred moving average) and a seasonal remainder; one linear
map along time forecasts each, and the two forecasts are summed. It is the baseline a deep
backbone has to beat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batch import Batch
from .network import Network
from .output import from_channel_rows, output_width
from .revin import RevIN


@dataclass
class DLinearConfig:
    lookback: int                        # L, history steps
    horizon: int                         # H, forecast steps
    channels: int = 1                    # C, series per sample
    quantiles: tuple[float, ...] = ()    # empty: point forecast
    moving_average: int = 25             # kernel of the trend filter
    individual: bool = False             # one pair of linear maps per channel instead of shared
    revin: bool = False

    def __post_init__(self):
        if self.moving_average < 1:
            raise ValueError(f"moving_average must be at least 1, got {self.moving_average}")


def moving_average(x: Tensor, kernel: int) -> Tensor:
    """x [B, L, C] -> its moving average [B, L, C]. The ends are padded by repeating the first and
    last values so the trend keeps length L; an even kernel reaches one step further ahead than back."""
    front = x[:, :1].expand(-1, (kernel - 1) // 2, -1)
    back = x[:, -1:].expand(-1, kernel // 2, -1)
    padded = torch.cat([front, x, back], dim=1)                                  # [B, L + kernel - 1, C]
    return F.avg_pool1d(padded.transpose(1, 2), kernel, stride=1).transpose(1, 2)


def decompose(x: Tensor, kernel: int) -> tuple[Tensor, Tensor]:
    """x [B, L, C] -> (seasonal, trend), each [B, L, C], with seasonal + trend == x."""
    trend = moving_average(x, kernel)
    return x - trend, trend


class ChannelLinear(nn.Module):
    """C independent Linear(d_in, d_out) maps, one per channel, run as one batched product."""

    def __init__(self, channels: int, d_in: int, d_out: int):
        super().__init__()
        bound = 1 / math.sqrt(d_in)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(channels, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels, d_out).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        """x [B, C, d_in] -> [B, C, d_out]."""
        return torch.einsum("bci,cio->bco", x, self.weight) + self.bias


class DLinear(nn.Module):
    def __init__(self, config: DLinearConfig):
        super().__init__()
        self.config = config
        L, C = config.lookback, config.channels
        out = config.horizon * output_width(config.quantiles)
        if config.individual:
            self.seasonal = ChannelLinear(C, L, out)
            self.trend = ChannelLinear(C, L, out)
        else:
            self.seasonal = nn.Linear(L, out)
            self.trend = nn.Linear(L, out)
        self.revin = RevIN(C) if config.revin else None

    def forward(self, batch: Batch) -> Tensor:
        """batch.x [B, L, C] -> [B, H, C], or [B, H, C, Q] with quantiles."""
        cfg = self.config
        x = batch.x                                                              # [B, L, C]
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        seasonal, trend = decompose(x, cfg.moving_average)                       # [B, L, C] each
        # the linear maps run along time, so time goes last
        y = self.seasonal(seasonal.transpose(1, 2)) + self.trend(trend.transpose(1, 2))  # [B, C, H * Q]
        y = from_channel_rows(y, cfg.horizon, cfg.quantiles)                     # [B, H, C(, Q)]
        if self.revin is not None:
            y = self.revin.denormalize(y, stats)
        return y


NETWORK = Network(
    name="dlinear", summary="DLinear: trend/remainder split with one linear map each (Zeng et al. 2023)",
    config=DLinearConfig, module=DLinear, defaults=lambda data: {"revin": True})

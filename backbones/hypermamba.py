"""HyperMamba: a Mamba forecaster whose selective-SSM parameters are generated per series.

A hypernetwork reads a conditioning vector for every token sequence (one per channel with patch
tokens, one per sample with variate tokens):
  - statistics of the raw window: level, spread, trend, last value and autocorrelations at fixed lags,
    which describe the series' dynamics (decay, period) before RevIN takes its level and scale away;
  - a learned embedding of the series (and channel) it comes from; an unseen series uses the
    "unknown" row 0, which training also shows (series ids are dropped with probability
    `series_dropout`), so the network learns to condition on the statistics alone;
  - optionally an external embedding of the series (e.g. an encoded text description).
For every layer it outputs a Δ bias, a D and the "up" halves of low-rank changes to the B and C
projections (see mamba.Modulation). Its output heads start at zero, so a fresh HyperMamba computes
exactly what the Mamba with the same weights computes, and a constant conditioning is a Mamba with
folded-in parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .batch import Batch
from .mamba import Mamba, MambaConfig, Modulation
from .network import Network

AUTOCORRELATION_LAGS = (1, 2, 3, 4, 6, 8, 12, 24, 48, 96, 168)   # lags >= L/2 read as 0
N_STATISTICS = 4 + len(AUTOCORRELATION_LAGS)


@dataclass
class HyperMambaConfig(MambaConfig):
    tokens: str = "patch"
    n_series: int = 0                    # training series with a learned embedding (0: statistics only)
    series_dim: int = 16
    series_dropout: float = 0.2          # chance in training that a window's series reads as unseen
    external_dim: int = 0                # width of Batch.series_embedding (0: not used)
    hyper_hidden: int = 64
    hyper_rank: int = 4                  # r of the low-rank B/C modulations


def window_statistics(x: Tensor) -> Tensor:
    """x [B, L, C] raw window -> [B, C, N_STATISTICS]: signed-log level and spread, trend and last value
    in spreads, and autocorrelations at AUTOCORRELATION_LAGS (0 where the lag is too long to estimate)."""
    series = x.transpose(1, 2).float()                                           # [B, C, L]
    L = series.shape[-1]
    mean = series.mean(-1, keepdim=True)
    centred = series - mean
    spread = centred.pow(2).mean(-1, keepdim=True).add(1e-5).sqrt()
    z = centred / spread                                                          # [B, C, L]
    time = torch.linspace(-1, 1, L, device=x.device)
    trend = (z * time).mean(-1) / time.pow(2).mean()                             # slope in spreads per half-window
    correlations = [(z[..., lag:] * z[..., :-lag]).mean(-1) if lag < L / 2 else torch.zeros_like(trend)
                    for lag in AUTOCORRELATION_LAGS]
    signed_log = lambda v: torch.sign(v) * torch.log1p(v.abs())
    return torch.stack([signed_log(mean[..., 0]), torch.log(spread[..., 0]), trend, z[..., -1], *correlations], -1)


class HyperNetwork(nn.Module):
    """Conditioning [S, K] -> a Modulation for each layer."""

    def __init__(self, config: HyperMambaConfig, conditioning_width: int):
        super().__init__()
        d_inner, self.n_state, self.rank = config.expand * config.d_model, config.d_state, config.hyper_rank
        self.trunk = nn.Sequential(nn.Linear(conditioning_width, config.hyper_hidden), nn.GELU(),
                                   nn.Linear(config.hyper_hidden, config.hyper_hidden), nn.GELU())
        self.sizes = [d_inner, d_inner, self.n_state * self.rank, self.n_state * self.rank]
        self.heads = nn.ModuleList(nn.Linear(config.hyper_hidden, sum(self.sizes)) for _ in range(config.n_layers))
        for head in self.heads:                        # start as plain Mamba: every modulation zero
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def forward(self, conditioning: Tensor) -> list[Modulation]:
        hidden = self.trunk(conditioning)                                         # [S, hidden]
        modulations = []
        for head in self.heads:
            delta_bias, D, B_up, C_up = head(hidden).split(self.sizes, dim=-1)
            modulations.append(Modulation(delta_bias=delta_bias, D=D,
                                          B_up=B_up.view(-1, self.n_state, self.rank),
                                          C_up=C_up.view(-1, self.n_state, self.rank)))
        return modulations


class HyperMamba(Mamba):
    def __init__(self, config: HyperMambaConfig):
        super().__init__(config, modulation_rank=config.hyper_rank)
        # row 0 of each channel's block is "unseen series"; rows 1..n_series the training series
        self.series_embedding = nn.Embedding((config.n_series + 1) * config.channels, config.series_dim)
        self.hyper = HyperNetwork(config, N_STATISTICS + config.series_dim + config.external_dim)

    def conditioning(self, batch: Batch) -> Tensor:
        """[S, K] for the S token sequences of `batch`: statistics, series embedding, external embedding."""
        cfg = self.config
        B, _, C = batch.x.shape
        series = batch.series if batch.series is not None else torch.zeros(B, dtype=torch.long, device=batch.x.device)
        if self.training and cfg.series_dropout > 0:
            series = series.masked_fill(torch.rand(B, device=series.device) < cfg.series_dropout, 0)
        rows = series[:, None] * C + torch.arange(C, device=series.device)           # [B, C]
        parts = [window_statistics(batch.x), self.series_embedding(rows)]             # [B, C, *]
        if cfg.external_dim:
            if batch.series_embedding is None:
                raise ValueError(f"this HyperMamba conditions on an external series embedding of width "
                                 f"{cfg.external_dim}: pass Batch.series_embedding [B, {cfg.external_dim}]")
            parts.append(batch.series_embedding[:, None, :].float().expand(B, C, cfg.external_dim))
        conditioning = torch.cat(parts, dim=-1)                                        # [B, C, K]
        # patch tokens scan each channel on its own; variate tokens scan across channels, one per sample
        return conditioning.reshape(B * C, -1) if cfg.tokens == "patch" else conditioning.mean(1)

    def mix(self, h: Tensor, batch: Batch) -> Tensor:
        for layer, modulation in zip(self.layers, self.hyper(self.conditioning(batch))):
            h = layer(h, modulation)
        return h


NETWORK = Network(
    name="hypermamba",
    summary="HyperMamba: Mamba whose scan parameters a hypernetwork sets per series, from its statistics and a learned embedding",
    config=HyperMambaConfig, module=HyperMamba,
    # Batch.series_embedding: the statistics, then the encoded description of the series where there is one
    defaults=lambda data: {"revin": True, "n_series": data.n_series,
                           "external_dim": N_STATISTICS + data.description_dim},
    inputs=frozenset({"series", "series_embedding"}),
    # the same statistics over a series' whole history: what lets it adapt to a series it was not trained on
    series_statistics=window_statistics)

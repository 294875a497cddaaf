"""Mamba (Gu & Dao 2023) as a forecaster: selective state-space blocks over variate or patch tokens.

The block: in_proj (expand) -> causal depthwise conv -> SiLU -> x_proj to (dt, B, C) -> selective
scan with input-dependent delta, B, C and an S4D-real A -> SiLU(z) gate -> out_proj. Tokens are
either one per channel, embedding its whole lookback (as S-Mamba does: the scan runs across
variates), or patches of each channel's history (the scan runs across time).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batch import Batch
from .kernels import selective_scan
from .network import Network
from .output import from_channel_rows, output_width
from .revin import RevIN

TOKENS = ("variate", "patch")


@dataclass
class MambaConfig:
    lookback: int                        # L
    horizon: int                         # H
    channels: int = 1                    # C
    quantiles: tuple[float, ...] = ()
    tokens: str = "variate"              # "variate": a token per channel; "patch": patches over time
    patch_len: int = 16
    stride: int = 8
    d_model: int = 128
    d_state: int = 16                    # N, state size per channel of the block
    d_conv: int = 4
    expand: int = 2                      # d_inner = expand * d_model
    dt_rank: int | None = None           # None: ceil(d_model / 16)
    n_layers: int = 2
    dropout: float = 0.1
    bidirectional: bool = False          # also scan the reversed token sequence and add the two
    revin: bool = True

    def __post_init__(self):
        if self.tokens not in TOKENS:
            raise ValueError(f"tokens must be one of {TOKENS}, got {self.tokens!r}")
        if self.tokens == "patch" and self.patch_len > self.lookback + self.stride:
            raise ValueError(f"patch_len ({self.patch_len}) must be at most lookback + stride ({self.lookback + self.stride})")

    @property
    def n_patches(self) -> int:
        return (self.lookback + self.stride - self.patch_len) // self.stride + 1


@dataclass
class Modulation:
    """Per-sequence changes to a block's selective-SSM parameters (HyperMamba generates them).
    S sequences; the B and C projections gain low-rank terms up @ down: [N, r] @ [r, d_inner].
    Per token instead (a T axis after S: [S, T, ...]) where the conditioning changes along the sequence, as
    the statistics of a growing prefix do in a causal model."""
    delta_bias: Tensor                   # [S, d_inner] added to dt_proj's bias
    D: Tensor                            # [S, d_inner] added to D
    B_up: Tensor                         # [S, N, r]
    C_up: Tensor                         # [S, N, r]

    @property
    def per_token(self) -> bool:
        return self.B_up.dim() == 4

    def reversed(self) -> Modulation:
        """The modulation of the sequence read backwards."""
        if not self.per_token:
            return self
        return Modulation(*(t.flip(1) for t in (self.delta_bias, self.D, self.B_up, self.C_up)))


class MambaBlock(nn.Module):
    def __init__(self, d_model: int, d_state: int, d_conv: int, expand: int, dt_rank: int,
                 modulation_rank: int = 0, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(dt_rank, d_inner)
        # dt_proj's bias puts softplus(bias) log-uniformly in [dt_min, dt_max], the paper's step sizes
        nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))           # inverse softplus
        # S4D-real: A = -(1, 2, ..., N) for every channel, kept as log for a stable parameterisation
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.A_log._no_weight_decay = self.D._no_weight_decay = True    # as the reference implementation
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        # the shared "down" halves of the low-rank B/C modulations: u_t -> [r for B, r for C]
        self.modulation_down = nn.Linear(d_inner, 2 * modulation_rank, bias=False) if modulation_rank else None
        self.dt_rank, self.d_state = dt_rank, d_state

    def forward(self, x: Tensor, modulation: Modulation | None = None) -> Tensor:
        """x [S, T, d_model] -> [S, T, d_model]; causal along T."""
        T = x.shape[1]
        u, z = self.in_proj(x).chunk(2, dim=-1)                                   # [S, T, d_inner] each
        u = F.silu(self.conv(u.transpose(1, 2))[..., :T])                        # [S, d_inner, T] causal conv
        dt, B, C = self.x_proj(u.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.T).transpose(1, 2)                      # [S, d_inner, T]
        D = self.D[:, None]                                                       # [d_inner, 1]
        if modulation is not None:
            down_B, down_C = self.modulation_down(u.transpose(1, 2)).chunk(2, dim=-1)  # [S, T, r] each
            if modulation.per_token:
                B = B + torch.einsum("str,stnr->stn", down_B, modulation.B_up)    # [S, T, N]
                C = C + torch.einsum("str,stnr->stn", down_C, modulation.C_up)
                delta = delta + modulation.delta_bias.transpose(1, 2)
                D = D + modulation.D.transpose(1, 2)                              # [S, d_inner, T]
            else:
                B = B + down_B @ modulation.B_up.transpose(1, 2)                  # [S, T, N]
                C = C + down_C @ modulation.C_up.transpose(1, 2)
                delta = delta + modulation.delta_bias[:, :, None]
                D = D + modulation.D[:, :, None]                                  # [S, d_inner, 1]
        y = selective_scan(u, delta, -torch.exp(self.A_log), B.transpose(1, 2), C.transpose(1, 2),
                           delta_bias=self.dt_proj.bias, delta_softplus=True)     # [S, d_inner, T]
        y = (y + D * u) * F.silu(z.transpose(1, 2))                               # skip, then gate
        return self.out_proj(y.transpose(1, 2))                                   # [S, T, d_model]


class MambaLayer(nn.Module):
    """Pre-norm residual block, optionally reading the token sequence both ways."""

    def __init__(self, config: MambaConfig, modulation_rank: int = 0):
        super().__init__()
        sizes = (config.d_model, config.d_state, config.d_conv, config.expand,
                 config.dt_rank or math.ceil(config.d_model / 16), modulation_rank)
        self.norm = nn.RMSNorm(config.d_model)
        self.forward_block = MambaBlock(*sizes)
        self.backward_block = MambaBlock(*sizes) if config.bidirectional else None
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, modulation: Modulation | None = None) -> Tensor:
        h = self.norm(x)
        y = self.forward_block(h, modulation)
        if self.backward_block is not None:
            y = y + self.backward_block(h.flip(1), modulation and modulation.reversed()).flip(1)
        return x + self.dropout(y)


class Mamba(nn.Module):
    def __init__(self, config: MambaConfig, modulation_rank: int = 0):
        super().__init__()
        self.config = config
        width = config.lookback if config.tokens == "variate" else config.patch_len
        self.embed = nn.Linear(width, config.d_model)
        self.layers = nn.ModuleList(MambaLayer(config, modulation_rank) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model)
        n_tokens = 1 if config.tokens == "variate" else config.n_patches
        self.head = nn.Linear(n_tokens * config.d_model, config.horizon * output_width(config.quantiles))
        self.revin = RevIN(config.channels) if config.revin else None

    def forward(self, batch: Batch) -> Tensor:
        """batch.x [B, L, C] -> [B, H, C], or [B, H, C, Q] with quantiles."""
        cfg = self.config
        x = batch.x                                                               # [B, L, C]
        B, L, C = x.shape
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        if cfg.tokens == "variate":
            h = self.embed(x.transpose(1, 2))                                     # [B, C, D] a token per channel
        else:
            series = F.pad(x.transpose(1, 2), (0, cfg.stride), mode="replicate")   # [B, C, L + S]
            patches = series.unfold(2, cfg.patch_len, cfg.stride)                 # [B, C, N, P]
            h = self.embed(patches.reshape(B * C, cfg.n_patches, cfg.patch_len))  # [B*C, N, D]
        h = self.mix(h, batch)                                                    # [S, T, D]
        h = self.norm(h)
        y = self.head(h.reshape(B, C, -1))                                        # [B, C, H * Q]
        y = from_channel_rows(y, cfg.horizon, cfg.quantiles)                      # [B, H, C(, Q)]
        if self.revin is not None:
            y = self.revin.denormalize(y, stats)
        return y

    def mix(self, h: Tensor, batch: Batch) -> Tensor:
        """The Mamba layers over the token sequences h [S, T, D]: S = B (variate) or B * C (patch)."""
        for layer in self.layers:
            h = layer(h)
        return h


NETWORK = Network(
    name="mamba", summary="Mamba: selective state-space blocks over patches of the history (Gu & Dao 2023)",
    config=MambaConfig, module=Mamba,
    # one series per window in the product, so the scan runs over patches in time, not across variates
    defaults=lambda data: {"revin": True, "tokens": "patch"})

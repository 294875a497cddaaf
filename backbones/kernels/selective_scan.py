"""The selective scan of Mamba (Gu & Dao 2023), with the semantics of the paper's reference:

    delta = softplus(delta + delta_bias)            (each optional)
    h_t   = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t      h: [B, D, N], accumulated in fp32
    y_t   = <C_t, h_t> + D * u_t,   then y * silu(z) when a gate z is given

Shapes: u, delta, z [B, D, L]; A [D, N]; B, C [B, N, L]; D, delta_bias [D]. Returns y [B, D, L] in
u's dtype, and the last state [B, D, N] when asked.

Two implementations here: `selective_scan_reference`, a plain loop over time (the ground truth of the
tests), and `selective_scan_chunked`, which is parallel inside chunks of `chunk` steps and carries the
state sequentially across them. Inside a chunk, h_t = sum_{s<=t} exp(a_t - a_s) b_s + exp(a_t) h_0 with
a the running sum of delta*A: every exponent is <= 0, so nothing overflows however fast the decay.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _prepare(u: Tensor, delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> tuple[Tensor, Tensor]:
    u, delta = u.float(), delta.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)
    return u, delta


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None, dtype: torch.dtype) -> Tensor:
    if D is not None:
        y = y + D.float()[None, :, None] * u
    if z is not None:
        y = y * F.silu(z.float())
    return y.to(dtype)


def selective_scan_reference(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                             z: Tensor | None = None, delta_bias: Tensor | None = None,
                             delta_softplus: bool = False, return_last_state: bool = False):
    """One step at a time: slow, plain, and the definition the other implementations must match."""
    dtype = u.dtype
    u, delta = _prepare(u, delta, delta_bias, delta_softplus)
    A, B, C = A.float(), B.float(), C.float()
    batch, channels, length = u.shape
    h = u.new_zeros(batch, channels, A.shape[1])                                  # [B, D, N]
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)                               # [B, D, N]
        h = decay * h + delta[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))
    y = _finish(torch.stack(ys, dim=-1), u, D, z, dtype)                          # [B, D, L]
    return (y, h) if return_last_state else y


def selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                           z: Tensor | None = None, delta_bias: Tensor | None = None,
                           delta_softplus: bool = False, return_last_state: bool = False, chunk: int = 32):
    """Parallel within chunks, sequential across them; differentiable with plain autograd."""
    dtype = u.dtype
    u, delta = _prepare(u, delta, delta_bias, delta_softplus)
    A, B, C = A.float(), B.float(), C.float()
    batch, channels, length = u.shape
    h = u.new_zeros(batch, channels, A.shape[1])                                  # [B, D, N]
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=u.device).tril()
    ys = []
    for start in range(0, length, chunk):
        d = delta[:, :, start:start + chunk]                                      # [B, D, T]
        T = d.shape[-1]
        a = torch.cumsum(d[..., None] * A[None, :, None, :], dim=2)              # [B, D, T, N] running log-decay
        b = (d * u[:, :, start:start + chunk])[..., None] * B[:, None, :, start:start + chunk].transpose(-1, -2)
        # weights exp(a_t - a_s) for s <= t, zero above the diagonal; exponents are never positive
        gaps = a[:, :, :, None, :] - a[:, :, None, :, :]                          # [B, D, T(t), T(s), N]
        weights = torch.exp(gaps.masked_fill(~causal[:T, :T, None], float("-inf")))
        states = torch.einsum("bdtsn,bdsn->bdtn", weights, b) + torch.exp(a) * h[:, :, None, :]  # [B, D, T, N]
        ys.append(torch.einsum("bdtn,bnt->bdt", states, C[:, :, start:start + chunk]))
        h = states[:, :, -1]
    y = _finish(torch.cat(ys, dim=-1), u, D, z, dtype)
    return (y, h) if return_last_state else y


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                   return_last_state: bool = False):
    """The selective scan, by the fastest implementation available for the inputs' device."""
    return selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)

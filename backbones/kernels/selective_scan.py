"""The selective scan of Mamba (Gu & Dao 2023), with the semantics of the paper's reference:

    delta = softplus(delta + delta_bias)            (each optional)
    h_t   = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t      h: [B, D, N], accumulated in fp32
    y_t   = <C_t, h_t> + D * u_t,   then y * silu(z) when a gate z is given

Shapes: u, delta, z [B, D, L]; A [D, N]; B, C [B, N, L]; D, delta_bias [D]. Returns y [B, D, L] in
u's dtype, and the last state [B, D, N] when asked.

Implementations: `selective_scan_reference`, a plain loop over time (the ground truth of the tests);
`selective_scan_chunked`, the PyTorch path for any device; and a Triton kernel used on CUDA
(selective_scan_triton.py). The chunked scan splits time into chunks of T steps and scans every chunk
of a block at once from a zero state, keeping the decay accumulated since the chunk's start; the true
state entering each chunk is then carried across chunks one at a time, and h_t = local_t +
decay_since_start_t * carry. Only products of decays in (0, 1] appear, so it is exact and stable at any
decay rate. Its backward is the same scan run in reverse on the gradients; states are recomputed
block by block from the few saved at block boundaries, so memory stays O(B * D * L), not O(B * D * N * L)
(a group of rows whose whole sequences fit in one block keeps its states instead of recomputing them).
"""
from __future__ import annotations

import importlib.util

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
                           delta_softplus: bool = False, return_last_state: bool = False, chunk: int = 16,
                           block_elements: int = 2 ** 19):
    """Chunked scan with its own backward: every chunk of `chunk` steps is scanned at once (all chunks of a
    block in parallel), then the state is carried across chunks and blocks. A block holds about
    `block_elements` state values, so its [steps, batch, channels, state] tensors stay in cache; a batch
    too wide for that is scanned a group of rows at a time."""
    dtype = u.dtype
    u, delta = _prepare(u, delta, delta_bias, delta_softplus)
    A, B, C = A.float(), B.float(), C.float()
    # rows per group: as many rows of one chunk as a block holds; short sequences (two chunks at most)
    # as whole rows, so that a group is one block and keeps its states for the backward
    length = u.shape[-1]
    per_row = (length if length <= 2 * chunk else chunk) * A.numel()
    rows = max(1, block_elements // per_row)
    ys, hs = zip(*(_ChunkedScan.apply(u[i:i + rows], delta[i:i + rows], A, B[i:i + rows], C[i:i + rows], chunk,
                                      block_elements) for i in range(0, u.shape[0], rows)))
    y, h = (torch.cat(ys), torch.cat(hs)) if len(ys) > 1 else (ys[0], hs[0])
    y = _finish(y, u, D, z, dtype)
    return (y, h) if return_last_state else y


def _chunk_plan(length: int, state_size: int, chunk: int, block_elements: int) -> tuple[int, int, int]:
    """(steps per chunk, chunks per block, padded length): chunks of at most `chunk` steps and blocks of
    about `block_elements` states, both evened out so that little padding is needed."""
    n_chunks = -(-length // chunk)
    steps = -(-length // n_chunks)
    chunks = max(1, min(block_elements // (steps * state_size), n_chunks))
    n_blocks = -(-n_chunks // chunks)
    chunks = -(-n_chunks // n_blocks)
    return steps, chunks, n_blocks * chunks * steps


def _by_step(rows: Tensor, chunks: int) -> Tensor:
    """A block's time-major rows [chunks * T, b, w] as [T, chunks, b, w]: step t of every chunk together."""
    return rows.view(chunks, -1, *rows.shape[1:]).transpose(0, 1)


def _block_states(delta: Tensor, delta_u: Tensor, B: Tensor, A: Tensor, h0: Tensor | None, chunks: int,
                  decay: Tensor, since_start: Tensor, h: Tensor, carry: Tensor) -> None:
    """States of one block, written into h [T, chunks, b, d, n] from the state h0 [b, d, n] before it
    (None: zero); also each step's decay exp(delta_t A), and in `since_start` the decay accumulated since
    its chunk's start (left unset when a single chunk starts from zero and nothing needs it)."""
    torch.mul(_by_step(delta, chunks)[..., None], A, out=decay)                  # [T, chunks, b, d, n]
    decay.exp_()
    torch.mul(_by_step(delta_u, chunks)[..., None], _by_step(B, chunks)[:, :, :, None, :], out=h)
    carried = chunks > 1 or h0 is not None
    if carried:
        since_start[0] = decay[0]
    for t in range(1, h.shape[0]):                                               # every chunk from zero
        h[t].addcmul_(decay[t], h[t - 1])
        if carried:
            torch.mul(decay[t], since_start[t - 1], out=since_start[t])
    if carried:
        carry[0] = 0 if h0 is None else h0                                       # state entering each chunk
        for c in range(1, chunks):
            torch.addcmul(h[-1, c - 1], since_start[-1, c - 1], carry[c - 1], out=carry[c])
        h.addcmul_(since_start, carry)


class _ChunkedScan(torch.autograd.Function):
    """The fp32 core y_t = <C_t, h_t>. Saves only the state entering each block; backward recomputes
    a block's states from it, then runs the reverse recurrence the same chunked way."""

    @staticmethod
    def forward(ctx, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk: int, block_elements: int):
        b, d, L = u.shape
        n = A.shape[1]
        T, chunks, padded = _chunk_plan(L, b * d * n, chunk, block_elements)
        # time-major copies [padded, b, d|n]; padding steps have delta = 0: decay 1, no input, state kept
        steps = [F.pad(v, (0, padded - L)).permute(2, 0, 1).contiguous() for v in (u, delta, B, C)]
        u_t, delta_t, B_t, C_t = steps
        delta_u = delta_t * u_t
        n_blocks = padded // (T * chunks)
        decay, since_start, h = (u.new_empty(T, chunks, b, d, n) for _ in range(3))
        carry = u.new_empty(chunks, b, d, n)
        starts = u.new_zeros(n_blocks + 1, b, d, n)                             # state entering each block
        y_t = u.new_empty(padded, b, d)
        for k in range(n_blocks):
            rows = slice(k * T * chunks, (k + 1) * T * chunks)
            _block_states(delta_t[rows], delta_u[rows], B_t[rows], A, starts[k] if k else None, chunks, decay,
                          since_start, h, carry)
            y = torch.bmm(h.view(-1, d, n), _by_step(C_t[rows], chunks).reshape(-1, n, 1))  # [T*chunks*b, d, 1]
            _by_step(y_t[rows], chunks).copy_(y.view(T, chunks, b, d))
            starts[k + 1] = h[-1, -1]
        # one block: its states and decays are kept (memory of one block); more: recomputed from `starts`
        kept = (decay, h) if n_blocks == 1 else ()
        ctx.save_for_backward(u_t, delta_t, delta_u, B_t, C_t, A, starts, *kept)
        ctx.plan = (T, chunks, L)
        ctx.set_materialize_grads(False)                  # an unused last state sends no gradient to carry
        return y_t[:L].permute(1, 2, 0), starts[-1].clone()

    @staticmethod
    def backward(ctx, grad_y: Tensor, grad_last: Tensor | None):
        u_t, delta_t, delta_u, B_t, C_t, A, starts, *kept = ctx.saved_tensors
        T, chunks, L = ctx.plan
        padded, b, d = u_t.shape
        n = A.shape[1]
        rows_per_block = T * chunks
        if grad_y is None:                                                      # only the last state was used
            grad_y = u_t.new_zeros(b, d, L)
        grad_y_t = F.pad(grad_y, (0, padded - L)).permute(2, 0, 1).contiguous()  # [padded, b, d]
        since_start, g, x, to_end = (u_t.new_empty(T, chunks, b, d, n) for _ in range(4))
        decay, h = kept or (u_t.new_empty(T, chunks, b, d, n) for _ in range(2))
        carry, g_carry = u_t.new_empty(chunks, b, d, n), u_t.new_empty(chunks, b, d, n)
        to_end[-1] = 1
        g_after = grad_last                              # gradient at the block's end from later steps
        g_u, g_delta, g_B, g_C = (torch.empty_like(v) for v in (u_t, delta_t, B_t, C_t))
        g_A = torch.zeros_like(A)
        for k in reversed(range(padded // rows_per_block)):
            rows = slice(k * rows_per_block, (k + 1) * rows_per_block)
            step = {name: _by_step(v[rows], chunks) for name, v in
                    (("u", u_t), ("delta", delta_t), ("delta_u", delta_u), ("B", B_t), ("C", C_t), ("gy", grad_y_t))}
            if not kept:
                _block_states(delta_t[rows], delta_u[rows], B_t[rows], A, starts[k] if k else None, chunks, decay,
                              since_start, h, carry)
            # g_t = dloss/dh_t = C_t gy_t + exp(delta_{t+1} A) g_{t+1}: the same scan, run backwards
            torch.mul(step["gy"][..., None], step["C"][:, :, :, None, :], out=g)
            carried = chunks > 1 or g_after is not None
            for t in range(T - 2, -1, -1):
                g[t].addcmul_(decay[t + 1], g[t + 1])
                if carried:
                    torch.mul(decay[t + 1], to_end[t + 1], out=to_end[t])        # decay from t to chunk end
            if carried:
                g_carry[-1] = 0 if g_after is None else g_after                  # gradient at each chunk's end
                for c in range(chunks - 2, -1, -1):
                    torch.addcmul(g[0, c + 1], to_end[0, c + 1], g_carry[c + 1], out=g_carry[c]).mul_(decay[0, c + 1])
                g.addcmul_(to_end, g_carry)
            g_after = decay[0, 0] * g[0, 0]
            # dloss/d(delta_t A) = g_t exp(delta_t A) h_{t-1} = g_t (h_t - delta_t B_t u_t)
            torch.mul(step["delta_u"][..., None], step["B"][:, :, :, None, :], out=x)
            g_log = torch.sub(h, x, out=x).mul_(g).view(-1, d, n)                # [T*chunks*b, d, n]
            delta_rows = step["delta"].reshape(-1, d)
            g_A += (g_log * delta_rows[..., None]).sum(0)
            g_input = torch.bmm(g.view(-1, d, n), step["B"].reshape(-1, n, 1)).view(-1, d)  # sum_n g B
            grads = (
                (g_delta, (g_log * A).sum(-1) + step["u"].reshape(-1, d) * g_input),
                (g_u, delta_rows * g_input),
                (g_B, torch.bmm(g.view(-1, d, n).transpose(1, 2), step["delta_u"].reshape(-1, d, 1))),
                (g_C, torch.bmm(h.view(-1, d, n).transpose(1, 2), step["gy"].reshape(-1, d, 1))),
            )
            for out, value in grads:
                _by_step(out[rows], chunks).copy_(value.view(T, chunks, b, -1))
        unpad = lambda v: v[:L].permute(1, 2, 0)
        return unpad(g_u), unpad(g_delta), g_A, unpad(g_B), unpad(g_C), None, None


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                   return_last_state: bool = False):
    """The selective scan, by the fastest implementation available for the inputs' device: the Triton
    kernel on CUDA when Triton is installed, else the chunked scan."""
    if u.is_cuda and importlib.util.find_spec("triton") is not None:
        from .selective_scan_triton import selective_scan_triton
        return selective_scan_triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    return selective_scan_chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)

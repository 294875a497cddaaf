"""The selective scan of Mamba as two Triton kernels, forward and backward, under one autograd Function.

Semantics are those of `selective_scan_reference` (see selective_scan.py); the kernels fuse
delta_bias + softplus, the D skip and the silu(z) gate, so u, delta and z are read once per pass.

Layout. Both kernels run on a grid (batch, blocks of BLOCK_D channels). A program keeps its state
h [BLOCK_D, BLOCK_N] (N padded to a power of two; padded lanes get A = 0 and B = 0, so they stay 0)
in fp32 registers and walks time sequentially, loading u, delta, z for its channels and B_t, C_t per
step. Inputs are read in their own dtype and promoted to fp32; y is written in u's dtype.

Forward: besides y and the last state, the kernel writes the state entering every chunk of CHUNK
steps to a checkpoint buffer [B, ceil(L / CHUNK), D, N] (fp32) when gradients are needed.

Backward: chunks are visited last to first. For each, the program recomputes the chunk's states from
its checkpoint into a private scratch buffer in global memory [CHUNK, BLOCK_D, BLOCK_N], then walks
the chunk backwards, carrying g = exp(delta_{t+1} A) * g_h_{t+1} (started from the last state's
gradient). Since exp(delta_t A) h_{t-1} = h_t - x_t with x_t = delta_t B_t u_t, every gradient needs
h_t alone; h_{t-1} is never recovered by dividing by the decay. Reductions that cross programs (dB,
dC over channel blocks; dA, dD, d(delta_bias) over batch) go to per-program partial buffers that torch
sums afterwards, which keeps the result deterministic.

Every buffer the kernels write comes from `_output`, which the tests replace with a NaN-filling
allocator, so an element a kernel forgets to write cannot pass for a result there.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor


def _output(*shape: int, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A buffer a kernel fills completely (uninitialised here; NaN-filled under test)."""
    return torch.empty(shape, dtype=dtype or like.dtype, device=like.device)


@triton.jit
def _softplus(x):
    # torch's threshold: above 20 softplus(x) == x in fp32, and exp(x) would overflow further on
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def _load_step(u_ptr, delta_ptr, B_ptr, row, col, t, d_ok, n_ok, bias,
               HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """Step t's u and delta [BLOCK_D] (delta before and after bias + softplus) and B_t [BLOCK_N], in fp32."""
    u = tl.load(u_ptr + row + t, mask=d_ok, other=0.0).to(tl.float32)
    dt_raw = tl.load(delta_ptr + row + t, mask=d_ok, other=0.0).to(tl.float32)
    if HAS_BIAS:
        dt_raw += bias
    if SOFTPLUS:
        dt = _softplus(dt_raw)
    else:
        dt = dt_raw
    B_t = tl.load(B_ptr + col + t, mask=n_ok, other=0.0).to(tl.float32)
    return u, dt_raw, dt, B_t


@triton.jit
def _scan_fwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                     y_ptr, last_ptr, ckpt_ptr,
                     channels, state, length,
                     HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                     STORE_CKPT: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr,
                     BLOCK_N: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)  # int64 offsets: B * D * L passes 2**31 at training sizes
    d = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    d_ok, n_ok = d < channels, n < state
    dn_ok = d_ok[:, None] & n_ok[None, :]
    A = tl.load(A_ptr + d[:, None] * state + n[None, :], mask=dn_ok, other=0.0)
    if HAS_D:
        skip = tl.load(D_ptr + d, mask=d_ok, other=0.0)
    bias = tl.load(bias_ptr + d, mask=d_ok, other=0.0) if HAS_BIAS else 0.0
    row = (b * channels + d) * length                                   # channel rows of u, delta, z, y
    col = (b * state + n) * length                                      # state rows of B, C
    h = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    n_chunks = tl.cdiv(length, CHUNK)
    for c in range(0, n_chunks):
        if STORE_CKPT:
            tl.store(ckpt_ptr + ((b * n_chunks + c) * channels + d[:, None]) * state + n[None, :], h, mask=dn_ok)
        for t in range(c * CHUNK, tl.minimum(c * CHUNK + CHUNK, length)):
            u, _, dt, B_t = _load_step(u_ptr, delta_ptr, B_ptr, row, col, t, d_ok, n_ok, bias, HAS_BIAS, SOFTPLUS)
            C_t = tl.load(C_ptr + col + t, mask=n_ok, other=0.0).to(tl.float32)
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * B_t[None, :]
            y = tl.sum(h * C_t[None, :], axis=1)
            if HAS_D:
                y += skip * u
            if HAS_Z:
                z = tl.load(z_ptr + row + t, mask=d_ok, other=0.0).to(tl.float32)
                y = y * z * tl.sigmoid(z)
            tl.store(y_ptr + row + t, y.to(y_ptr.dtype.element_ty), mask=d_ok)
    tl.store(last_ptr + (b * channels + d[:, None]) * state + n[None, :], h, mask=dn_ok)


@triton.jit
def _scan_bwd_kernel(u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
                     ckpt_ptr, gy_ptr, glast_ptr, scratch_ptr,
                     gu_ptr, gdelta_ptr, gz_ptr, gA_ptr, gB_ptr, gC_ptr, gD_ptr, gbias_ptr,
                     channels, state, length,
                     HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                     HAS_GLAST: tl.constexpr, CHUNK: tl.constexpr, BLOCK_D: tl.constexpr,
                     BLOCK_N: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    block = tl.program_id(1)
    n_blocks = tl.num_programs(1)
    d = block * BLOCK_D + tl.arange(0, BLOCK_D)
    n = tl.arange(0, BLOCK_N)
    d_ok, n_ok = d < channels, n < state
    dn_ok = d_ok[:, None] & n_ok[None, :]
    dn = d[:, None] * state + n[None, :]
    A = tl.load(A_ptr + dn, mask=dn_ok, other=0.0)
    if HAS_D:
        skip = tl.load(D_ptr + d, mask=d_ok, other=0.0)
    bias = tl.load(bias_ptr + d, mask=d_ok, other=0.0) if HAS_BIAS else 0.0
    row = (b * channels + d) * length
    col = (b * state + n) * length
    part_col = ((b * n_blocks + block) * state + n) * length           # this program's rows of the dB, dC partials
    # the scratch is private to the program and holds the padded lanes too: no mask, contiguous per step
    scratch = (scratch_ptr + (b * n_blocks + block) * (CHUNK * BLOCK_D * BLOCK_N)
               + tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + n[None, :])
    if HAS_GLAST:
        g = tl.load(glast_ptr + b * channels * state + dn, mask=dn_ok, other=0.0)
    else:
        g = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    gA = tl.zeros([BLOCK_D, BLOCK_N], dtype=tl.float32)
    gD = tl.zeros([BLOCK_D], dtype=tl.float32)
    gbias = tl.zeros([BLOCK_D], dtype=tl.float32)
    n_chunks = tl.cdiv(length, CHUNK)
    for c_rev in range(0, n_chunks):
        c = n_chunks - 1 - c_rev
        start = c * CHUNK
        end = tl.minimum(start + CHUNK, length)
        # recompute the chunk's states h_t from the state entering it
        h = tl.load(ckpt_ptr + (b * n_chunks + c) * channels * state + dn, mask=dn_ok, other=0.0)
        for t in range(start, end):
            u, _, dt, B_t = _load_step(u_ptr, delta_ptr, B_ptr, row, col, t, d_ok, n_ok, bias, HAS_BIAS, SOFTPLUS)
            h = tl.exp(dt[:, None] * A) * h + (dt * u)[:, None] * B_t[None, :]
            tl.store(scratch + (t - start) * (BLOCK_D * BLOCK_N), h)
        tl.debug_barrier()  # the states must be in memory before they are read back
        for i in range(0, end - start):
            t = end - 1 - i
            u, dt_raw, dt, B_t = _load_step(u_ptr, delta_ptr, B_ptr, row, col, t, d_ok, n_ok, bias,
                                            HAS_BIAS, SOFTPLUS)
            C_t = tl.load(C_ptr + col + t, mask=n_ok, other=0.0).to(tl.float32)
            gy = tl.load(gy_ptr + row + t, mask=d_ok, other=0.0).to(tl.float32)
            h = tl.load(scratch + (t - start) * (BLOCK_D * BLOCK_N))
            # output side: y = (<C_t, h_t> + D u) * silu(z); gy_pre is the gradient before the gate
            if HAS_Z:
                z = tl.load(z_ptr + row + t, mask=d_ok, other=0.0).to(tl.float32)
                sig = tl.sigmoid(z)
                pre = tl.sum(h * C_t[None, :], axis=1)
                if HAS_D:
                    pre += skip * u
                tl.store(gz_ptr + row + t, (gy * pre * sig * (1.0 + z * (1.0 - sig))).to(gz_ptr.dtype.element_ty),
                         mask=d_ok)
                gy_pre = gy * z * sig
            else:
                gy_pre = gy
            gu = tl.zeros([BLOCK_D], dtype=tl.float32)
            if HAS_D:
                gD += gy_pre * u
                gu = gy_pre * skip
            tl.store(gC_ptr + part_col + t, tl.sum(gy_pre[:, None] * h, axis=0), mask=n_ok)
            # state side: h_t = exp(dt A) h_{t-1} + x_t, x_t = dt u B_t
            g_h = g + gy_pre[:, None] * C_t[None, :]
            dtu = dt * u
            g_log = g_h * (h - dtu[:, None] * B_t[None, :])            # gradient of the log-decay dt * A
            gA += g_log * dt[:, None]
            tl.store(gB_ptr + part_col + t, tl.sum(g_h * dtu[:, None], axis=0), mask=n_ok)
            g_x = tl.sum(g_h * B_t[None, :], axis=1)                     # gradient of dt * u
            gu += dt * g_x
            gdt = u * g_x + tl.sum(g_log * A, axis=1)
            if SOFTPLUS:
                gdt = gdt * tl.sigmoid(dt_raw)
            if HAS_BIAS:
                gbias += gdt
            tl.store(gu_ptr + row + t, gu.to(gu_ptr.dtype.element_ty), mask=d_ok)
            tl.store(gdelta_ptr + row + t, gdt.to(gdelta_ptr.dtype.element_ty), mask=d_ok)
            g = tl.exp(dt[:, None] * A) * g_h
        tl.debug_barrier()  # all reads of the scratch done before the next chunk overwrites it
    tl.store(gA_ptr + b * channels * state + dn, gA, mask=dn_ok)
    if HAS_D:
        tl.store(gD_ptr + b * channels + d, gD, mask=d_ok)
    if HAS_BIAS:
        tl.store(gbias_ptr + b * channels + d, gbias, mask=d_ok)


def _config(batch: int, channels: int, state: int, block_d: int | None) -> tuple[int, int, int]:
    """(BLOCK_D, BLOCK_N, num_warps). Without a block_d, aim at about a thousand programs, since each
    walks all of time alone: fewer, wider programs leave SMs idle at small batch * channels."""
    block_n = triton.next_power_of_2(state)
    if block_d is None:
        block_d = min(32, max(4, triton.next_power_of_2(triton.cdiv(batch * channels, 1024))))
    block_d = min(triton.next_power_of_2(block_d), triton.next_power_of_2(channels))
    num_warps = max(1, min(4, block_d * block_n // 128))
    return block_d, block_n, num_warps


def _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, store_ckpt, chunk, block_d):
    batch, channels, length = u.shape
    state = A.shape[1]
    block_d, block_n, num_warps = _config(batch, channels, state, block_d)
    y = _output(*u.shape, like=u)
    last = _output(batch, channels, state, like=u, dtype=torch.float32)
    ckpt = (_output(batch, triton.cdiv(length, chunk), channels, state, like=u, dtype=torch.float32)
            if store_ckpt else last)        # unused stand-in when not stored
    grid = (batch, triton.cdiv(channels, block_d))
    _scan_fwd_kernel[grid](
        u, delta, A, B, C, u if D is None else D, u if z is None else z, u if delta_bias is None else delta_bias,
        y, last, ckpt, channels, state, length,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        STORE_CKPT=store_ckpt, CHUNK=chunk, BLOCK_D=block_d, BLOCK_N=block_n, num_warps=num_warps)
    return y, last, ckpt


def _backward(gy, glast, u, delta, A, B, C, D, z, delta_bias, ckpt, delta_softplus, chunk, block_d):
    batch, channels, length = u.shape
    state = A.shape[1]
    block_d, block_n, num_warps = _config(batch, channels, state, block_d)
    n_blocks = triton.cdiv(channels, block_d)
    f32 = dict(like=u, dtype=torch.float32)
    gu, gdelta = _output(*u.shape, like=u), _output(*delta.shape, like=delta)
    gz = None if z is None else _output(*z.shape, like=z)
    gA = _output(batch, channels, state, **f32)                            # partials, summed below
    gB = _output(batch, n_blocks, state, length, **f32)
    gC = _output(batch, n_blocks, state, length, **f32)
    gD = None if D is None else _output(batch, channels, **f32)
    gbias = None if delta_bias is None else _output(batch, channels, **f32)
    scratch = torch.empty(batch * n_blocks * chunk * block_d * block_n, dtype=torch.float32, device=u.device)
    _scan_bwd_kernel[(batch, n_blocks)](
        u, delta, A, B, C, u if D is None else D, u if z is None else z, u if delta_bias is None else delta_bias,
        ckpt, gy, gA if glast is None else glast, scratch,
        gu, gdelta, gu if gz is None else gz, gA, gB, gC, gu if gD is None else gD, gu if gbias is None else gbias,
        channels, state, length,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        HAS_GLAST=glast is not None, CHUNK=chunk, BLOCK_D=block_d, BLOCK_N=block_n, num_warps=num_warps)
    return (gu, gdelta, gA.sum(0), gB.sum(1).to(B.dtype), gC.sum(1).to(C.dtype),
            None if gD is None else gD.sum(0), gz, None if gbias is None else gbias.sum(0))


class _SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, chunk, block_d):
        y, last, ckpt = _forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, True, chunk, block_d)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, ckpt)
        ctx.delta_softplus, ctx.chunk, ctx.block_d = delta_softplus, chunk, block_d
        ctx.set_materialize_grads(False)  # an unused last state then costs no zero-filled gradient
        return y, last

    @staticmethod
    def backward(ctx, gy, glast):
        u, delta, A, B, C, D, z, delta_bias, ckpt = ctx.saved_tensors
        gy = torch.zeros_like(u) if gy is None else gy.contiguous()
        glast = None if glast is None else glast.float().contiguous()
        grads = _backward(gy, glast, u, delta, A, B, C, D, z, delta_bias, ckpt,
                          ctx.delta_softplus, ctx.chunk, ctx.block_d)
        return (*grads, None, None, None)


def selective_scan_triton(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                          z: Tensor | None = None, delta_bias: Tensor | None = None, delta_softplus: bool = False,
                          return_last_state: bool = False, *, chunk: int = 64,
                          block_d: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """The selective scan by the Triton kernels; same arguments and results as `selective_scan_reference`.

    chunk: steps between the forward's state checkpoints, i.e. how many states the backward recomputes
    at a time. block_d: channels per program (a power of two); by default chosen from the sizes.
    """
    # the kernels index rows directly, and read A, D, delta_bias as fp32 parameters
    u, delta, B, C = u.contiguous(), delta.contiguous(), B.contiguous(), C.contiguous()
    z = None if z is None else z.contiguous()
    A = A.float().contiguous()
    D = None if D is None else D.float().contiguous()
    delta_bias = None if delta_bias is None else delta_bias.float().contiguous()
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        y, last = _SelectiveScanFn.apply(*tensors, delta_softplus, chunk, block_d)
    else:
        y, last, _ = _forward(*tensors, delta_softplus, False, chunk, block_d)
    return (y, last) if return_last_state else y

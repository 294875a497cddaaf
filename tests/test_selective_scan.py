"""The selective scan: the chunked implementation against the sequential reference."""
import pytest
import torch

from backbones.kernels import selective_scan, selective_scan_chunked, selective_scan_reference

pytestmark = pytest.mark.usefixtures("one_thread")


def inputs(batch=2, channels=3, state=4, length=37, dtype=torch.float32, seed=0, gate=True):
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=generator) * scale).to(dtype).requires_grad_()

    A = (-torch.exp(torch.randn(channels, state, generator=generator))).requires_grad_()  # negative real, S4D-like
    return dict(u=rand(batch, channels, length), delta=rand(batch, channels, length, scale=0.5), A=A,
                B=rand(batch, state, length), C=rand(batch, state, length), D=rand(channels),
                z=rand(batch, channels, length) if gate else None, delta_bias=rand(channels, scale=0.3),
                delta_softplus=True)


def grads(out, args, last=None):
    """Gradients of a random projection of the outputs (and of the last state, when given)."""
    generator = torch.Generator().manual_seed(1)
    loss = (out.float() * torch.randn(out.shape, generator=generator)).sum()
    if last is not None:
        loss = loss + (last * torch.randn(last.shape, generator=generator)).sum()
    leaves = [value for value in args.values() if isinstance(value, torch.Tensor) and value.requires_grad]
    return torch.autograd.grad(loss, leaves)


# (length, chunk, block_elements): one chunk; ragged last chunk; several chunks per block and several
# blocks (block_elements small enough that a block holds 2 chunks); a chunk longer than the sequence
@pytest.mark.parametrize("length,chunk,block_elements", [(37, 37, 2 ** 19), (37, 8, 2 ** 19), (64, 4, 2 * 4 * 24),
                                                         (37, 8, 1), (5, 32, 2 ** 19), (1, 16, 2 ** 19)])
def test_chunked_scan_matches_the_reference_in_values_gradients_and_last_state(length, chunk, block_elements):
    args = inputs(length=length)
    y_ref, h_ref = selective_scan_reference(**args, return_last_state=True)
    y, h = selective_scan_chunked(**args, return_last_state=True, chunk=chunk, block_elements=block_elements)
    assert y.shape == (2, 3, length) and h.shape == (2, 3, 4)
    torch.testing.assert_close(y, y_ref, rtol=6e-4, atol=2e-3)
    torch.testing.assert_close(h, h_ref, rtol=6e-4, atol=2e-3)
    for g, g_ref in zip(grads(y, args, h), grads(y_ref, args, h_ref), strict=True):
        torch.testing.assert_close(g, g_ref, rtol=6e-4, atol=2e-3)


def test_without_gate_bias_or_skip_the_scan_is_the_plain_recurrence():
    u = torch.tensor([[[1.0, 0.0, 0.0, 2.0]]])                                   # [1, 1, 4]
    delta = torch.full((1, 1, 4), 0.5)
    A = torch.tensor([[-2.0]])
    B = torch.ones(1, 1, 4)
    C = torch.ones(1, 1, 4)
    decay = torch.exp(torch.tensor(-1.0))
    expected, h = [], 0.0
    for t in range(4):
        h = decay * h + 0.5 * u[0, 0, t]
        expected.append(h)
    for scan in (selective_scan_reference, selective_scan_chunked, selective_scan):
        torch.testing.assert_close(scan(u, delta, A, B, C)[0, 0], torch.stack(expected))


def test_fast_decay_over_long_chunks_stays_finite():
    args = inputs(length=128, gate=False)
    with torch.no_grad():
        args["A"].mul_(0).sub_(80.0)  # exp(-80 * delta) per step: a naive cumulative product underflows to 0/0
    y = selective_scan_chunked(**args, chunk=128)
    assert torch.isfinite(y).all() and all(torch.isfinite(g).all() for g in grads(y, args))
    torch.testing.assert_close(y, selective_scan_reference(**args), rtol=6e-4, atol=2e-3)


def test_bf16_inputs_accumulate_in_fp32_and_return_bf16():
    args = inputs(dtype=torch.bfloat16, length=24)
    y = selective_scan_chunked(**args, chunk=8)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), selective_scan_reference(**args).float(), rtol=3e-2, atol=5e-2)


def test_gradients_of_the_last_state_alone_and_of_the_outputs_alone():
    args = inputs(length=21, gate=False)
    y_ref, h_ref = selective_scan_reference(**args, return_last_state=True)
    y, h = selective_scan_chunked(**args, return_last_state=True, chunk=4, block_elements=2 * 4 * 24)
    leaves = [v for v in args.values() if isinstance(v, torch.Tensor) and v.requires_grad]
    for out, ref in ((h, h_ref), (y, y_ref)):                 # one output unused: no gradient flows from it
        grad = lambda v: torch.autograd.grad(v.sum(), leaves, retain_graph=True, materialize_grads=True)
        for g, g_ref in zip(grad(out), grad(ref), strict=True):
            torch.testing.assert_close(g, g_ref, rtol=6e-4, atol=2e-3)

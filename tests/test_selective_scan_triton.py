"""The Triton selective scan against the sequential reference: values, every gradient, the last state.

Without CUDA the kernels run under Triton's interpreter on CPU tensors (conftest.py turns it on before
anything imports triton); the interpreter is slow, so the sizes stay small (B <= 2, D <= 8, N <= 16, L <= 130).
"""
import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

pytest.importorskip("triton")

from backbones.kernels import selective_scan_triton as kernels  # noqa: E402
from backbones.kernels.selective_scan import selective_scan_reference  # noqa: E402
from backbones.kernels.selective_scan_triton import selective_scan_triton  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def poisoned_outputs(monkeypatch):
    """Every buffer the kernels write starts as NaN, so an element left unwritten fails the comparisons."""
    def nan_filled(*shape, like, dtype=None):
        return torch.full(shape, float("nan"), dtype=dtype or like.dtype, device=like.device)
    monkeypatch.setattr(kernels, "_output", nan_filled)

FP32 = dict(rtol=6e-4, atol=2e-3)
BF16 = dict(rtol=3e-2, atol=5e-2)


def inputs(batch=2, channels=6, state=5, length=37, dtype=torch.float32, seed=0, gate=True, skip=True, bias=True,
           softplus=True):
    generator = torch.Generator().manual_seed(seed)

    def leaf(tensor):
        return tensor.to(DEVICE).requires_grad_()

    def rand(*shape, scale=1.0):
        return leaf((torch.randn(*shape, generator=generator) * scale).to(dtype))

    A = leaf(-torch.exp(torch.randn(channels, state, generator=generator)))      # fp32 parameter, S4D-like decay
    D = leaf(torch.randn(channels, generator=generator)) if skip else None
    delta_bias = leaf(torch.randn(channels, generator=generator) * 0.3) if bias else None
    return dict(u=rand(batch, channels, length), delta=rand(batch, channels, length, scale=0.5), A=A,
                B=rand(batch, state, length), C=rand(batch, state, length), D=D,
                z=rand(batch, channels, length) if gate else None, delta_bias=delta_bias, delta_softplus=softplus)


def leaves(args):
    return {name: value for name, value in args.items() if isinstance(value, torch.Tensor)}


def weights(like, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(like.shape, generator=generator).to(DEVICE)


def outputs_and_grads(scan, args, with_last_state=True, **options):
    """Outputs, then the gradients of a loss that reaches every input (and the last state when asked).

    The loss is linear with fixed weights, so the gradient reaching y is the same for every scan: with
    y.pow(2) it would be 2 y, and one bf16 rounding step of y apart would already count as an error.
    """
    if with_last_state:
        y, last = scan(**args, return_last_state=True, **options)
        loss = (y.float() * weights(y, 1)).sum() + (last * weights(last, 2)).sum()
    else:
        y, last = scan(**args, **options), None
        loss = (y.float() * weights(y, 1)).sum()
    grads = dict(zip(leaves(args), torch.autograd.grad(loss, list(leaves(args).values()))))
    return y, last, grads


def assert_matches_reference(args, tolerance, with_last_state=True, **options):
    y, last, grads = outputs_and_grads(selective_scan_triton, args, with_last_state, **options)
    y_ref, last_ref, grads_ref = outputs_and_grads(selective_scan_reference, args, with_last_state)
    assert y.dtype == y_ref.dtype and y.shape == y_ref.shape
    torch.testing.assert_close(y.float(), y_ref.float(), **tolerance)
    if with_last_state:
        assert last.dtype == torch.float32
        torch.testing.assert_close(last, last_ref, **tolerance)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        assert grads[name].dtype == grads_ref[name].dtype, name
        torch.testing.assert_close(grads[name].float(), grads_ref[name].float(), **tolerance,
                                   msg=lambda message: f"d{name}: {message}")


@pytest.mark.parametrize("length,chunk,state,block_d", [
    (1, 8, 5, 4),          # a single step
    (37, 8, 5, 4),         # five checkpoints, the last chunk partial; N and the last channel block padded
    (37, 64, 16, None),    # one chunk longer than the sequence, default channel block
    (130, 32, 16, 4),      # five checkpoints, partial last chunk
])
def test_fp32_matches_the_reference_in_values_gradients_and_last_state(length, chunk, state, block_d):
    assert_matches_reference(inputs(length=length, state=state), FP32, chunk=chunk, block_d=block_d)


@pytest.mark.parametrize("gate,skip,bias,softplus", [
    (False, False, False, False),
    (True, False, False, True),
    (False, True, True, True),
    (False, True, False, False),
    (True, True, True, False),
])
def test_fp32_without_gate_skip_or_bias(gate, skip, bias, softplus):
    args = inputs(channels=8, length=29, gate=gate, skip=skip, bias=bias, softplus=softplus)
    assert_matches_reference(args, FP32, with_last_state=gate, chunk=8, block_d=4)


@pytest.mark.parametrize("length,chunk,state", [(37, 8, 5), (130, 32, 16)])
def test_bf16_inputs_match_the_reference_on_the_same_inputs(length, chunk, state):
    args = inputs(length=length, state=state, dtype=torch.bfloat16)
    assert_matches_reference(args, BF16, chunk=chunk, block_d=4)


def test_without_gradients_the_forward_matches_too():
    args = inputs(length=37)
    with torch.no_grad():
        y, last = selective_scan_triton(**args, return_last_state=True, chunk=8, block_d=4)
        y_ref, last_ref = selective_scan_reference(**args, return_last_state=True)
    torch.testing.assert_close(y, y_ref, **FP32)
    torch.testing.assert_close(last, last_ref, **FP32)


def test_every_output_and_gradient_is_written():
    # outputs start as NaN (poisoned_outputs): any element left unwritten stays NaN.
    # Padded state lanes (N = 5), a partial channel block (6 of 8) and a partial last chunk all occur here;
    # the fast decay (exp(-80 * delta) per step) checks nothing overflows or divides by zero either.
    args = inputs(channels=6, state=5, length=45)
    with torch.no_grad():
        args["A"][0].fill_(-80.0)
    y, last, grads = outputs_and_grads(selective_scan_triton, args, chunk=16, block_d=4)
    for name, value in {"y": y, "last_state": last, **grads}.items():
        assert torch.isfinite(value).all(), name

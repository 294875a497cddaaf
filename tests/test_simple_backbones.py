"""DLinear, PatchTST and the RevIN layer they share: shapes, the decomposition, channel independence,
equivariance, config validation, gradients, determinism, and that each can learn a sine."""
import math
from dataclasses import fields

import pytest
import torch

from backbones.batch import Batch
from backbones.dlinear import DLinear, DLinearConfig, decompose, moving_average
from backbones.patchtst import PatchTST, PatchTSTConfig
from backbones.revin import RevIN

QUANTILES = (0.1, 0.5, 0.9)
SMALL_PATCHTST = dict(patch_len=8, stride=4, d_model=16, n_heads=4, e_layers=2, d_ff=32)


def dlinear(**kwargs) -> DLinear:
    return DLinear(DLinearConfig(**kwargs))


def patchtst(**kwargs) -> PatchTST:
    return PatchTST(PatchTSTConfig(**{**SMALL_PATCHTST, **kwargs}))


def series(batch: int, length: int, channels: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, length, channels, generator=torch.Generator().manual_seed(seed))


# ---- the contract ----

@pytest.mark.parametrize("config", [DLinearConfig, PatchTSTConfig])
def test_config_starts_with_the_common_fields(config):
    assert [f.name for f in fields(config)][:4] == ["lookback", "horizon", "channels", "quantiles"]


@pytest.mark.parametrize("build", [dlinear, patchtst])
@pytest.mark.parametrize("L, H, C", [(48, 12, 1), (37, 5, 3), (21, 30, 2)])  # 37, 21: not multiples of the stride
@pytest.mark.parametrize("quantiles", [(), QUANTILES])
def test_output_shape(build, L, H, C, quantiles):
    model = build(lookback=L, horizon=H, channels=C, quantiles=quantiles).eval()
    y = model(Batch(x=series(4, L, C)))
    assert y.shape == ((4, H, C, len(quantiles)) if quantiles else (4, H, C))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("build", [dlinear, patchtst])
def test_head_layout_is_step_major_quantile_minor(build):
    # zero weights and a bias that encodes (step, quantile): output [b, h, c, q] must read 100 h + q
    model = build(lookback=24, horizon=5, channels=3, quantiles=QUANTILES, revin=False).eval()
    code = (100 * torch.arange(5.0)[:, None] + torch.arange(3.0)).flatten()  # [H * Q], Q innermost
    heads = [model.seasonal, model.trend] if build is dlinear else [model.head]
    with torch.no_grad():
        for head in heads:
            head.weight.zero_()
            head.bias.copy_(code / len(heads))
        y = model(Batch(x=series(2, 24, 3)))
    expected = (100 * torch.arange(5.0)[:, None, None] + torch.arange(3.0)).expand(2, 5, 3, 3)
    torch.testing.assert_close(y, expected)


# ---- DLinear ----

def test_trend_of_a_constant_is_the_constant_and_seasonal_is_zero():
    x = torch.full((2, 30, 3), 4.5)
    for kernel in (1, 5, 25, 30, 31):
        seasonal, trend = decompose(x, kernel)
        assert trend.shape == x.shape
        torch.testing.assert_close(trend, x)
        torch.testing.assert_close(seasonal, torch.zeros_like(x))


def test_moving_average_of_a_ramp_is_the_ramp_in_the_interior():
    ramp = (2.0 * torch.arange(40.0) - 3.0).reshape(1, 40, 1)
    trend = moving_average(ramp, 7)
    torch.testing.assert_close(trend[:, 3:-3], ramp[:, 3:-3])
    # the ends are averages over repeated edge values, so they bend towards the edge value
    assert trend[0, 0, 0] == pytest.approx((4 * -3.0 + (-1.0) + 1.0 + 3.0) / 7)


def test_even_kernel_keeps_length_and_reaches_one_step_further_ahead():
    ramp = torch.arange(20.0).reshape(1, 20, 1)
    trend = moving_average(ramp, 4)  # window t-1 .. t+2, mean t + 0.5
    assert trend.shape == ramp.shape
    torch.testing.assert_close(trend[:, 1:-2], ramp[:, 1:-2] + 0.5)


def test_seasonal_plus_trend_is_the_input():
    x = series(3, 50, 2)
    seasonal, trend = decompose(x, 25)
    torch.testing.assert_close(seasonal + trend, x)


def test_dlinear_sums_its_two_linear_maps():
    # with the same weights on both branches the decomposition cancels: y = W x + 2 b
    model = dlinear(lookback=16, horizon=4, channels=2).eval()
    with torch.no_grad():
        model.trend.weight.copy_(model.seasonal.weight)
        model.trend.bias.copy_(model.seasonal.bias)
        x = series(3, 16, 2)
        expected = (x.transpose(1, 2) @ model.seasonal.weight.T + 2 * model.seasonal.bias).transpose(1, 2)
        torch.testing.assert_close(model(Batch(x=x)), expected)


def test_dlinear_individual_has_one_map_per_channel():
    shared = dlinear(lookback=16, horizon=4, channels=3)
    individual = dlinear(lookback=16, horizon=4, channels=3, individual=True)
    assert sum(p.numel() for p in individual.parameters()) == 3 * sum(p.numel() for p in shared.parameters())


def test_dlinear_rejects_a_kernel_below_one():
    with pytest.raises(ValueError, match="moving_average"):
        DLinearConfig(lookback=10, horizon=2, moving_average=0)


# ---- channel independence ----

@pytest.mark.parametrize("build, kwargs", [
    (dlinear, {"individual": True}),
    (dlinear, {"individual": True, "revin": True}),
    (patchtst, {}),
    (patchtst, {"quantiles": QUANTILES}),
])
def test_channels_are_independent(build, kwargs):
    model = build(lookback=32, horizon=8, channels=3, **kwargs).eval()
    x = series(2, 32, 3)
    perturbed = x.clone()
    perturbed[:, :, 0] = 10 * series(2, 32, 1, seed=1)[..., 0] + 5
    with torch.no_grad():
        y, y_perturbed = model(Batch(x=x)), model(Batch(x=perturbed))
    assert not torch.allclose(y[:, :, 0], y_perturbed[:, :, 0])
    torch.testing.assert_close(y[:, :, 1:], y_perturbed[:, :, 1:], atol=1e-6, rtol=1e-6)


def test_patchtst_shares_weights_across_channels():
    # channel independent *and* channel agnostic: swapping two input channels swaps their forecasts
    model = patchtst(lookback=32, horizon=8, channels=3).eval()
    x = series(2, 32, 3)
    with torch.no_grad():
        y, y_swapped = model(Batch(x=x)), model(Batch(x=x[:, :, [1, 0, 2]]))
    torch.testing.assert_close(y_swapped, y[:, :, [1, 0, 2]], atol=1e-5, rtol=1e-5)


# ---- RevIN ----

@pytest.mark.parametrize("affine", [True, False])
def test_revin_round_trip(affine):
    revin = RevIN(3, affine=affine)
    if affine:  # away from the initial identity, so the affine part is exercised
        with torch.no_grad():
            revin.weight.copy_(torch.tensor([0.5, 2.0, 1.3]))
            revin.bias.copy_(torch.tensor([0.1, -1.0, 3.0]))
    x = 50 + 7 * series(4, 20, 3)
    z, stats = revin.normalize(x)
    expected_std = revin.weight if affine else torch.ones(3)
    torch.testing.assert_close(z.std(dim=1, unbiased=False), expected_std.expand(4, 3).detach(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(revin.denormalize(z, stats), x, atol=1e-4, rtol=1e-5)
    # quantiles [B, H, C, Q]: every quantile is de-standardised with its channel's statistics
    z4 = torch.stack([z, z - 1, z + 1], dim=-1)
    y4 = revin.denormalize(z4, stats)
    assert y4.shape == (4, 20, 3, 3)
    torch.testing.assert_close(y4[..., 0], x, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(y4[..., 2] - y4[..., 1], 2 * stats[1].expand(4, 20, 3) / expected_std.detach(),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("quantiles", [(), QUANTILES])
def test_patchtst_with_revin_is_scale_and_shift_equivariant(quantiles):
    model = patchtst(lookback=40, horizon=10, channels=2, quantiles=quantiles).eval()
    x = series(3, 40, 2)
    a, b = 3.5, -20.0
    with torch.no_grad():
        y, y_moved = model(Batch(x=x)), model(Batch(x=a * x + b))
    torch.testing.assert_close(y_moved, a * y + b, atol=1e-3, rtol=1e-4)


def test_dlinear_with_revin_is_scale_and_shift_equivariant():
    model = dlinear(lookback=40, horizon=10, channels=2, revin=True).eval()
    x = series(3, 40, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(Batch(x=0.25 * x + 9)), 0.25 * model(Batch(x=x)) + 9, atol=1e-4, rtol=1e-4)


# ---- PatchTST configuration ----

def test_patch_count_matches_the_paper():
    assert PatchTSTConfig(lookback=336, horizon=96).n_patches == 42  # the paper's L=336, P=16, S=8
    assert PatchTSTConfig(lookback=37, horizon=5, patch_len=8, stride=4).n_patches == 9
    assert PatchTSTConfig(lookback=4, horizon=5, patch_len=8, stride=4).n_patches == 1  # patch_len == L + S


def test_patchtst_defaults():
    config = PatchTSTConfig(lookback=336, horizon=96)
    assert (config.patch_len, config.stride, config.d_model, config.n_heads, config.e_layers, config.d_ff) == (16, 8, 128, 16, 3, 256)
    assert (config.dropout, config.head_dropout, config.revin) == (0.2, 0.0, True)


@pytest.mark.parametrize("kwargs, message", [
    ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
    ({"patch_len": 13, "stride": 4}, "at most lookback"),
    ({"stride": 0}, "at least 1"),
])
def test_patchtst_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PatchTSTConfig(lookback=8, horizon=4, **{**SMALL_PATCHTST, **kwargs})


def test_patches_cover_the_end_padded_with_the_last_value():
    model = patchtst(lookback=10, horizon=4, patch_len=4, stride=3, revin=False).eval()
    seen = []
    model.embed.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.arange(1.0, 11.0).reshape(1, 10, 1)
    model(Batch(x=x))
    padded = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10]
    expected = torch.tensor([padded[start:start + 4] for start in (0, 3, 6, 9)]).float()
    torch.testing.assert_close(seen[0], expected.unsqueeze(0))  # [B*C, N, P]


def test_encoder_layer_adds_its_branches_to_the_residual_stream():
    # with both branches silenced, a layer at init in eval mode only applies BatchNorm's running
    # statistics (mean 0, variance 1): the tokens pass through
    layer = patchtst(lookback=16, horizon=4).layers[0].eval()
    with torch.no_grad():
        for linear in (layer.attn.out_proj, layer.ff[-1]):
            linear.weight.zero_()
            linear.bias.zero_()
        h = torch.randn(3, 5, 16)
        torch.testing.assert_close(layer(h), h / (1 + layer.norm_attn.eps), atol=1e-5, rtol=1e-5)


def test_patch_len_equal_to_lookback_plus_stride_is_accepted():
    model = patchtst(lookback=8, horizon=4, patch_len=12, stride=4).eval()
    assert model(Batch(x=series(2, 8, 1))).shape == (2, 4, 1)


# ---- training machinery ----

@pytest.mark.parametrize("build, kwargs", [
    (dlinear, {}), (dlinear, {"individual": True, "revin": True}),
    (patchtst, {}), (patchtst, {"revin": False, "head_dropout": 0.1}),
])
def test_gradients_reach_every_parameter(build, kwargs):
    torch.manual_seed(0)
    model = build(lookback=24, horizon=6, channels=2, quantiles=QUANTILES, **kwargs).train()
    model(Batch(x=series(4, 24, 2))).square().mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("build", [dlinear, patchtst])
def test_seeded_init_and_forward_are_deterministic(build):
    def run():
        torch.manual_seed(123)
        model = build(lookback=24, horizon=6, channels=2)
        torch.manual_seed(7)  # dropout masks in train mode
        return model.state_dict(), model.train()(Batch(x=series(3, 24, 2))), model.eval()(Batch(x=series(3, 24, 2)))

    state_a, train_a, eval_a = run()
    state_b, train_b, eval_b = run()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        torch.testing.assert_close(state_a[key], state_b[key], atol=0, rtol=0)
    torch.testing.assert_close(train_a, train_b, atol=0, rtol=0)
    torch.testing.assert_close(eval_a, eval_b, atol=0, rtol=0)




def sine_windows(lookback: int, horizon: int, phases: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Noiseless sines of period 12 starting at evenly spaced phases: x [P, L, 1], y [P, H, 1]."""
    t = torch.arange(lookback + horizon, dtype=torch.float32)
    phase = torch.linspace(0, 2 * math.pi, phases + 1)[:-1, None]
    wave = torch.sin(2 * math.pi * t / 12 + phase).unsqueeze(-1)
    return wave[:, :lookback], wave[:, lookback:]


@pytest.mark.parametrize("build, kwargs, lr", [
    (dlinear, {"moving_average": 7}, 1e-2),
    (dlinear, {"moving_average": 7, "individual": True, "revin": True}, 1e-2),
    (patchtst, {}, 3e-3),  # dropout 0.2 on: the eval-mode loss still has to fall
])
def test_learns_a_sine(build, kwargs, lr, one_thread):
    torch.manual_seed(0)
    x, y = sine_windows(lookback=36, horizon=12)
    model = build(lookback=36, horizon=12, **kwargs)
    batch = Batch(x=x)

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            return torch.nn.functional.mse_loss(model(batch), y).item()

    initial = loss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(150):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(batch), y).backward()
        optimizer.step()
    assert loss() < 0.2 * initial

"""The Mamba backbone: block semantics, shapes, initialisation, training, and use through the Forecaster."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import forecasting as fc
from backbones.batch import Batch
from backbones.mamba import Mamba, MambaBlock, MambaConfig

pytestmark = pytest.mark.usefixtures("one_thread")
SMALL = dict(d_model=16, d_state=4, n_layers=2, dropout=0.0)


@pytest.mark.parametrize("tokens", ["variate", "patch"])
@pytest.mark.parametrize("quantiles", [(), (0.1, 0.5, 0.9)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_shapes(tokens, quantiles, bidirectional):
    config = MambaConfig(lookback=37, horizon=5, channels=3, quantiles=quantiles, tokens=tokens,
                         bidirectional=bidirectional, **SMALL)
    out = Mamba(config)(Batch(x=torch.randn(2, 37, 3)))
    assert out.shape == (2, 5, 3) + ((3,) if quantiles else ())
    assert torch.isfinite(out).all()


def test_block_is_causal_along_its_tokens():
    torch.manual_seed(0)
    block = MambaBlock(d_model=8, d_state=4, d_conv=4, expand=2, dt_rank=2)
    x = torch.randn(1, 12, 8)
    changed = x.clone()
    changed[:, 7:] += 5.0
    y, y_changed = block(x), block(changed)
    torch.testing.assert_close(y[:, :7], y_changed[:, :7])
    assert not torch.allclose(y[:, 7:], y_changed[:, 7:])


def test_bidirectional_layers_see_later_tokens():
    torch.manual_seed(0)
    config = MambaConfig(lookback=32, horizon=4, tokens="patch", bidirectional=True, revin=False, **SMALL)
    layer = Mamba(config).layers[0]
    x = torch.randn(1, 6, 16)
    changed = x.clone()
    changed[:, 5:] += 5.0
    assert not torch.allclose(layer(x)[:, :5], layer(changed)[:, :5])


def test_initialisation_follows_the_paper():
    torch.manual_seed(0)
    block = MambaBlock(d_model=32, d_state=8, d_conv=4, expand=2, dt_rank=2)
    dt = F.softplus(block.dt_proj.bias)
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 1e-1 * 1.001
    torch.testing.assert_close(-torch.exp(block.A_log[0]), -torch.arange(1.0, 9.0))  # S4D-real
    assert torch.equal(block.D, torch.ones(64))


def test_config_validation_and_patch_count():
    assert MambaConfig(lookback=96, horizon=24, tokens="patch").n_patches == 12
    with pytest.raises(ValueError, match="tokens must be one of"):
        MambaConfig(lookback=96, horizon=24, tokens="time")
    with pytest.raises(ValueError, match="patch_len"):
        MambaConfig(lookback=4, horizon=2, tokens="patch", patch_len=16, stride=8)


@pytest.mark.parametrize("tokens", ["variate", "patch"])
def test_gradients_reach_every_parameter(tokens):
    model = Mamba(MambaConfig(lookback=24, horizon=6, channels=2, tokens=tokens, bidirectional=True, **SMALL))
    model(Batch(x=torch.randn(3, 24, 2))).pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []


def test_runs_under_bf16_autocast():
    torch.manual_seed(0)
    model = Mamba(MambaConfig(lookback=24, horizon=6, channels=2, **SMALL)).eval()
    batch = Batch(x=torch.randn(3, 24, 2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert out.shape == (3, 6, 2) and torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), model(batch), rtol=3e-2, atol=5e-2)  # the fp32 result, to bf16 precision


def test_learns_a_sine():
    torch.manual_seed(0)
    t = torch.arange(200.0)
    phases = torch.linspace(0, 2 * math.pi, 32)
    series = torch.sin(t[None, :] / 4 + phases[:, None])                          # [32, 200]
    x, y = series[:, :48, None], series[:, 48:60, None]
    model = Mamba(MambaConfig(lookback=48, horizon=12, tokens="patch", patch_len=8, stride=4, **SMALL))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss = torch.mean((model(Batch(x=x)) - y) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.2 * losses[0]


def test_mamba_through_the_forecaster_saves_and_reloads(tmp_path):
    ds = pd.date_range("2024-01-01", periods=400, freq="h")
    frame = pd.concat([pd.DataFrame({"unique_id": name, "ds": ds,
                                     "y": level + np.sin(2 * np.pi * np.arange(400) / 24 + shift)})
                       for name, level, shift in (("a", 10, 0.0), ("b", 50, 1.0))])
    model = fc.model("mamba", epochs=2, steps_per_epoch=10, network={"d_model": 16, "d_state": 4})
    forecaster = fc.Forecaster([model, "seasonal_naive"], h=24, level=[80]).fit(frame)
    out = forecaster.predict()
    assert forecaster.states[0][0].config["tokens"] == "patch"
    assert {"mamba", "mamba-lo-80", "mamba-hi-80"} <= set(out.columns) and np.isfinite(out["mamba"]).all()
    forecaster.save(tmp_path / "m")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "m").predict(), out)

"""HyperMamba: per-series scan parameters from a hypernetwork over window statistics and series embeddings."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

import forecasting as fc
from backbones import Batch, HyperMamba, HyperMambaConfig, Mamba, MambaConfig
from backbones.hypermamba import AUTOCORRELATION_LAGS, N_STATISTICS, window_statistics
from forecasting.models import History

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = dict(lookback=48, horizon=12, channels=2, patch_len=8, stride=4, d_model=16, d_state=4, n_layers=2,
             dropout=0.0)


def hyper(**overrides) -> HyperMamba:
    torch.manual_seed(0)
    network = HyperMamba(HyperMambaConfig(**{**SMALL, "n_series": 3, "series_dropout": 0.0, **overrides})).eval()
    with torch.no_grad():                                   # heads start at zero: make the modulations real
        for head in network.hyper.heads:
            head.weight.normal_(0, 0.3)
            head.bias.normal_(0, 0.3)
    return network


def batch(size=4, series=(1, 2, 3, 0)) -> Batch:
    generator = torch.Generator().manual_seed(1)
    return Batch(x=torch.randn(size, 48, 2, generator=generator).cumsum(1), series=torch.tensor(series[:size]))


def plain_copy(network: HyperMamba) -> Mamba:
    """A Mamba holding the HyperMamba's own Mamba weights."""
    fields = {k: v for k, v in vars(network.config).items() if k in MambaConfig.__dataclass_fields__}
    mamba = Mamba(MambaConfig(**fields)).eval()
    missing, unexpected = mamba.load_state_dict(network.state_dict(), strict=False)
    assert not missing and all(k.startswith(("hyper.", "series_embedding.")) or "modulation_down" in k for k in unexpected)
    return mamba


def test_a_fresh_hypermamba_computes_what_its_mamba_computes():
    torch.manual_seed(0)
    network = HyperMamba(HyperMambaConfig(**SMALL, n_series=3)).eval()
    torch.testing.assert_close(network(batch()), plain_copy(network)(batch()))


def test_a_constant_conditioning_is_a_mamba_with_folded_parameters(monkeypatch):
    network = hyper()
    data = batch()
    constant = torch.randn(1, network.hyper.trunk[0].in_features)
    monkeypatch.setattr(network, "conditioning", lambda b: constant.expand(b.x.shape[0] * b.x.shape[2], -1))
    modulations = network.hyper(constant)
    mamba = plain_copy(network)
    with torch.no_grad():
        for layer, hyper_layer, modulation in zip(mamba.layers, network.layers, modulations):
            block, hyper_block = layer.forward_block, hyper_layer.forward_block
            block.dt_proj.bias += modulation.delta_bias[0]
            block.D += modulation.D[0]
            r, n, dt_rank = network.config.hyper_rank, network.config.d_state, block.dt_rank
            down_B, down_C = hyper_block.modulation_down.weight.split(r)                # [r, d_inner] each
            block.x_proj.weight[dt_rank:dt_rank + n] += modulation.B_up[0] @ down_B
            block.x_proj.weight[dt_rank + n:] += modulation.C_up[0] @ down_C
    torch.testing.assert_close(network(data), mamba(data), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(network(data), plain_copy(network)(data), atol=1e-3)   # the modulation mattered


def test_series_identity_changes_the_forecast_and_unseen_series_use_row_zero():
    network = hyper()
    x = batch().x[:1].expand(4, -1, -1)                     # one window, read as four different series
    out = network(Batch(x=x, series=torch.tensor([0, 1, 2, 3])))
    assert out.shape == (4, 12, 2)
    assert all(not torch.allclose(out[i], out[j]) for i in range(4) for j in range(i))
    torch.testing.assert_close(network(Batch(x=x)), network(Batch(x=x, series=torch.zeros(4, dtype=torch.long))))


def test_series_dropout_reads_every_series_as_unseen_in_training_only():
    network = hyper(series_dropout=1.0)
    data = batch()
    unseen = Batch(x=data.x, series=torch.zeros(4, dtype=torch.long))
    network.train()
    torch.testing.assert_close(network(data), network(unseen))
    network.eval()
    assert not torch.allclose(network(data), network(unseen))


def test_external_embedding_is_required_when_configured_and_receives_gradients():
    network = hyper(external_dim=3)
    data = batch()
    with pytest.raises(ValueError, match=r"external series embedding of width 3: pass Batch.series_embedding \[B, 3\]"):
        network(data)
    data.series_embedding = torch.randn(4, 3, requires_grad=True)
    network(data).sum().backward()
    assert data.series_embedding.grad.abs().sum() > 0


def test_gradients_reach_every_parameter():
    network = hyper().train()
    network(batch()).pow(2).mean().backward()
    silent = [name for name, p in network.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert silent == [], silent


def test_window_statistics_describe_level_spread_trend_and_period():
    t = torch.arange(96, dtype=torch.float32)
    sine = 5 + 2 * torch.sin(2 * math.pi * t / 12)
    ramp = 3 * t
    stats = window_statistics(torch.stack([sine, ramp], -1)[None])          # [1, 2, F]
    assert stats.shape == (1, 2, N_STATISTICS)
    lag = {k: 4 + i for i, k in enumerate(AUTOCORRELATION_LAGS)}
    assert stats[0, 0, 0] == pytest.approx(math.log1p(5), abs=0.05)          # signed-log level
    assert stats[0, 0, 1] == pytest.approx(math.log(2 / math.sqrt(2)), abs=0.05)  # log spread of a sine
    assert stats[0, 0, lag[12]] > 0.8 and stats[0, 0, lag[6]] < -0.8      # in phase a period apart, opposed half
    assert stats[0, 0, lag[48]] == 0 and stats[0, 0, lag[168]] == 0       # too long to estimate from 96 steps
    assert stats[0, 1, 2] == pytest.approx(math.sqrt(3), abs=0.05)        # a ramp: sqrt(3) spreads per half-window
    assert abs(stats[0, 0, 2]) < 0.3                                       # the sine barely trends


def test_through_the_forecaster_seen_and_unseen_series_and_reload(tmp_path):
    ds = pd.date_range("2024-01-01", periods=300, freq="h")
    frame = pd.concat([pd.DataFrame({"unique_id": name, "ds": ds,
                                     "y": np.sin(2 * np.pi * np.arange(300) / period) + 0.01 * np.arange(300)})
                       for name, period in (("a", 12), ("b", 24), ("c", 8))])
    model = fc.model("hypermamba", epochs=2, steps_per_epoch=10, network={"d_model": 16, "d_state": 4})
    forecaster = fc.Forecaster([model], h=12, level=[80]).fit(frame)
    state = forecaster.states[0][0]
    assert state.config["n_series"] == 3 and state.series == ["a", "b", "c"]
    assert state.config["external_dim"] == N_STATISTICS               # history statistics
    out = forecaster.predict()
    assert np.isfinite(out[["hypermamba", "hypermamba-lo-80", "hypermamba-hi-80"]].to_numpy()).all()
    forecaster.save(tmp_path / "h")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "h").predict(), out)
    # the same values under an unknown name: that series is forecast from its statistics alone
    fitted, values = forecaster.models[0], [frame[frame["unique_id"] == name]["y"].to_numpy() for name in "abc"]
    known = fitted.forecast_panel(History(["a", "b", "c"], values, [ds[-1]] * 3), "h", 12, [], state)
    renamed = fitted.forecast_panel(History(["a", "b", "new"], values, [ds[-1]] * 3), "h", 12, [], state)
    for seen, same in zip(known[:2], renamed[:2]):
        np.testing.assert_array_equal(seen.mean, same.mean)
    assert np.isfinite(renamed[2].mean).all() and not np.allclose(known[2].mean, renamed[2].mean)
    # and it reads the series' history beyond the window: same window, other past, other forecast
    lookback = state.lookback
    other_past = values[2].copy()
    other_past[:-lookback] = np.random.default_rng(0).normal(size=len(other_past) - lookback)
    changed = fitted.forecast_panel(History(["a", "b", "new"], [values[0], values[1], other_past], [ds[-1]] * 3),
                                    "h", 12, [], state)
    assert not np.allclose(changed[2].mean, renamed[2].mean)


def test_runs_under_bf16_autocast():
    network, data = hyper(), batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = network(data)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    torch.testing.assert_close(out, network(data), rtol=5e-2, atol=1e-1)   # the fp32 result, to bf16 precision

"""One registration per network: a network declared in this file runs through the whole product."""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import forecasting as fc
from backbones.batch import Batch
from backbones.network import DataShape, Network
from backbones.output import from_channel_rows, output_width
from forecasting.api.cli import main
from forecasting.models import REGISTRY, NeuralModel

pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass
class LastValueLinearConfig:
    lookback: int
    horizon: int
    channels: int = 1
    quantiles: tuple[float, ...] = ()
    width: int = 8


class LastValueLinear(nn.Module):
    """The window minus its last value, through a small MLP, plus the last value back."""

    def __init__(self, config: LastValueLinearConfig):
        super().__init__()
        self.config = config
        self.mlp = nn.Sequential(nn.Linear(config.lookback, config.width), nn.ReLU(),
                                 nn.Linear(config.width, config.horizon * output_width(config.quantiles)))

    def forward(self, batch: Batch) -> torch.Tensor:
        last = batch.x[:, -1:, :]                                                # [B, 1, C]
        y = self.mlp((batch.x - last).transpose(1, 2))                           # [B, C, H * Q]
        y = from_channel_rows(y, self.config.horizon, self.config.quantiles)     # [B, H, C(, Q)]
        return y + (last[..., None] if self.config.quantiles else last)


def _defaults(data: DataShape) -> dict:
    return {"width": 4 + data.n_series}          # a product default computed from the data


TEST_NETWORK = Network(name="last_value_mlp", summary="A test network declared outside the package",
                       config=LastValueLinearConfig, module=LastValueLinear, defaults=_defaults)
POINT_NETWORK = Network(name="last_value_point", summary="The same, point forecasts only",
                        config=LastValueLinearConfig, module=LastValueLinear, quantiles=False)


@pytest.fixture
def registered():
    fc.register(TEST_NETWORK)
    fc.register(POINT_NETWORK)
    yield
    REGISTRY.pop(TEST_NETWORK.name)
    REGISTRY.pop(POINT_NETWORK.name)


def test_a_network_registered_from_outside_runs_through_forecaster_save_load_and_backtest(registered, two_series,
                                                                                           tmp_path):
    model = fc.model("last_value_mlp", epochs=2, steps_per_epoch=5)
    assert isinstance(model, NeuralModel) and fc.description("last_value_mlp") == TEST_NETWORK.summary
    forecaster = fc.Forecaster([model, "seasonal_naive"], h=6, level=[80]).fit(two_series)
    fit = forecaster.states[0][0]
    assert fit.config["width"] == 6                                   # 4 + two series
    assert fit.config["quantiles"] == [0.1, 0.5, 0.9]
    out = forecaster.predict()
    assert {"last_value_mlp", "last_value_mlp-lo-80", "last_value_mlp-hi-80"} <= set(out.columns)
    assert (out["last_value_mlp-lo-80"] <= out["last_value_mlp-hi-80"]).all()
    forecaster.save(tmp_path / "saved")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "saved").predict(), out)
    backtest = fc.run_backtest(two_series, [model], h=6, n_windows=2, level=[80])
    assert set(backtest.ranking["model"]) == {"last_value_mlp", "seasonal_naive"}
    assert backtest.forecasts["last_value_mlp"].notna().all()


def test_a_point_network_gets_conformal_intervals_and_refuses_the_quantile_loss(registered, two_series):
    forecaster = fc.Forecaster([fc.model("last_value_point", epochs=1, steps_per_epoch=5)], h=6, level=[80])
    out = forecaster.fit(two_series).predict()
    fit = forecaster.states[0][0]
    assert fit.config["quantiles"] == [] and fit.calibration_levels == [80] and fit.calibration_scores is not None
    assert (out["last_value_point-hi-80"] > out["last_value_point-lo-80"]).all()
    with pytest.raises(ValueError, match="gives point forecasts only: use loss='mse'"):
        fc.model("last_value_point", loss="quantile")


def test_a_registered_network_is_a_command_line_model(registered, tmp_path, capsys):
    data = tmp_path / "two.csv"
    from tests.conftest import hourly_series
    hourly_series().to_csv(data, index=False)
    out = tmp_path / "forecast.csv"
    code = main(["forecast", str(data), "--h", "6", "--model", "last_value_mlp", "--set", "last_value_mlp.epochs=1",
                 "--set", "last_value_mlp.network.width=3", "--out", str(out), "--save", str(tmp_path / "m")])
    assert code == 0, capsys.readouterr().err
    assert len(pd.read_csv(out)) == 12
    assert fc.Forecaster.load(tmp_path / "m").states[0][0].config["width"] == 3
    assert main(["models"]) == 0 and "last_value_mlp" in capsys.readouterr().out


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="a model named 'dlinear' is registered already"):
        fc.register(Network(name="dlinear", summary="", config=LastValueLinearConfig, module=LastValueLinear))


def test_every_network_forecasts_the_same_twice_in_eval_mode_whatever_the_global_rng(tiny_language_models):
    """Inference is deterministic for every network: dropout is off, and Informer's ProbSparse key
    sample does not come from the global RNG."""
    batch_size, lookback, horizon = 3, 48, 12
    x = torch.randn(batch_size, lookback, 1)
    time = torch.randn(batch_size, lookback + horizon, 4)
    for name, entry in REGISTRY.items():
        if not isinstance(entry, Network):
            continue
        data = DataShape(lookback=lookback, horizon=horizon, channels=1, n_series=3, calendar_features=4,
                         description="Three test series.")
        settings = {"lookback": lookback, "horizon": horizon, "quantiles": (), **entry.defaults(data)}
        if entry.name.startswith("timellm"):
            settings.update(language_model=tiny_language_models["gpt2"], llm_layers=1, n_prototypes=8, d_ff=16)
        network = entry.build(settings).eval()
        batch = Batch(x=x, x_time=time[:, :lookback], y_time=time[:, lookback - settings.get("label_len", 0):],
                      series=torch.tensor([1, 2, 0]), series_embedding=torch.randn(batch_size, settings.get("external_dim", 0)))
        with torch.no_grad():
            torch.manual_seed(1)
            first = network(batch)
            torch.manual_seed(2)
            second = network(batch)
        torch.testing.assert_close(second, first, rtol=0, atol=0, msg=f"{name} differs between two eval passes")


def test_a_fitted_network_stays_in_memory_from_fit_to_predict_and_across_backtest_windows(two_series, monkeypatch):
    builds = []
    original = Network.build
    monkeypatch.setattr(Network, "build", lambda self, settings: builds.append(self.name) or original(self, settings))
    forecaster = fc.Forecaster([fc.model("dlinear", epochs=1, steps_per_epoch=3)], h=6, level=[80]).fit(two_series)
    first = forecaster.predict()
    pd.testing.assert_frame_equal(forecaster.predict(), first)
    assert builds == ["dlinear"] * 2                  # the early-stopped network and the final one
    forecaster.cross_validation(two_series, n_windows=3, refit=False)
    assert builds == ["dlinear"] * 4                  # one fit for the three windows, none per prediction


def test_a_loaded_informer_reproduces_its_forecasts(tmp_path):
    frame = fc.datasets.load("etth1").frame
    frame = frame[frame["unique_id"] == "OT"].tail(600)
    model = fc.model("informer", epochs=1, steps_per_epoch=3,
                     network={"d_model": 16, "n_heads": 2, "d_ff": 32, "e_layers": 2, "d_layers": 1})
    forecaster = fc.Forecaster([model], h=24, level=[80]).fit(frame)
    out = forecaster.predict()
    torch.manual_seed(123)                           # another global RNG state changes nothing at inference
    pd.testing.assert_frame_equal(forecaster.predict(), out)
    forecaster.save(tmp_path / "informer")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "informer").predict(), out)
    assert np.isfinite(out["informer"]).all()

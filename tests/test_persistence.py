"""Save and load: JSON + safetensors, identical forecasts, clear errors for bad files."""
import json

import pandas as pd
import pytest

from forecasting import Forecaster, ModelFileError
from tests.conftest import hourly_series


@pytest.fixture(scope="module")
def fitted():
    return Forecaster(["ets", "arima", "theta", "seasonal_naive"], h=24, level=[80, 95]).fit(hourly_series())


def test_round_trip_gives_identical_forecasts(fitted, tmp_path):
    before = fitted.predict()
    fitted.save(tmp_path / "model")
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == ["config.json", "model.safetensors"]
    after = Forecaster.load(tmp_path / "model").predict()
    pd.testing.assert_frame_equal(before, after, check_exact=True)


def test_loading_never_unpickles(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["format"] == "almanac.forecaster" and config["models"][0]["name"] == "ets"
    assert (tmp_path / "model" / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors JSON header


def test_tampered_weights_are_refused(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256 differs"):
        Forecaster.load(tmp_path / "model")


def test_other_format_version_is_refused(fitted, tmp_path):
    fitted.save(tmp_path / "model")
    path = tmp_path / "model" / "config.json"
    config = json.loads(path.read_text())
    config["format_version"] = 99
    path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="format version 99.*Refit and save"):
        Forecaster.load(tmp_path / "model")


def test_missing_directory_and_garbage_config(tmp_path):
    with pytest.raises(ModelFileError, match="config.json is missing"):
        Forecaster.load(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        Forecaster.load(tmp_path / "bad")

"""Forecasts of data that is never negative stay at or above zero: detected, stated, overridable."""
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import forecasting as fc
from forecasting.api.cli import main
from forecasting.evaluation.report import _settings as report_settings
from tests.test_app import MAIN, TIMEOUT, long_csv, upload


def daily_counts(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Sparse counts (many zeros): symmetric intervals around their forecasts reach below zero."""
    counts = np.random.default_rng(seed).poisson(0.8, n).astype(float)
    return pd.DataFrame({"unique_id": "shop", "ds": pd.date_range("2024-01-01", periods=n, freq="D"), "y": counts})


def bounds(out: pd.DataFrame) -> np.ndarray:
    return out.drop(columns=["unique_id", "ds"]).to_numpy()


def test_counts_are_kept_at_or_above_zero_unless_the_user_says_otherwise():
    counts = daily_counts()
    free = fc.Forecaster(["naive", "drift"], h=14, level=[95], nonnegative=False).fit(counts)
    assert (bounds(free.predict()) < 0).any()                 # what the clip prevents
    kept = fc.Forecaster(["naive", "drift"], h=14, level=[95]).fit(counts)
    assert kept.nonnegative_ is True
    out = kept.predict()
    assert (bounds(out) >= 0).all()
    free_out = free.predict()
    np.testing.assert_array_equal(bounds(out), np.maximum(bounds(free_out), 0))   # clipped, nothing else changed


def test_data_with_negative_values_is_left_free_and_on_forces_the_clip():
    values = daily_counts().assign(y=lambda frame: frame["y"] - 1.0)
    auto = fc.Forecaster(["naive"], h=7, level=[80]).fit(values)
    assert auto.nonnegative_ is False and (bounds(auto.predict()) < 0).any()
    forced = fc.Forecaster(["naive"], h=7, level=[80], nonnegative=True).fit(values)
    assert forced.nonnegative_ is True and (bounds(forced.predict()) >= 0).all()


def test_a_backtest_decides_from_what_its_first_window_could_see():
    counts = daily_counts()
    counts.loc[counts.index[-3:], "y"] = -5.0                  # negative only after the first cutoff
    backtest = fc.run_backtest(counts, ["naive"], h=7, n_windows=2, level=[80], n_jobs=1)
    assert backtest.settings["nonnegative"] is True
    assert ("forecasts kept at or above zero", "yes") in report_settings(backtest.settings)
    assert (backtest.forecasts["naive-lo-80"] >= 0).all()


def test_the_decision_is_saved_with_the_model(tmp_path):
    forecaster = fc.Forecaster(["naive"], h=7, level=[95]).fit(daily_counts())
    forecaster.save(tmp_path / "m")
    loaded = fc.Forecaster.load(tmp_path / "m")
    assert loaded.nonnegative_ is True
    pd.testing.assert_frame_equal(loaded.predict(), forecaster.predict())


def test_the_command_line_says_so_and_takes_off(tmp_path, capsys):
    path = tmp_path / "counts.csv"
    daily_counts().drop(columns="unique_id").to_csv(path, index=False)
    out = tmp_path / "f.csv"
    assert main(["forecast", str(path), "--h", "7", "--model", "naive", "--level", "95", "--out", str(out)]) == 0
    assert "forecasts kept at or above zero: no value in the data is negative" in capsys.readouterr().err
    assert (pd.read_csv(out)["naive-lo-95"] >= 0).all()
    assert main(["forecast", str(path), "--h", "7", "--model", "naive", "--level", "95", "--out", str(out),
                 "--nonnegative", "off"]) == 0
    assert (pd.read_csv(out)["naive-lo-95"] < 0).any()


@pytest.mark.parametrize("data, detected", [(long_csv(["a"]), True), (long_csv(["a"]).replace(b",100", b",-100"), False)])
def test_the_app_states_what_it_detected_and_lets_the_user_switch(data, detected):
    at = upload(AppTest.from_file(MAIN, default_timeout=TIMEOUT).run(), "sales.csv", data)
    toggle = next(widget for widget in at.toggle if widget.label == "Keep forecasts at or above zero")
    assert toggle.value is detected
    assert ("No value in this data is negative" in toggle.help) is detected

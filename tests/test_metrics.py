"""Metrics against hand-computed values and against the official M4 scores."""
import numpy as np
import pandas as pd
import pytest

from forecasting.evaluation.metrics import coverage_gaps, evaluate, nominal_coverage, summarize, weighted_quantile_loss
from tests.conftest import SHARED_DATA


def _frames():
    ds = pd.date_range("2024-01-01", periods=6, freq="D")
    train = pd.DataFrame({"unique_id": "s", "ds": ds[:4], "y": [1.0, 3, 2, 4]})
    forecasts = pd.DataFrame({"unique_id": "s", "ds": ds[4:], "y": [5.0, 6], "m": [4.0, 8],
                              "m-lo-80": [3.0, 7], "m-hi-80": [6.0, 9]})
    return train, forecasts


def test_point_metrics_by_hand():
    train, forecasts = _frames()
    table = evaluate(forecasts, train, season_length=1).set_index("metric")["m"]
    assert table["mae"] == pytest.approx(1.5)
    assert table["mse"] == pytest.approx(2.5)
    assert table["rmse"] == pytest.approx(np.sqrt(2.5))
    assert table["mape"] == pytest.approx(100 * (1 / 5 + 2 / 6) / 2)
    assert table["smape"] == pytest.approx(100 * (1 / 9 + 2 / 14))  # 200 * mean(|e| / (|y| + |f|))
    assert table["mase"] == pytest.approx(1.5 / ((2 + 1 + 2) / 3))
    assert table["coverage-80"] == pytest.approx(0.5)


def test_weighted_quantile_loss_by_hand():
    _, forecasts = _frames()
    y = np.array([5.0, 6])
    pinball = lambda q, f: 2 * np.sum(np.abs((f - y) * ((y <= f) - q)))
    expected = np.mean([pinball(0.1, np.array([3.0, 7])), pinball(0.5, np.array([4.0, 8])),
                        pinball(0.9, np.array([6.0, 9]))]) / 11
    assert weighted_quantile_loss(forecasts, "m") == pytest.approx(expected)


@pytest.mark.skipif(not (SHARED_DATA / "M4-Hourly-train.csv").exists(), reason="needs ../shared/data")
def test_seasonal_naive_reproduces_the_official_m4_hourly_row():
    from forecasting.models import Naive, SeasonalNaive

    train_wide = pd.read_csv(SHARED_DATA / "M4-Hourly-train.csv", index_col=0)
    test_wide = pd.read_csv(SHARED_DATA / "M4-Hourly-test.csv", index_col=0)
    trains, tests = [], []
    for series_id in train_wide.index:
        y = train_wide.loc[series_id].dropna().to_numpy(dtype=float)
        ds = pd.date_range("2000-01-01", periods=len(y) + 48, freq="h")
        trains.append(pd.DataFrame({"unique_id": series_id, "ds": ds[:-48], "y": y}))
        tests.append(pd.DataFrame({"unique_id": series_id, "ds": ds[-48:], "y": test_wide.loc[series_id].to_numpy(dtype=float),
                                   "seasonal_naive": SeasonalNaive().point_forecast(y, 24, 48),
                                   "naive": Naive().point_forecast(y, 24, 48)}))
    summary = summarize(pd.concat(tests), pd.concat(trains), season_length=24)
    official = {"seasonal_naive": (13.912, 1.193, 0.627454), "naive": (43.003, 11.608, 3.593022)}
    for model, (smape, mase, owa) in official.items():
        assert summary.loc["smape", model] == pytest.approx(smape, rel=1e-3)
        assert summary.loc["mase", model] == pytest.approx(mase, rel=1e-3)
        assert summary.loc["owa", model] == pytest.approx(owa, rel=1e-3)


def test_evaluation_needs_actuals():
    train, forecasts = _frames()
    with pytest.raises(ValueError, match="'y'"):
        evaluate(forecasts.drop(columns="y"), train)


def test_coverage_gaps_name_the_intervals_off_their_nominal_level():
    summary = pd.DataFrame({"ets": [0.9, 0.75, 0.80], "dlinear": [0.9, 0.52, 0.97], "theta": [0.9, 0.91, 0.99],
                            "naive2": [0.9, np.nan, np.nan]}, index=["mase", "coverage-80", "coverage-95"])
    assert nominal_coverage("coverage-80") == 0.8 and nominal_coverage("mase") is None
    # 0.75 is on the bound (in); a model without intervals (NaN) is never off
    assert coverage_gaps(summary) == ["ets: coverage-95 0.80 (nominal 0.95), too narrow",
                                      "dlinear: coverage-80 0.52 (nominal 0.80), too narrow",
                                      "theta: coverage-80 0.91 (nominal 0.80), too wide"]

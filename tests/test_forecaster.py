"""The Forecaster contract: output columns, frequencies, cross-validation without leakage."""
import numpy as np
import pandas as pd
import pytest

from forecasting import ETS, DataError, Forecaster


def test_predict_columns_dates_and_order(two_series):
    forecasts = Forecaster(["seasonal_naive", "ets"], h=24, level=[95, 80]).fit(two_series).predict()
    assert list(forecasts.columns) == [
        "unique_id", "ds",
        "seasonal_naive", "seasonal_naive-lo-95", "seasonal_naive-lo-80", "seasonal_naive-hi-80", "seasonal_naive-hi-95",
        "ets", "ets-lo-95", "ets-lo-80", "ets-hi-80", "ets-hi-95",
    ]
    assert forecasts.groupby("unique_id").size().to_dict() == {"a": 24, "b": 24}
    first = forecasts[forecasts["unique_id"] == "a"]["ds"]
    assert first.iloc[0] == pd.Timestamp("2024-01-11 00:00") and first.iloc[-1] == pd.Timestamp("2024-01-11 23:00")
    # seasonal naive repeats the last day exactly
    last_day = two_series[two_series["unique_id"] == "b"]["y"].to_numpy()[-24:]
    np.testing.assert_allclose(forecasts[forecasts["unique_id"] == "b"]["seasonal_naive"], last_day)
    assert (forecasts["ets-lo-95"] < forecasts["ets"]).all() and (forecasts["ets"] < forecasts["ets-hi-95"]).all()


def test_model_configs_and_explicit_season_length(air_passengers):
    forecasts = Forecaster([ETS(season_length=12, model="MAM")], h=12).fit(air_passengers).predict()
    assert list(forecasts.columns) == ["unique_id", "ds", "ets"]
    assert forecasts["ds"].iloc[0] == pd.Timestamp("1961-01-01")
    assert 400 < forecasts["ets"].max() < 700  # July peak of 1961 (the 1960 peak was 622)


def test_cross_validation_windows_never_see_their_future(two_series):
    forecaster = Forecaster([ETS(model="AAA"), "theta", "naive"], h=12, level=[80])
    backtest = forecaster.cross_validation(two_series, n_windows=3, step_size=6)
    assert list(backtest.columns[:4]) == ["unique_id", "ds", "cutoff", "y"]
    assert len(backtest) == 2 * 3 * 12
    assert (backtest["ds"] > backtest["cutoff"]).all()
    assert sorted(backtest["cutoff"].unique()) == list(pd.to_datetime(["2024-01-09 23:00", "2024-01-10 05:00", "2024-01-10 11:00"]))
    merged = backtest.merge(two_series, on=["unique_id", "ds"], suffixes=("", "_true"))
    np.testing.assert_array_equal(merged["y"], merged["y_true"])
    # Corrupting everything after the first cutoff must not change the first window's forecasts.
    first_cutoff = backtest["cutoff"].min()
    corrupted = two_series.copy()
    corrupted.loc[corrupted["ds"] > first_cutoff, "y"] = 1e6
    again = forecaster.cross_validation(corrupted, n_windows=3, step_size=6)
    window = backtest["cutoff"] == first_cutoff
    model_columns = [c for c in backtest.columns if c not in ("unique_id", "ds", "cutoff", "y")]
    pd.testing.assert_frame_equal(backtest.loc[window, model_columns], again.loc[window, model_columns])
    assert not np.allclose(backtest.loc[~window, "naive"], again.loc[~window, "naive"])


def test_cross_validation_without_refit_reuses_first_window_parameters(two_series):
    with_refit = Forecaster([ETS(model="AAA")], h=12).cross_validation(two_series, n_windows=2, refit=True)
    without = Forecaster([ETS(model="AAA")], h=12).cross_validation(two_series, n_windows=2, refit=False)
    first = with_refit["cutoff"] == with_refit["cutoff"].min()
    np.testing.assert_allclose(with_refit.loc[first, "ets"], without.loc[first, "ets"])
    assert not np.allclose(with_refit.loc[~first, "ets"], without.loc[~first, "ets"])


def test_parallel_and_serial_give_the_same_forecasts(two_series):
    many = pd.concat([two_series.assign(unique_id=two_series["unique_id"] + str(i)) for i in range(5)])
    serial = Forecaster(["theta", "naive2"], h=6, level=[90], n_jobs=1).fit(many).predict()
    parallel = Forecaster(["theta", "naive2"], h=6, level=[90], n_jobs=2).fit(many).predict()
    pd.testing.assert_frame_equal(serial, parallel)


def test_series_too_short_for_the_horizon_is_named(two_series):
    short = pd.concat([two_series, pd.DataFrame({"unique_id": "tiny", "ds": pd.date_range("2024-01-01", periods=5, freq="h"),
                                                 "y": [1.0, 2, 3, 4, 5]})])
    with pytest.raises(DataError, match="tiny") as error:
        Forecaster(["naive"], h=12, level=[80]).fit(short)
    assert "14" in str(error.value)  # h + 2 values are needed to calibrate intervals


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="strictly between 0 and 100"):
        Forecaster(["naive"], h=3, level=[80, 100])
    with pytest.raises(ValueError, match="positive whole number"):
        Forecaster(["naive"], h=0)
    with pytest.raises(ValueError, match="each model once"):
        Forecaster(["naive", "naive"], h=3)
    with pytest.raises(RuntimeError, match="fit"):
        Forecaster(["naive"], h=3).predict()


def test_progress_is_reported_for_every_task(two_series):
    seen = []
    Forecaster(["naive", "drift"], h=3, progress=lambda *event: seen.append(event)).fit(two_series).predict()
    assert seen[0] == ("fit", 1, 4) and seen[3] == ("fit", 4, 4)
    assert seen[-1] == ("predict", 4, 4) and len(seen) == 8


@pytest.mark.parametrize("freq", ["h", "15min", "D", "B", "W-SUN", "MS", "ME", "QS-JAN", "YS-JAN", "2h"])
def test_future_stamps_of_all_series_at_once_are_each_series_own(freq):
    from forecasting.api.forecaster import _future, _futures
    lasts = list(pd.date_range("2023-01-27", periods=40, freq=freq)[[0, 7, 39]])
    expected = np.concatenate([_future(last, 13, freq) for last in lasts])
    np.testing.assert_array_equal(_futures(lasts, 13, freq), expected)
    assert _futures([], 13, freq).size == 0

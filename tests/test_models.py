"""Each registered model on its own: closed forms exactly, estimated models sensibly, intervals nested."""
import numpy as np
import pandas as pd
import pytest

from forecasting.models import REGISTRY, Drift, Model, Naive, Naive2, SeasonalNaive, build
from forecasting.models.statistical.fitting import SeriesTask, run_task
from forecasting.models.statistical.ets import ETS, _admissible, _fit
from forecasting.models.statistical.seasonality import is_seasonal, seasonal_indices
from tests.conftest import SHARED_DATA


def test_closed_forms_are_exact():
    y = np.array([1.0, 2, 3, 4, 5, 6, 7])
    assert Naive().point_forecast(y, 1, 3).tolist() == [7, 7, 7]
    assert SeasonalNaive().point_forecast(y, 3, 5).tolist() == [5, 6, 7, 5, 6]
    assert Drift().point_forecast(y, 1, 2).tolist() == [8, 9]
    with pytest.raises(ValueError, match=r"seasonal naive needs one full season \(12 values\), got 7"):
        SeasonalNaive().point_forecast(y, 12, 3)  # never a shorter season; the Forecaster falls back to naive


def test_seasonal_naive_repeats_the_strongest_of_the_frequencys_seasons():
    """Hourly data whose weekends differ repeats last week; a purely daily cycle (which a week also repeats)
    keeps the day; a season_length you set is kept; a series without two weeks keeps the day."""
    import forecasting as fc
    hours = np.arange(24 * 7 * 5)
    rng = np.random.default_rng(0)
    daily = np.sin(2 * np.pi * hours / 24)
    weekend = np.where((hours // 24) % 7 >= 5, 4.0, 0.0)
    ds = pd.date_range("2024-01-01", periods=len(hours), freq="h")

    def forecast(y: np.ndarray, *models) -> pd.DataFrame:
        frame = pd.DataFrame({"unique_id": "s", "ds": ds[:len(y)], "y": y})
        return fc.Forecaster(list(models) or ["seasonal_naive"], h=48).fit(frame).predict()

    weekly = daily + weekend + rng.normal(0, 0.05, len(hours))
    np.testing.assert_allclose(forecast(weekly)["seasonal_naive"], weekly[-168:-120])
    np.testing.assert_allclose(forecast(weekly, fc.model("seasonal_naive", season_length=24))["seasonal_naive"],
                               np.r_[weekly[-24:], weekly[-24:]])
    only_daily = daily + rng.normal(0, 0.05, len(hours))
    np.testing.assert_allclose(forecast(only_daily)["seasonal_naive"], np.r_[only_daily[-24:], only_daily[-24:]])
    short = weekly[:24 * 13]
    np.testing.assert_allclose(forecast(short)["seasonal_naive"], np.r_[short[-24:], short[-24:]])


def test_naive2_adjusts_a_seasonal_series_and_not_a_flat_one():
    t = np.arange(96)
    seasonal = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 12))
    assert is_seasonal(seasonal, 12)
    indices, multiplicative = seasonal_indices(seasonal, 12)
    assert multiplicative and indices.shape == (12,)
    forecast = Naive2().point_forecast(seasonal, 12, 12)
    np.testing.assert_allclose(forecast, seasonal[-12:], rtol=0.02)  # the cycle continues
    noise = np.random.default_rng(1).normal(10, 1, 96)
    assert not is_seasonal(noise, 12)
    assert Naive2().point_forecast(noise, 12, 3).tolist() == [noise[-1]] * 3


@pytest.mark.parametrize("name", ["ets", "arima", "theta"])
def test_estimated_models_follow_a_seasonal_series(name, air_passengers):
    y = air_passengers["y"].to_numpy(dtype=float)
    train, test = y[:-12], y[-12:]
    _, forecast = run_task(SeriesTask(build(name), "air", train, 12, h=12, levels=(80, 95)))
    smape = 200 * np.mean(np.abs(forecast.mean - test) / (np.abs(forecast.mean) + np.abs(test)))
    naive_smape = 200 * np.mean(np.abs(train[-1] - test) / (train[-1] + test))
    assert smape < naive_smape / 2, (name, smape, naive_smape)
    assert np.all(forecast.lower[95] <= forecast.lower[80])
    assert np.all(forecast.lower[80] <= forecast.mean) and np.all(forecast.mean <= forecast.upper[80])
    assert np.all(forecast.upper[80] <= forecast.upper[95])


@pytest.mark.skipif(not (SHARED_DATA / "M4-Hourly-train.csv").exists(), reason="needs ../shared/data")
def test_ets_never_keeps_a_stalled_fit_that_explodes():
    """On M4's H124 the optimiser stops at its starting values when MAM's initial states are estimated: a worse
    likelihood than MAM with heuristic ones, and a forecast 3.4 times the largest value. That fit is refused and the
    next form by AICc whose fit holds is kept: its forecast stays within the data's range."""
    wide = pd.read_csv(SHARED_DATA / "M4-Hourly-train.csv", index_col=0)
    y = wide.loc["H124"].dropna().to_numpy(dtype=float)
    scaled = y / y.max()
    stalled, heuristic = _fit(scaled, "MAM", 24, "estimated"), _fit(scaled, "MAM", 24, "heuristic")
    assert stalled.llf < heuristic.llf and np.max(stalled.forecast(48)) > 3
    assert not _admissible(stalled, heuristic, scaled, 24)
    state, forecast = run_task(SeriesTask(ETS(), "H124", y, 24, h=48, levels=(95,)))
    assert state.spec["form"] != "MAM"
    assert forecast.mean.max() <= y.max() and forecast.mean.min() >= 0
    assert forecast.upper[95].max() < 2 * y.max()


@pytest.mark.parametrize("name", sorted(name for name, cls in REGISTRY.items() if isinstance(cls, type) and issubclass(cls, Model)))
def test_constant_and_huge_series_give_finite_forecasts(name):
    for y in (np.full(60, 7.0), 1e200 * (1 + 0.1 * np.sin(np.arange(60)))):
        _, forecast = run_task(SeriesTask(build(name), "s", y, 12, h=6, levels=(90,), interval_horizon=6))
        assert np.all(np.isfinite(forecast.mean)), (name, forecast.mean)
        assert np.all(np.isfinite(forecast.lower[90])) and np.all(np.isfinite(forecast.upper[90]))
    assert np.allclose(run_task(SeriesTask(build(name), "s", np.full(60, 7.0), 12, h=3))[1].mean, 7.0)


def test_conformal_intervals_widen_with_the_horizon_for_a_random_walk():
    y = np.cumsum(np.random.default_rng(2).normal(0, 1, 400))
    _, forecast = run_task(SeriesTask(Naive(), "rw", y, 1, h=20, levels=(80,), interval_horizon=20))
    width = forecast.upper[80] - forecast.lower[80]
    assert width[-1] > 2 * width[0]


def test_unknown_model_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown model 'prophet'; available: naive, seasonal_naive"):
        build("prophet")


def test_long_series_are_fitted_on_their_latest_values_and_the_forecaster_says_so():
    """A local model reads a series' latest max_history values (2,000 unless told): the same forecasts as when given
    only those, a sentence saying so, and max_history=None reads every value."""
    import forecasting as fc
    rng = np.random.default_rng(3)
    t = np.arange(2600)
    y = np.where(t < 600, 50.0, 10.0) + np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, len(t))
    frame = pd.DataFrame({"unique_id": "long", "ds": pd.date_range("2024-01-01", periods=len(t), freq="h"), "y": y})
    whole = fc.Forecaster(["theta", "naive"], h=24, level=[80]).fit(frame)
    latest = fc.Forecaster(["theta", "naive"], h=24, level=[80]).fit(frame.tail(2000))
    pd.testing.assert_frame_equal(whole.predict(), latest.predict())
    assert whole.fallback_notes == ["theta and naive read the latest 2,000 values of 1 series longer than that "
                                    "(max_history; None reads them all)."]
    assert latest.fallback_notes == []
    every = fc.Forecaster([fc.Theta(max_history=None)], h=24).fit(frame)
    assert every.fallback_notes == []
    assert not np.allclose(every.predict()["theta"], whole.predict()["theta"])

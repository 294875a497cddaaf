"""mstl: a day and a week taken out of hourly data at once, the rest forecast by ETS, ARIMA or Theta."""
import numpy as np
import pandas as pd
import pytest

import forecasting as fc
from forecasting.models.statistical.fitting import SeriesTask, run_task
from forecasting.models.statistical.mstl import MSTL


def day_and_week(weeks: int = 6, seed: int = 0) -> pd.DataFrame:
    """Hourly: a daily cycle and a weekend lift, plus noise."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=24 * 7 * weeks, freq="h")
    hours = (ds - pd.Timestamp("1970-01-01")) // pd.Timedelta("1h")
    y = 50 + 5 * np.sin(2 * np.pi * hours / 24) + 8 * (((hours // 24) % 7) >= 5) + rng.normal(0, 0.5, len(ds))
    return pd.DataFrame({"unique_id": "a", "ds": ds, "y": y})


def test_mstl_reads_both_seasons_where_ets_reads_one_and_its_bands_cover():
    daily_naive = fc.model("seasonal_naive", season_length=24)     # the day only, as ETS reads it
    backtest = fc.run_backtest(day_and_week(), ["mstl", "ets", daily_naive], h=24, n_windows=4, level=[80, 95])
    ranking = backtest.ranking.set_index("model")
    assert ranking.loc["mstl", "mase"] < 0.5 * min(ranking.loc["ets", "mase"], ranking.loc["seasonal_naive", "mase"])
    assert 0.65 <= ranking.loc["mstl", "coverage-80"] <= 0.97
    assert 0.85 <= ranking.loc["mstl", "coverage-95"] <= 1.0


def test_the_seasons_taken_out_are_those_the_series_has_two_cycles_of():
    y = day_and_week(weeks=6)["y"].to_numpy()
    state, _ = run_task(SeriesTask(MSTL(), "a", y, 24, h=24, levels=(80,), seasons=(24, 168), interval_horizon=24))
    assert state.spec["periods"] == [24, 168] and state.spec["trend"] == "ets"
    assert state.arrays["conformal_scores"].shape == (20, 24)
    short = y[:24 * 10]                                        # ten days: one and a half weeks
    state, forecast = run_task(SeriesTask(MSTL(trend="theta"), "a", short, 24, h=24, seasons=(24, 168)))
    assert state.spec["periods"] == [24] and np.isfinite(forecast.mean).all()
    fitted = fc.Forecaster([fc.model("mstl", season_length=24)], h=24).fit(day_and_week(weeks=3))
    assert fitted.states[0][0].spec["periods"] == [24]         # a season set by hand is the only one


def test_a_saved_mstl_predicts_the_same_and_a_damaged_one_is_refused(tmp_path):
    forecaster = fc.Forecaster([fc.model("mstl", trend="arima")], h=24, level=[80]).fit(day_and_week(weeks=4))
    forecaster.save(tmp_path / "mstl")
    pd.testing.assert_frame_equal(fc.Forecaster.load(tmp_path / "mstl").predict(), forecaster.predict())
    from forecasting.models.statistical.fitting import check_fit
    state = forecaster.states[0][0]
    del state.arrays["trend.params"]
    with pytest.raises(ValueError, match="trend.params"):
        check_fit(forecaster.models[0], state, 24, [80])

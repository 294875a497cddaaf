"""Series shorter than a model's season: fitted without it, never with a shorter season, and always said."""
import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.forecasting.theta import ThetaModel

import forecasting as fc
from forecasting.models import ARIMA, ETS, Drift, Naive, Naive2, SeasonalNaive, Theta
from forecasting.models.season_fallback import usable_season


def hourly(lengths: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Hourly series with a daily cycle: one per id, of the given length."""
    rng = np.random.default_rng(seed)
    frames = []
    for series_id, n in lengths.items():
        cycle = 5 * np.sin(2 * np.pi * np.arange(n) / 24)
        frames.append(pd.DataFrame({"unique_id": series_id, "ds": pd.date_range("2024-01-01", periods=n, freq="h"),
                                    "y": 20 + cycle + rng.normal(0, 0.3, n)}))
    return pd.concat(frames, ignore_index=True)


def values(frame: pd.DataFrame, series_id: str) -> np.ndarray:
    return frame.loc[frame["unique_id"] == series_id, "y"].to_numpy()


THREE_POINTS = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=3, freq="h"),
                             "y": [1.0, 2.0, 3.0]})


def test_three_hourly_points_forecast_the_last_value_not_a_repeated_partial_season():
    forecaster = fc.Forecaster(["seasonal_naive"], h=6).fit(THREE_POINTS)
    assert forecaster.predict()["seasonal_naive"].tolist() == [3.0] * 6  # was 1, 2, 3, 1, 2, 3
    assert forecaster.states[0][0].spec["season_fallback"] == {"season_length": 24, "observations": 3,
                                                               "needed": 24, "used": 1}
    assert forecaster.fallbacks == [fc.SeasonFallback(model="seasonal_naive", series="a", season_length=24,
                                                      observations=3, needed=24, used=1)]
    assert fc.describe_fallbacks(forecaster.fallbacks) == [
        "seasonal_naive used no season on 1 series shorter than one season (24 steps): a."]


@pytest.mark.parametrize(("model", "needed"), [
    (SeasonalNaive(), 24), (ETS(), 50), (Theta(), 48), (ARIMA(), 72), (Naive2(), 72), (Naive(), 0), (Drift(), 0),
])
def test_each_model_states_what_its_season_needs(model, needed):
    assert model.observations_for_season(24) == needed
    assert usable_season(model, needed, 24) == 24
    if needed:
        assert usable_season(model, needed - 1, 24) == 1
    assert usable_season(model, 3, 1) == 1  # no season wanted: nothing to fall back from


def test_every_seasonal_model_records_its_fallback_and_fits_without_the_season():
    frame = hourly({"short": 30, "long": 120})
    forecaster = fc.Forecaster(["seasonal_naive", "ets", "theta", "arima", "naive2", "naive"], h=6, level=[80],
                               n_jobs=1).fit(frame)
    # 30 values: a full season for seasonal naive, too few for the others; 120 are enough for all.
    assert [(f.model, f.series, f.season_length, f.observations, f.needed, f.used) for f in forecaster.fallbacks] == [
        ("ets", "short", 24, 30, 50, 1), ("theta", "short", 24, 30, 48, 1),
        ("arima", "short", 24, 30, 72, 1), ("naive2", "short", 24, 30, 72, 1)]
    ets = dict(zip(forecaster.history.ids, forecaster.states[1]))
    assert ets["short"].spec["form"].endswith("N") and ets["long"].spec["form"][-1] in "AM"
    forecasts = forecaster.predict()
    short = forecasts[forecasts["unique_id"] == "short"]
    np.testing.assert_allclose(short["seasonal_naive"], values(frame, "short")[-24:][:6], rtol=1e-12)
    np.testing.assert_allclose(short["naive2"], values(frame, "short")[-1])
    assert np.isfinite(short.filter(like="-lo-80").to_numpy()).all()
    assert fc.describe_fallbacks(forecaster.fallbacks) == [
        "ets used no season on 1 series shorter than two seasons and 2 steps (50 steps): short.",
        "theta used no season on 1 series shorter than two seasons (48 steps): short.",
        "arima used no season on 1 series shorter than three seasons (72 steps): short.",
        "naive2 used no season on 1 series shorter than three seasons (72 steps): short."]


def test_a_long_enough_series_forecasts_as_before():
    frame = hourly({"a": 240})
    y = values(frame, "a")
    forecaster = fc.Forecaster(["seasonal_naive", "theta", "ets"], h=24, level=[80], n_jobs=1).fit(frame)
    assert forecaster.fallbacks == []
    assert all("season_fallback" not in state.spec for states in forecaster.states for state in states)
    forecasts = forecaster.predict()
    np.testing.assert_allclose(forecasts["seasonal_naive"], y[-24:], rtol=1e-12)
    theta = ThetaModel(y / np.abs(y).max(), period=24, deseasonalize=True).fit().forecast(24) * np.abs(y).max()
    np.testing.assert_allclose(forecasts["theta"], theta, rtol=1e-9)
    assert forecaster.states[2][0].spec["form"][-1] in "AM"  # ETS keeps its seasonal forms


def test_an_explicit_season_length_is_never_dropped():
    with pytest.raises(fc.DataError) as error:
        fc.Forecaster([fc.SeasonalNaive(season_length=12)], h=3).fit(THREE_POINTS)
    assert str(error.value) == ("model 'seasonal_naive' has season_length=12, which needs at least 12 values, but "
                                "series 'a' has 3 to fit on. Lower season_length, or give longer series.")
    with pytest.raises(fc.DataError, match=r"model 'ets' has season_length=24, which needs at least 50 values, "
                                           r"but series 'short' has 30 to fit on\. Lower season_length"):
        fc.Forecaster([fc.ETS(season_length=24)], h=3).fit(hourly({"long": 60, "short": 30}))


def test_a_fixed_seasonal_ets_form_on_a_short_series_says_what_to_choose():
    with pytest.raises(fc.DataError, match=r"model 'ets' failed on series 'a' \(3 values\): ETS form 'AAA' is "
                                           r"seasonal.*choose a form ending in 'N', or model='auto'"):
        fc.Forecaster([fc.ETS(model="AAA")], h=3).fit(THREE_POINTS)


def test_a_backtest_decides_at_each_cutoff_and_records_the_first_fallback():
    frame = hourly({"a": 30})
    y = values(frame, "a")
    refit = fc.Forecaster(["seasonal_naive"], h=6)
    backtest = refit.cross_validation(frame, n_windows=2, step_size=6)
    # The first cutoff has 18 values (no season: the last value), the second 24 (one full season).
    first, second = (backtest[backtest["cutoff"] == cutoff]["seasonal_naive"].to_numpy()
                     for cutoff in sorted(backtest["cutoff"].unique()))
    np.testing.assert_allclose(first, np.full(6, y[17]), rtol=1e-12)
    np.testing.assert_allclose(second, y[:6], rtol=1e-12)
    assert refit.fallbacks == [fc.SeasonFallback("seasonal_naive", "a", 24, 18, 24, 1)]
    # Without refit the second window re-uses the first fit, which has no season.
    reused = fc.Forecaster(["seasonal_naive"], h=6)
    again = reused.cross_validation(frame, n_windows=2, step_size=6, refit=False)
    np.testing.assert_allclose(again["seasonal_naive"].to_numpy()[6:], np.full(6, y[23]), rtol=1e-12)
    assert reused.fallbacks == refit.fallbacks


def test_the_backtest_and_its_report_say_which_series_had_no_season():
    frame = hourly({"a": 10, "b": 12, "long": 60})
    backtest = fc.run_backtest(frame, ["naive"], h=3, n_windows=1, n_jobs=1)
    assert [(f.model, f.series, f.observations) for f in backtest.fallbacks] == [("seasonal_naive", "a", 7),
                                                                                 ("seasonal_naive", "b", 9)]
    note = "seasonal_naive used no season on 2 series shorter than one season (24 steps): a, b."
    assert backtest.fallback_notes == [note]
    html = fc.render_report(backtest)
    assert f'<p class="fallback">{note}</p>' in html
    assert html.index(note) < html.index("<h2>Settings</h2>")  # right under the verdict


def test_a_report_without_fallbacks_has_no_fallback_line():
    backtest = fc.run_backtest(hourly({"long": 60}), ["naive"], h=3, n_windows=1, n_jobs=1)
    assert backtest.fallbacks == [] and backtest.fallback_notes == []
    assert 'class="fallback"' not in fc.render_report(backtest)


def test_many_series_are_counted_and_the_first_ones_named():
    fallbacks = [fc.SeasonFallback("seasonal_naive", f"s{i}", 7, 5, 7, 1) for i in range(12)]
    assert fc.describe_fallbacks(fallbacks) == [
        "seasonal_naive used no season on 12 series shorter than one season (7 steps): "
        "s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 and 2 more."]


def test_a_saved_forecaster_keeps_its_fallbacks(tmp_path):
    frame = hourly({"short": 10, "long": 60})
    fitted = fc.Forecaster(["seasonal_naive", "theta"], h=3, level=[80]).fit(frame)
    fitted.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    seasonal_naive = dict(zip(config["series"]["ids"], config["fits"][0]))
    assert seasonal_naive["short"]["season_fallback"] == {"season_length": 24, "observations": 10, "needed": 24,
                                                          "used": 1}
    assert "season_fallback" not in seasonal_naive["long"]
    loaded = fc.Forecaster.load(tmp_path / "model")
    assert loaded.fallbacks == fitted.fallbacks and [(f.model, f.series) for f in loaded.fallbacks] == [
        ("seasonal_naive", "short"), ("theta", "short")]
    pd.testing.assert_frame_equal(loaded.predict(), fitted.predict(), check_exact=True)

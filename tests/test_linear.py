"""linear: the closed-form ridge floor as a product model; settings chosen on validation rows only."""
import numpy as np
import pandas as pd
import pytest

import forecasting as fc
from forecasting.data.frequency import candidate_seasons, step_number
from forecasting.models.linear import PENALTIES, SHRINKAGES, Design
from forecasting.models.statistical.seasonality import detected_seasons


def hourly(n_series: int, length: int, weekly: float = 0.0, noise: float = 0.3, seed: int = 0,
           start: str = "2024-01-01") -> pd.DataFrame:
    """Hourly series with a daily cycle (and a weekly one of amplitude `weekly`), each at its own level and scale."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=length, freq="h")
    hours = (ds - pd.Timestamp("1970-01-01")) // pd.Timedelta("1h")
    frames = []
    for i in range(n_series):
        cycle = np.sin(2 * np.pi * hours / 24) + weekly * np.where((hours // 24) % 7 >= 5, 1.0, -0.4)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds,
                                    "y": 100 * i + (1 + i) * (cycle + rng.normal(0, noise, length))}))
    return pd.concat(frames, ignore_index=True)


def ar_panel(coefficients: list[float], length: int = 600, seed: int = 0) -> pd.DataFrame:
    """Daily AR(1) series, one per coefficient: different dynamics that one shared map cannot all follow."""
    rng = np.random.default_rng(seed)
    frames = []
    for i, phi in enumerate(coefficients):
        y = np.zeros(length)
        for t in range(1, length):
            y[t] = phi * y[t - 1] + rng.normal()
        frames.append(pd.DataFrame({"unique_id": f"ar{i}", "ds": pd.date_range("2020-01-01", periods=length, freq="D"),
                                    "y": y + 50}))
    return pd.concat(frames, ignore_index=True)


def test_linear_forecasts_a_daily_cycle_far_better_than_naive_with_calibrated_bands():
    backtest = fc.run_backtest(hourly(3, 1200), ["linear", "naive"], h=24, n_windows=4, level=[80, 95])
    ranking = backtest.ranking.set_index("model")
    assert ranking.loc["linear", "mase"] < 0.5 * ranking.loc["naive", "mase"]
    assert 0.65 <= ranking.loc["linear", "coverage-80"] <= 0.95
    assert 0.85 <= ranking.loc["linear", "coverage-95"] <= 1.0


def test_every_candidate_is_scored_on_validation_and_the_best_is_chosen():
    fit = fc.Forecaster(["linear"], h=24).fit(hourly(3, 1200, weekly=1.0)).states[0][0]
    shared = {key: error for key, error in fit.choice.items() if key[1] == "shared"}
    lookbacks = {lookback for lookback, _, _ in shared}
    assert lookbacks == {24, 48, 96, 168, 336, 672}     # h, 2h, 4h, one, two and four days and weeks that fit
    assert {penalty for _, _, penalty in shared} == set(PENALTIES)
    assert {shrinkage for _, pooling, shrinkage in fit.choice if pooling == "per_series"} == set(SHRINKAGES)
    assert all(np.isfinite(error) and error > 0 for error in fit.choice.values())
    best_shared = min(shared, key=shared.get)
    assert (fit.design.lookback, fit.penalty) == (best_shared[0], best_shared[2])
    chosen = (fit.design.lookback, fit.pooling, fit.penalty if fit.pooling == "shared" else fit.shrinkage)
    assert fit.choice[chosen] == min(fit.choice.values())
    assert fit.design.seasons == [24, 168]


def test_settings_never_depend_on_the_calibration_rows():
    """The calibration rows (each series' last 10%) choose nothing: scrambling them changes the intervals, never the
    lookback, penalty or pooling chosen, nor any candidate's validation score."""
    data = hourly(2, 1000, weekly=0.5)
    scrambled = data.copy()
    last = scrambled.groupby("unique_id").cumcount(ascending=False) < 100
    scrambled.loc[last, "y"] = scrambled.loc[last, "y"].sample(frac=1, random_state=0).to_numpy() * 3
    first = fc.Forecaster(["linear"], h=24, level=[80]).fit(data).states[0][0]
    second = fc.Forecaster(["linear"], h=24, level=[80]).fit(scrambled).states[0][0]
    assert first.choice == second.choice
    assert (first.design, first.pooling, first.penalty) == (second.design, second.pooling, second.penalty)
    assert not np.allclose(first.calibration_scores, second.calibration_scores)


def test_series_with_different_dynamics_get_their_own_maps_and_alike_ones_share():
    different = fc.Forecaster(["linear"], h=7).fit(ar_panel([0.95, -0.8, 0.95, -0.8])).states[0][0]
    assert different.pooling == "per_series" and different.maps.series_weights.shape[0] == 4
    # each series' map differs from the shared one and follows its own sign of autocorrelation
    weights = different.maps.series_weights[:, different.design.lookback - 2, 0]   # the input one step before last
    assert (weights[0] - weights[1]) * (weights[2] - weights[3]) > 0
    forced = fc.Forecaster([fc.model("linear", pooling="shared")], h=7).fit(ar_panel([0.95, -0.8])).states[0][0]
    assert forced.pooling == "shared" and forced.maps.series_weights is None
    assert all(pooling == "shared" for _, pooling, _ in forced.choice)


def test_fourier_terms_read_a_weekly_season_longer_than_the_lookback():
    """With lookback 24 the weekday/weekend shift of a weekly season is out of sight of the inputs; the Fourier
    terms of the window's place in the week bring it back."""
    data = hourly(2, 24 * 7 * 10, weekly=2.0, noise=0.2)
    with_terms = fc.run_backtest(data, [fc.model("linear", lookback=24)], h=24, n_windows=7)
    without = fc.run_backtest(data, [fc.model("linear", lookback=24, seasons=[])], h=24, n_windows=7)
    mase = [backtest.ranking.set_index("model").loc["linear", "mase"] for backtest in (with_terms, without)]
    assert mase[0] < 0.7 * mase[1]


def test_a_saved_linear_model_predicts_the_same_and_a_damaged_one_is_refused(tmp_path):
    data = ar_panel([0.9, -0.5])
    forecaster = fc.Forecaster(["linear"], h=7, level=[80, 95]).fit(data)
    forecaster.save(tmp_path / "linear")
    loaded = fc.Forecaster.load(tmp_path / "linear")
    pd.testing.assert_frame_equal(loaded.predict(), forecaster.predict())
    fit = forecaster.states[0][0]
    state = fit.to_state()
    state.arrays["shared_weights"] = state.arrays["shared_weights"][:-1]
    with pytest.raises(ValueError, match=r"shared_weights should have the shape \[\d+, 7\]"):
        fc.model("linear").restore_panel(state, fit.series, 7, [80, 95])


def test_a_backtest_window_never_reads_past_its_cutoff():
    data = hourly(2, 900)
    changed = data.copy()
    after = changed.groupby("unique_id").cumcount(ascending=False) < 24     # the last window's targets
    changed.loc[after, "y"] += 1000
    first = fc.Forecaster(["linear"], h=24).cross_validation(data, n_windows=1)
    second = fc.Forecaster(["linear"], h=24).cross_validation(changed, n_windows=1)
    np.testing.assert_allclose(first["linear"], second["linear"])
    assert not np.allclose(first["y"], second["y"])


def test_a_panel_too_short_is_refused_with_the_length_needed():
    short = ar_panel([0.5], length=20)
    with pytest.raises(fc.DataError, match="ar0"):
        fc.Forecaster(["linear"], h=7).fit(short)


def test_seasons_are_detected_and_placed_the_same_in_every_series():
    assert candidate_seasons("h") == [24, 168] and candidate_seasons("D") == [7, 365]
    assert candidate_seasons("MS") == [12] and candidate_seasons("YS") == []
    data = hourly(3, 24 * 7 * 5, weekly=2.0)
    series = [group.to_numpy() for _, group in data.groupby("unique_id")["y"]]
    assert detected_seasons(series, [24, 168]) == [24, 168]
    rng = np.random.default_rng(0)
    assert detected_seasons([rng.normal(size=2000) for _ in range(3)], [24, 168]) == []
    # the same hour of the week has the same step number modulo 168, whatever the series' start
    monday = step_number(pd.Timestamp("2024-01-01 00:00"), "h")
    assert (step_number(pd.Timestamp("2024-01-08 00:00"), "h") - monday) % 168 == 0
    assert step_number(pd.Timestamp("2024-03-01"), "MS") - step_number(pd.Timestamp("2023-03-01"), "MS") == 12
    assert step_number(pd.Timestamp("2024-01-01"), "YS") is None or candidate_seasons("YS") == []
    design = Design(lookback=24, h=6, seasons=[24, 168])
    assert design.width == 24 + 2 * 4 + 2 * 4 + 1

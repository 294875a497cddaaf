import numpy as np
import pandas as pd
import pytest

from forecasting.data.reading import read_table
from forecasting.data.summary import series_summary
from forecasting.errors import DataError
from forecasting.evaluation.backtest import REFERENCE, run_backtest
from forecasting.evaluation.metrics import evaluate, summarize


def seasonal_frame(n_series: int = 2, days: int = 70) -> pd.DataFrame:
    """Daily series with a strong weekly cycle and little noise: seasonal naive is hard to beat."""
    rng = np.random.default_rng(3)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    week = np.array([0, 5, 9, 4, -3, -8, -6], dtype=float)
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds,
                                    "y": 50 + 10 * i + np.tile(week, days // 7 + 1)[:days] + rng.normal(0, 0.2, days)})
                      for i in range(n_series)], ignore_index=True)


def trending_frame(days: int = 70) -> pd.DataFrame:
    """A steady daily trend without a weekly cycle: drift and naive beat seasonal naive."""
    rng = np.random.default_rng(4)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    return pd.DataFrame({"unique_id": "trend", "ds": ds, "y": 2.0 * np.arange(days) + rng.normal(0, 0.1, days)})


def exact_weekly_frame(trends: int = 0) -> pd.DataFrame:
    """A daily series that repeats exactly every week (seasonal naive's in-sample error is 0, so MASE is undefined),
    and `trends` steady trends without a weekly cycle."""
    ds = pd.date_range("2024-01-01", periods=56, freq="D")
    exact = pd.DataFrame({"unique_id": "exact", "ds": ds, "y": np.tile([20.0, 25, 29, 24, 17, 12, 14], 8)})
    return pd.concat([exact, *[pd.DataFrame({"unique_id": f"trend{i}", "ds": ds, "y": 20 + (5.0 + i) * np.arange(56)})
                               for i in range(trends)]], ignore_index=True)


@pytest.fixture(scope="module")
def seasonal_backtest():
    calls = []
    backtest = run_backtest(seasonal_frame(), ["naive"], h=7, n_windows=2, level=[80], n_jobs=1,
                            progress=lambda stage, done, total: calls.append((stage, done, total)), source="weekly.csv")
    return backtest, calls


def test_the_reference_is_added_and_every_table_has_it(seasonal_backtest):
    backtest, _ = seasonal_backtest
    assert backtest.settings == {
        "source": "weekly.csv", "n_series": 2, "freq": "D", "season_length": 7, "models": ["naive", REFERENCE],
        "h": 7, "n_windows": 2, "step_size": 7, "level": [80], "refit": True, "nonnegative": True, "text": "none",
    }
    assert list(backtest.summary.columns) == ["naive", REFERENCE]
    assert set(backtest.ranking["model"]) == {"naive", REFERENCE}
    assert {"naive", REFERENCE, f"{REFERENCE}-lo-80"} <= set(backtest.forecasts.columns)
    assert {"naive", REFERENCE} <= set(backtest.per_series.columns)


def test_forecasts_and_metrics_come_from_the_forecaster_and_metrics_modules(seasonal_backtest):
    backtest, _ = seasonal_backtest
    assert len(backtest.forecasts) == 2 * 2 * 7  # series x windows x h
    assert backtest.forecasts.groupby("unique_id")["cutoff"].unique().map(len).tolist() == [2, 2]
    data = backtest.panel.frame
    assert list(data.columns) == ["unique_id", "ds", "y"] and len(data) == 140
    pd.testing.assert_frame_equal(backtest.summary, summarize(backtest.forecasts, data, 7))
    pd.testing.assert_frame_equal(backtest.per_series, evaluate(backtest.forecasts, data, 7))


def test_seasonal_naive_wins_on_a_seasonal_series(seasonal_backtest):
    backtest, _ = seasonal_backtest
    ranking = backtest.ranking
    assert list(ranking.columns) == ["model", "mase", "smape", "rmse", "coverage-80", "mase_vs_reference",
                                     "beats_reference"]
    assert ranking["model"].tolist() == [REFERENCE, "naive"]
    naive = ranking.iloc[1]
    assert naive["mase"] == pytest.approx(backtest.summary.loc["mase", "naive"])
    assert naive["mase_vs_reference"] == pytest.approx(naive["mase"] / ranking.iloc[0]["mase"])
    assert naive["mase_vs_reference"] > 3
    assert ranking["beats_reference"].tolist() == [False, False]
    assert backtest.verdict == "Seasonal naive (the reference) has the lowest MASE; naive does not beat seasonal naive."


def test_a_model_that_beats_the_reference_is_named_with_its_ratio():
    backtest = run_backtest(trending_frame(), ["drift", "naive", REFERENCE], h=7, n_windows=2, n_jobs=1)
    ranking = backtest.ranking.set_index("model")
    assert backtest.settings["models"] == ["drift", "naive", REFERENCE]  # the reference is not added twice
    assert backtest.ranking["model"].tolist() == ["drift", "naive", REFERENCE]
    assert ranking["beats_reference"].to_dict() == {"drift": True, "naive": True, REFERENCE: False}
    ratio = ranking.loc["drift", "mase"] / ranking.loc[REFERENCE, "mase"]
    assert ratio < 0.2
    assert backtest.verdict == (
        f"drift has the lowest MASE, {ratio:.2f}x seasonal naive; naive also beats seasonal naive.")


def test_progress_is_reported_for_the_backtest(seasonal_backtest):
    _, calls = seasonal_backtest
    assert calls and all(stage == "backtest" for stage, _, _ in calls)
    assert calls[-1][1] == calls[-1][2] == 2 * 2 * 2  # models x series x windows


def test_repairs_made_while_reading_stay_in_the_data_report(tmp_path):
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    lines = [f"{day:%Y-%m-%d},{i % 7 + 10}" for i, day in enumerate(days) if i not in (20, 21)]
    path = tmp_path / "gappy.csv"
    path.write_text("date,visits\n" + "\n".join(lines) + "\n")
    backtest = run_backtest(read_table(path), ["naive"], h=7, n_windows=1, n_jobs=1)
    assert [repair.policy for repair in backtest.panel.report.repairs] == ["fill_gaps:interpolate"]
    assert series_summary(backtest.panel)["filled"].tolist() == [2]


def test_too_short_series_and_bad_settings_are_clear_errors():
    with pytest.raises(DataError, match="shorter than"):
        run_backtest(seasonal_frame(days=20), ["naive"], h=7, n_windows=3, n_jobs=1)
    with pytest.raises(ValueError, match="unknown model 'prophet'"):
        run_backtest(seasonal_frame(), ["prophet"], h=7)


def test_where_seasonal_naive_is_exact_the_verdict_says_why_mase_is_undefined_and_compares_on_smape():
    backtest = run_backtest(exact_weekly_frame(), ["naive", "drift"], h=7, n_windows=2, n_jobs=1)
    ranking = backtest.ranking
    assert backtest.ranked_by == "smape"
    assert not np.isfinite(ranking["mase"]).any() and ranking["mase_vs_reference"].isna().all()
    assert ranking["model"].tolist()[0] == REFERENCE and ranking["smape"].is_monotonic_increasing
    assert not ranking["beats_reference"].any()
    assert backtest.verdict == (
        "MASE is undefined on this data: series exact repeats exactly every 7 steps, so seasonal naive's "
        "in-sample error, which MASE divides by, is 0. Compared on sMAPE instead, seasonal naive (the reference) "
        f"has the lowest sMAPE; {ranking['model'][1]} and {ranking['model'][2]} do not beat seasonal naive.")
    assert "nan" not in backtest.verdict and "inf" not in backtest.verdict


def test_one_exact_series_among_others_ranks_every_model_on_smape_with_its_ratio():
    backtest = run_backtest(exact_weekly_frame(trends=4), ["drift"], h=7, n_windows=2, n_jobs=1)
    ranking = backtest.ranking.set_index("model")
    assert backtest.ranked_by == "smape"
    assert ranking.loc["drift", "beats_reference"]  # drift is exact on the four trends, seasonal naive on one series
    ratio = ranking.loc["drift", "smape"] / ranking.loc[REFERENCE, "smape"]
    assert backtest.verdict == (
        "MASE is undefined on this data: series exact repeats exactly every 7 steps, so seasonal naive's in-sample "
        f"error, which MASE divides by, is 0. Compared on sMAPE instead, drift has the lowest sMAPE, {ratio:.2f}x "
        "seasonal naive.")

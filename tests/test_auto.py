"""auto: the best model or ensemble for the data, chosen by a backtest on the history it is given, and nothing later."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import forecasting as fc
from forecasting.api import auto as auto_module
from forecasting.api.auto import MEDIAN, WEIGHTED
from forecasting.models import REGISTRY

FAST = ["naive", "seasonal_naive", "drift", "linear"]


def daily_cycles(n_series: int = 2, length: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=length, freq="h")
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds,
                                    "y": 10 * (i + 1) + 3 * np.sin(2 * np.pi * np.arange(length) / 24)
                                    + rng.normal(0, 0.3, length)}) for i in range(n_series)], ignore_index=True)


def test_auto_scores_every_candidate_and_ensembles_and_keeps_the_best():
    forecaster = fc.Forecaster([fc.model("auto", candidates=FAST)], h=24, level=[80, 95]).fit(daily_cycles())
    fit = forecaster.states[0][0]
    summary = fit.comparison()
    assert set(summary["option"]) == {*FAST, MEDIAN, WEIGHTED}
    assert summary["metric"].iloc[0] == "mase" and (summary["status"] == "chosen").sum() == 1
    chosen = summary.loc[summary["status"] == "chosen"].iloc[0]
    assert chosen["score"] == summary["score"].min() == fit.scores.loc[fit.best, "score"]
    # a smooth daily cycle: the chosen option beats naive and drift by far, and seasonal naive
    scores = fit.scores["score"]
    assert scores[fit.best] < 0.5 * scores["naive"] and scores[fit.best] < scores["seasonal_naive"]
    weighted = fit.options[WEIGHTED]
    assert len(weighted.members) == 3 and sum(weighted.weights) == pytest.approx(1.0)
    assert list(weighted.members) == list(scores[FAST].sort_values().index[:3])
    assert fit.reason().startswith(f"auto chose {fit.best}") and "seasonal naive" in fit.reason()
    forecast = forecaster.predict()
    assert len(forecast) == 48 and forecast["auto"].notna().all()


def test_ensemble_intervals_are_ordered_and_finite():
    """Both ensembles, combined from the real forecasts of their members, keep every band ordered and finite."""
    data = daily_cycles(3, 500, seed=1)
    fit = fc.Forecaster([fc.model("auto", candidates=FAST)], h=24, level=[80, 95]).fit(data).states[0][0]
    members = fc.Forecaster(FAST, h=24, level=[80, 95]).fit(data)
    by_member = dict(zip(FAST, members.forecasts_for(members.history)))
    for label in (MEDIAN, WEIGHTED):
        option = fit.options[label]
        for s in range(3):
            forecast = option.combine([by_member[name][s] for name in option.members], [80, 95])
            bands = [forecast.lower[95], forecast.lower[80], forecast.mean, forecast.upper[80], forecast.upper[95]]
            assert all(np.isfinite(band).all() and band.shape == (24,) for band in bands)
            assert all((low <= high + 1e-9).all() for low, high in zip(bands, bands[1:]))
            assert (forecast.upper[95] - forecast.lower[95]).min() > 0


def test_auto_never_reads_past_a_backtest_cutoff():
    """Each backtest window's auto chooses from the data before its cutoff: what comes after changes nothing."""
    data = daily_cycles(2, 500)
    changed = data.copy()
    after = changed.groupby("unique_id").cumcount(ascending=False) < 24
    changed.loc[after, "y"] = changed.loc[after, "y"] * 5 + 100
    runs = []
    for frame in (data, changed):
        forecaster = fc.Forecaster([fc.model("auto", candidates=FAST)], h=24, level=[80])
        runs.append((forecaster.cross_validation(frame, n_windows=1), forecaster))
    (first, _), (second, _) = runs
    np.testing.assert_allclose(first["auto"], second["auto"])
    np.testing.assert_allclose(first["auto-hi-80"], second["auto-hi-80"])
    assert not np.allclose(first["y"], second["y"])


def test_the_time_budget_skips_candidates_not_started_and_failures_are_named():
    short = daily_cycles(1, 70)     # too short for linear's held-out rows at h = 12 and three windows
    fit = fc.Forecaster([fc.model("auto", candidates=["seasonal_naive", "linear", "naive"])], h=12).fit(
        short).states[0][0]
    summary = fit.comparison().set_index("option")
    assert summary.loc["linear", "status"] == "failed" and "linear" not in fit.scores.index
    assert "shorter than the 76 rows needed: 's0' (70 rows)" in summary.loc["linear", "detail"]
    assert set(fit.scores.index) >= {"seasonal_naive", "naive"}
    budget = fc.Forecaster([fc.model("auto", candidates=FAST, time_budget=1e-6)], h=24).fit(
        daily_cycles()).states[0][0]
    statuses = budget.comparison().set_index("option")["status"]
    assert statuses["naive"] == "chosen" and list(budget.scores.index) == ["naive"]
    assert all(statuses[name] == "skipped" for name in FAST[1:])
    assert "time budget" in budget.comparison().set_index("option").loc["linear", "detail"]


def test_a_global_candidate_is_backtested_on_the_series_long_enough_and_compared_there():
    """linear (a global model: it fits every series it is given) needs 76 rows at h = 24: a 120-row series can be
    fitted, but not before the first of 3 backtest windows, so linear's backtest leaves it out, every option is
    compared on the long series, and the chosen one forecasts both. A 70-row series rules linear out."""
    long = daily_cycles(1, 600)
    short = daily_cycles(1, 120, seed=3).assign(unique_id="short")
    candidates = ["naive", "seasonal_naive", "linear"]
    fit = fc.Forecaster([fc.model("auto", candidates=candidates)], h=24).fit(pd.concat([long, short]))
    compared = fit.states[0][0].comparison().set_index("option")
    assert compared.loc["linear", "status"] in ("chosen", "scored")
    assert compared.loc["linear", "detail"].startswith("backtested on 1 of 2 series: the others have fewer than 148")
    alone = fc.Forecaster([fc.model("auto", candidates=candidates)], h=24).fit(long).states[0][0]
    pd.testing.assert_series_equal(fit.states[0][0].scores["score"], alone.scores["score"])
    forecast = fit.predict()
    assert forecast.groupby("unique_id")["auto"].count().to_dict() == {"s0": 24, "short": 24}
    assert np.isfinite(forecast["auto"]).all()
    each = fc.Forecaster([fc.model("auto", candidates=candidates, per_series=True)], h=24).fit(pd.concat([long, short]))
    assert set(each.states[0][0].chosen) == {"s0", "short"} and each.predict()["auto"].notna().all()
    too_short = daily_cycles(1, 75, seed=4).assign(unique_id="tiny")
    fit = fc.Forecaster([fc.model("auto", candidates=candidates)], h=24).fit(pd.concat([long, too_short]))
    compared = fit.states[0][0].comparison().set_index("option")
    assert compared.loc["linear", "status"] == "failed" and "'tiny' (75 rows)" in compared.loc["linear", "detail"]


def fake_clock(monkeypatch) -> list[float]:
    """auto's clock, set by the test: [seconds]."""
    now = [0.0]
    monkeypatch.setattr(auto_module, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    return now


def test_the_time_budget_stops_a_candidate_still_running(monkeypatch):
    now = fake_clock(monkeypatch)

    def progress(stage: str, done: int, total: int) -> None:
        if done == 1:
            now[0] = 1000.0             # seasonal naive's backtest runs past the budget

    auto = fc.model("auto", candidates=["naive", "seasonal_naive", "drift"], time_budget=100)
    fit = fc.Forecaster([auto], h=24, progress=progress).fit(daily_cycles()).states[0][0]
    compared = fit.comparison().set_index("option")
    assert compared.loc["naive", "status"] == "chosen" and list(fit.scores.index) == ["naive"]
    assert compared.loc["seasonal_naive", "status"] == "stopped"
    assert compared.loc["seasonal_naive", "detail"].startswith("stopped when the time budget of 100 s was spent")
    assert compared.loc["drift", "status"] == "skipped"


def test_the_time_budget_keeps_the_time_to_refit_the_best_option(monkeypatch):
    """A budget of 100 s after a first candidate that took 70: its refit needs about 70 more, so nothing else starts."""
    now = fake_clock(monkeypatch)

    def progress(stage: str, done: int, total: int) -> None:
        if done == 0:
            now[0] = 70.0

    auto = fc.model("auto", candidates=["naive", "seasonal_naive"], time_budget=100)
    fit = fc.Forecaster([auto], h=24, progress=progress).fit(daily_cycles()).states[0][0]
    compared = fit.comparison().set_index("option")
    assert compared.loc["naive", "seconds"] == 70.0 and compared.loc["seasonal_naive", "status"] == "skipped"
    roomy = fc.model("auto", candidates=["naive", "seasonal_naive"], time_budget=150)
    now[0] = 0.0
    fit = fc.Forecaster([roomy], h=24, progress=progress).fit(daily_cycles()).states[0][0]
    assert set(fit.scores.index) >= {"naive", "seasonal_naive"}


def test_per_series_choice_follows_each_series():
    rng = np.random.default_rng(2)
    ds = pd.date_range("2024-01-01", periods=500, freq="h")
    cycle = 20 + 5 * np.sin(2 * np.pi * np.arange(500) / 24) + rng.normal(0, 0.1, 500)
    walk = 100 + np.cumsum(rng.normal(0, 1, 500))
    data = pd.concat([pd.DataFrame({"unique_id": "cycle", "ds": ds, "y": cycle}),
                      pd.DataFrame({"unique_id": "walk", "ds": ds, "y": walk})], ignore_index=True)
    auto = fc.model("auto", candidates=["naive", "seasonal_naive"], per_series=True, ensemble_size=0)
    fit = fc.Forecaster([auto], h=24).fit(data).states[0][0]
    assert fit.chosen == {"cycle": "seasonal_naive", "walk": "naive"}
    assert "per series" in fit.reason()


def test_a_saved_auto_predicts_the_same_and_a_damaged_one_is_refused(tmp_path):
    forecaster = fc.Forecaster([fc.model("auto", candidates=FAST)], h=24, level=[80]).fit(daily_cycles())
    forecaster.save(tmp_path / "auto")
    loaded = fc.Forecaster.load(tmp_path / "auto")
    pd.testing.assert_frame_equal(loaded.predict(), forecaster.predict())
    assert loaded.states[0][0].best == forecaster.states[0][0].best
    state = forecaster.states[0][0].to_state()
    state.spec["best"] = "prophet"
    with pytest.raises(ValueError, match="does not hold"):
        fc.model("auto").restore_panel(state, ["s0", "s1"], 24, [80])


def test_auto_is_registered_and_refuses_unknown_candidates():
    assert "auto" in REGISTRY
    with pytest.raises(ValueError, match="candidates must be registered models other than auto"):
        fc.model("auto", candidates=["ets", "prophet"])
    with pytest.raises(ValueError, match="other than auto"):
        fc.model("auto", candidates=["auto"])

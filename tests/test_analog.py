"""The analog model: similarity-weighted futures of past windows, nothing trained; what it retrieved is shown."""
import numpy as np
import pandas as pd
import pytest

import forecasting as fc
from forecasting.models import analog
from forecasting.models.analog import K_CANDIDATES, TEMPERATURE_CANDIDATES


def cycles(n_series: int, length: int, noise: float = 0.1, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """Hourly series, each a repeating but not sinusoidal 24-hour shape of its own level and scale, plus noise."""
    rng = np.random.default_rng(seed)
    shape = np.r_[np.linspace(0, 1, 12), np.linspace(1, -0.5, 8), np.linspace(-0.5, 0, 4)]
    ds = pd.date_range(start, periods=length, freq="h")
    return pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": ds,
                                    "y": 50 * i + (1 + i) * np.resize(shape, length) + rng.normal(0, noise, length)})
                      for i in range(n_series)], ignore_index=True)


def test_analog_forecasts_a_repeating_shape_better_than_seasonal_naive():
    given = fc.model("analog", k=10, temperature=0.1)   # the method itself; its own choice is tested below
    backtest = fc.run_backtest(cycles(3, 600, noise=0.2), [given], h=24, n_windows=2, level=[80])
    mase = backtest.ranking.set_index("model")["mase"]
    assert mase["analog"] < 0.8 * mase["seasonal_naive"]
    assert 0.6 <= backtest.ranking.set_index("model").loc["analog", "coverage-80"] <= 0.97


def test_k_and_temperature_are_chosen_on_the_latest_cutoffs_unless_given(tmp_path):
    """Heavy noise on a repeating shape: averaging many analogues cancels the noise, so the choice takes many; a
    given k leaves only the temperature to choose, and giving both chooses nothing. A saved model keeps the choice."""
    noisy = cycles(2, 500, noise=2.0, seed=1)
    fit = fc.Forecaster(["analog"], h=24).fit(noisy).states[0][0]
    assert set(fit.choice) == {(k, t) for k in K_CANDIDATES for t in TEMPERATURE_CANDIDATES}
    assert all(0 < error < 10 for error in fit.choice.values())
    chosen = min(fit.choice, key=fit.choice.get)
    assert (fit.retriever.k, fit.temperature) == chosen and chosen[0] >= 20
    assert fit.choice[chosen] < 0.9 * fit.choice[(1, 0.1)]
    given_k = fc.Forecaster([fc.model("analog", k=7)], h=24).fit(noisy).states[0][0]
    assert {k for k, _ in given_k.choice} == {7} and len(given_k.choice) == len(TEMPERATURE_CANDIDATES)
    given = fc.Forecaster([fc.model("analog", k=7, temperature=0.3)], h=24).fit(noisy)
    assert list(given.states[0][0].choice) == [(7, 0.3)] and given.states[0][0].retriever.k == 7
    forecaster = fc.Forecaster(["analog"], h=24, level=[80]).fit(noisy)
    forecaster.save(tmp_path / "analog")
    loaded = fc.Forecaster.load(tmp_path / "analog")
    assert (loaded.states[0][0].retriever.k, loaded.states[0][0].temperature) == chosen
    pd.testing.assert_frame_equal(loaded.predict(), forecaster.predict())


def test_retrieving_in_small_chunks_changes_nothing(monkeypatch):
    """The queries are retrieved in chunks that bound memory (k = 500 analogues of h = 720 steps for 2000 windows
    would take gigabytes at once); one query per chunk gives the same choice, bands and forecasts."""
    panel = cycles(2, 400, noise=0.5, seed=2)
    whole = fc.Forecaster(["analog"], h=24, level=[80]).fit(panel)
    monkeypatch.setattr(analog, "RETRIEVED_BYTES", 1)
    assert analog.query_chunks(3, whole.states[0][0].retriever) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    chunked = fc.Forecaster(["analog"], h=24, level=[80]).fit(panel)
    assert chunked.states[0][0].choice == pytest.approx(whole.states[0][0].choice)
    np.testing.assert_allclose(chunked.states[0][0].calibration_scores, whole.states[0][0].calibration_scores,
                               rtol=1e-6)
    pd.testing.assert_frame_equal(chunked.predict(), whole.predict())


def test_the_analogues_are_shown_and_never_come_from_after_the_cutoff():
    panel = cycles(2, 400)
    forecaster = fc.Forecaster([fc.model("analog", k=5)], h=24, level=[80]).fit(panel)
    assert forecaster.retrieving_models == ["analog"]
    table = forecaster.analogues()
    assert list(table.columns) == ["unique_id", "rank", "series", "library", "start", "cutoff", "end", "similarity",
                                   "weight"]
    assert table.groupby("unique_id").size().to_dict() == {"s0": 5, "s1": 5}
    assert (table["end"] <= panel["ds"].max()).all() and not table["library"].any()
    assert (table["end"] - table["start"] == pd.Timedelta(hours=48 + 24 - 1)).all()    # lookback 2h, then h
    np.testing.assert_allclose(table.groupby("unique_id")["weight"].sum(), 1.0)
    assert table["similarity"].between(0.9, 1.0).all()          # the same daily shape, shifted by whole days
    assert ((table["cutoff"] - panel["ds"].max()) % pd.Timedelta(days=1) == pd.Timedelta(0)).all()
    # the futures shown are what the forecast averages: weighted by the table's weights, they are the forecast
    futures = forecaster.analogue_futures()
    assert list(futures.columns) == ["unique_id", "rank", "ds", "value"] and len(futures) == 2 * 5 * 24
    weighted = futures.merge(table[["unique_id", "rank", "weight"]]).assign(part=lambda f: f["value"] * f["weight"])
    forecast = forecaster.predict().set_index(["unique_id", "ds"])["analog"]
    np.testing.assert_allclose(weighted.groupby(["unique_id", "ds"])["part"].sum().reindex(forecast.index), forecast,
                               rtol=1e-5, atol=1e-6)
    naive = fc.Forecaster(["naive"], h=2).fit(panel)
    assert naive.retrieving_models == []
    with pytest.raises(ValueError, match="retrieves no analogues"):
        naive.analogues("naive")
    with pytest.raises(ValueError, match=r"no model 'dlinear' in this forecaster; it has \['analog'\]"):
        forecaster.analogues("dlinear")


def test_a_backtest_window_retrieves_nothing_from_its_own_future():
    """A copy of the last 72 hours planted 200 hours earlier in another series: the forecast from 24 hours before
    the end finds the copy's earlier part, but never a window whose future is the copy of its own horizon."""
    panel = cycles(2, 400, noise=1.0, seed=3)
    y = panel["y"].to_numpy().copy()
    s0 = np.flatnonzero(panel["unique_id"] == "s0")
    s1 = np.flatnonzero(panel["unique_id"] == "s1")
    y[s1[-272:-200]] = y[s0[-72:]]                       # s1 carries s0's last 72 hours, 200 hours earlier
    panel["y"] = y
    # a sharp softmax, so the exact copy carries the forecast (the chosen temperature is tested elsewhere)
    forecaster = fc.Forecaster([fc.model("analog", k=3, lookback=48, temperature=0.02)], h=24)
    history = panel.groupby("unique_id").head(400 - 24)   # s0's last 24 hours are the horizon
    table = forecaster.fit(history).analogues()
    s0_table = table[table["unique_id"] == "s0"]
    assert (s0_table["end"] <= history["ds"].max()).all()
    # with the planted copy's future (s0's horizon) in s1 and visible, the best analogue is the exact copy
    assert s0_table["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-5)
    assert s0_table["series"].iloc[0] == "s1"
    forecast = forecaster.predict()
    truth = panel[panel["unique_id"] == "s0"]["y"].to_numpy()[-24:]
    assert np.abs(forecast[forecast["unique_id"] == "s0"]["analog"].to_numpy() - truth).max() < 0.5


def test_a_library_lends_its_windows_and_is_named(tmp_path):
    """The user's one series is too short to have seen its next eight hours' shape; a library file holds it."""
    own = cycles(1, 30, noise=0.0)
    library = cycles(1, 500, noise=0.0, start="2010-01-01").assign(unique_id="reference")
    path = tmp_path / "library.csv"
    library.to_csv(path, index=False)
    without = fc.Forecaster([fc.model("analog", lookback=8)], h=8).fit(own)
    with_library = fc.Forecaster([fc.model("analog", lookback=8, library=str(path))], h=8).fit(own)
    table = with_library.analogues()
    assert table["library"].all() and (table["series"] == "library:reference").all()
    assert (table["start"] < pd.Timestamp("2011-01-01")).all() and (table["similarity"] > 0.999).all()
    truth = np.resize(np.r_[np.linspace(0, 1, 12), np.linspace(1, -0.5, 8), np.linspace(-0.5, 0, 4)], 38)[30:]
    error = {name: np.abs(f.predict()["analog"].to_numpy() - truth).mean()
             for name, f in (("without", without), ("with", with_library))}
    assert error["with"] < 1e-6 < 0.01 < error["without"]
    # a frame works as well as a file, and the library is never written into a model file
    frame_fit = fc.Forecaster([fc.model("analog", lookback=8, library=library)], h=8).fit(own)
    pd.testing.assert_frame_equal(frame_fit.predict(), with_library.predict())
    with_library.save(tmp_path / "model")
    assert "reference" not in (tmp_path / "model" / "config.json").read_text().replace("library:reference", "")
    loaded = fc.Forecaster.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict(), with_library.predict())
    pd.testing.assert_frame_equal(loaded.analogues(), table)


@pytest.mark.parametrize("method, dtw", [("exact", False), ("hnsw", False), ("exact", True)])
def test_saved_and_loaded_it_forecasts_the_same(tmp_path, method, dtw):
    panel = cycles(3, 300, noise=0.3)
    forecaster = fc.Forecaster([fc.model("analog", method=method, dtw=dtw)], h=24, level=[80, 95]).fit(panel)
    forecaster.save(tmp_path / method)
    loaded = fc.Forecaster.load(tmp_path / method)
    pd.testing.assert_frame_equal(loaded.predict(), forecaster.predict())
    pd.testing.assert_frame_equal(loaded.analogues(), forecaster.analogues())
    assert loaded.states[0][0].retriever.index.method == method and loaded.states[0][0].retriever.dtw == dtw


def test_a_library_that_cannot_be_read_is_named():
    with pytest.raises(fc.DataError, match="the retrieval library 'no-such-library.csv' is not a file"):
        fc.Forecaster([fc.model("analog", library="no-such-library.csv")], h=12).fit(cycles(1, 100))
    with pytest.raises(TypeError, match="a retrieval library is a file path, a Panel or a long frame, not int"):
        fc.model("analog", library=3)
    with pytest.raises(fc.DataError, match="the retrieval library: .*'y'"):
        fc.Forecaster([fc.model("analog", library=pd.DataFrame({"unique_id": ["a"], "ds": [1]}))], h=12).fit(
            cycles(1, 100))


def test_the_report_shows_what_was_retrieved_for_the_worst_window():
    panel = cycles(2, 400, noise=0.5)
    backtest = fc.run_backtest(panel, [fc.model("analog", k=4), "ets"], h=24, n_windows=3)
    worst, = backtest.worst_windows                      # ETS and seasonal naive retrieve nothing
    mase = backtest.per_series[backtest.per_series["metric"] == "mase"]
    expected = mase.loc[mase["analog"].idxmax()]
    assert (worst.model, worst.unique_id, worst.cutoff, worst.metric) == (
        "analog", expected["unique_id"], expected["cutoff"], "mase")
    assert worst.score == pytest.approx(expected["analog"])
    assert len(worst.analogues) == 4 and (worst.analogues["end"] <= worst.cutoff).all()
    assert (worst.analogues["unique_id"] == worst.unique_id).all()
    assert worst.futures["ds"].min() == worst.cutoff + pd.Timedelta(hours=1) and len(worst.futures) == 4 * 24
    html = fc.render_report(backtest)
    assert html.count("What analog retrieved for its worst forecast") == 1 and "What ets retrieved" not in html
    assert f"series {worst.unique_id}, forecast from {worst.cutoff}" in html
    section = html[html.index("What analog retrieved"):html.index("<h2>Per series</h2>")]
    first = worst.analogues.iloc[0]
    assert section.count("<tr><td>") == 4 and f"#1 {first['series']}, {first['start']:%Y-%m-%d %H:%M}" in section

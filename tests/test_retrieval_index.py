"""The window index: shape-aware keys, no leakage from any query's future, faiss exact and HNSW, saved as arrays."""
import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

from forecasting.retrieval.index import ALWAYS, IndexedSeries, WindowIndex
from forecasting.retrieval.keys import FUTURE_LIMIT, in_own_scale, in_query_scale, key_size, window_keys, window_scale
from forecasting.retrieval.retriever import Retriever

LOOKBACK, HORIZON = 48, 12


def hourly(name: str, y: np.ndarray, start: str = "2024-01-01") -> IndexedSeries:
    return IndexedSeries(name, pd.date_range(start, periods=len(y), freq="h"), np.asarray(y, float))


def noise(seed: int, length: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=length).cumsum()


def test_keys_compare_shape_not_level_or_scale():
    rng = np.random.default_rng(0)
    window = rng.normal(size=LOOKBACK).cumsum()
    keys = window_keys(np.stack([window, 7 * window - 3, -window, np.full(LOOKBACK, 5.0), rng.normal(size=LOOKBACK)]))
    assert keys.shape == (5, key_size(LOOKBACK)) == (5, 48 + 24 + 12)
    similarity = keys @ keys[0]
    np.testing.assert_allclose(similarity[:3], [1, 1, -1], atol=1e-6)
    assert similarity[3] == 0 and abs(similarity[4]) < 0.5       # a flat window resembles nothing
    # a future comes back in the query's units
    mean, deviation = window_scale(np.stack([window, 7 * window - 3]))
    np.testing.assert_allclose(mean[1], 7 * mean[0] - 3) and np.testing.assert_allclose(deviation[1], 7 * deviation[0])
    value = np.array([[[1.0, -1.0]]])
    np.testing.assert_allclose(in_query_scale(value, mean[1:], deviation[1:])[0, 0], mean[1] + deviation[1] * np.array([1, -1]))


def test_a_future_far_outside_its_nearly_flat_lookback_is_clipped():
    """A window that barely moved before a jump (M4 Weekly has such) offers a future of at most FUTURE_LIMIT of its
    deviations, so one analogue cannot swamp the average; an ordinary future passes unchanged."""
    lookback = np.r_[np.full(LOOKBACK - 1, 100.0), 100.01]                       # deviation about 0.0014
    mean, deviation = window_scale(lookback[None])
    values = in_own_scale(np.array([[100.0, 130.0, 70.0]]), mean, deviation)[0]
    np.testing.assert_allclose(values, [(100.0 - mean[0]) / deviation[0], FUTURE_LIMIT, -FUTURE_LIMIT], rtol=1e-5)
    assert abs(values[0]) < 1
    index = WindowIndex.build([hourly("jump", np.r_[lookback, 130.0, np.full(HORIZON - 1, 130.0)])], LOOKBACK, HORIZON)
    np.testing.assert_allclose(index.futures[0], np.full(HORIZON, FUTURE_LIMIT))


def test_a_planted_copy_is_found_only_where_it_was_observed_before_the_cutoff():
    """A query window's exact copy (lookback and future) planted in another series: found when that copy
    ended before the query's cutoff, never when it ends later, or overlaps the query's own horizon."""
    query_series = noise(0, 600)
    cutoff_row = 400                                          # the query's last observed row
    segment = query_series[cutoff_row - LOOKBACK + 1:cutoff_row + 1 + HORIZON]     # its lookback and future
    for copy_end, found in ((cutoff_row - 100, True), (cutoff_row + 100, False), (cutoff_row + 5, False)):
        other = noise(1, 600)
        other[copy_end - len(segment) + 1:copy_end + 1] = segment
        index = WindowIndex.build([hourly("query", query_series), hourly("other", other)], LOOKBACK, HORIZON)
        cutoff = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=cutoff_row)
        analogues = index.search(query_series[None, cutoff_row - LOOKBACK + 1:cutoff_row + 1],
                                 np.array([cutoff.value]), k=20)
        table = index.describe(analogues)
        assert (table["end"] <= cutoff).all()
        copy = (table["series"] == "other") & (table["end"] == pd.Timestamp("2024-01-01") + pd.Timedelta(hours=copy_end))
        assert copy.any() == found
        if found:
            assert copy.iloc[0] and table["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-5)
            np.testing.assert_allclose(index.futures[analogues.rows[0, 0]],
                                       (segment[LOOKBACK:] - segment[:LOOKBACK].mean()) / segment[:LOOKBACK].std(),
                                       rtol=1e-5, atol=1e-5)


def test_no_query_sees_a_window_that_ends_after_its_cutoff():
    series = [hourly(f"s{i}", noise(i, 300)) for i in range(4)]
    index = WindowIndex.build(series, LOOKBACK, HORIZON)
    assert len(index) == 4 * (300 - LOOKBACK - HORIZON + 1)
    rng = np.random.default_rng(5)
    rows = rng.integers(LOOKBACK, 300, 200)
    picks = rng.integers(0, 4, 200)
    queries = np.stack([series[s].y[r - LOOKBACK:r] for s, r in zip(picks, rows)])
    cutoffs = np.array([series[s].ds[r - 1].value for s, r in zip(picks, rows)])
    analogues = index.search(queries, cutoffs, k=8)
    found = analogues.rows >= 0
    assert (index.times[analogues.rows[found], 2] <= np.broadcast_to(cutoffs[:, None], found.shape)[found]).all()
    # a query early in the series has fewer visible windows than k: the rest is -1 / NaN
    earliest = int(np.argmin(rows))
    visible = int((index.available <= cutoffs[earliest]).sum())
    assert found[earliest].sum() == min(8, visible) and np.isnan(analogues.similarity[earliest, visible:]).all()


def test_library_windows_are_visible_to_every_query():
    library = [hourly("lib", noise(9, 200), start="2030-01-01")]       # later than the query, but another data set
    index = WindowIndex.build([hourly("own", noise(3, 120))], LOOKBACK, HORIZON, library=library)
    assert index.names == ["lib", "own"] and index.library[:141].all() and (index.available[:141] == ALWAYS).all()
    analogues = index.search(noise(3, 120)[None, :LOOKBACK], np.array([pd.Timestamp("2024-01-02").value]), k=5)
    assert (analogues.rows[0] >= 0).all() and index.library[analogues.rows[0]].all()


@pytest.mark.parametrize("method", ["exact", "hnsw"])
def test_the_index_round_trips_through_a_file_with_identical_results(tmp_path, method):
    series = [hourly(f"s{i}", noise(i, 400)) for i in range(3)]
    index = WindowIndex.build(series, LOOKBACK, HORIZON, library=[hourly("lib", noise(7, 300))], method=method)
    assert index.method == method
    save_file(index.to_arrays(), tmp_path / "index.safetensors")
    loaded = WindowIndex.from_arrays(load_file(tmp_path / "index.safetensors"), index.names, LOOKBACK, HORIZON)
    queries = np.stack([s.y[-LOOKBACK:] for s in series])
    cutoffs = np.array([s.ds[-1].value - 3_600_000_000_000 * 100 for s in series])   # 100 hours before the end
    before, after = index.search(queries, cutoffs, 10), loaded.search(queries, cutoffs, 10)
    np.testing.assert_array_equal(before.rows, after.rows)
    np.testing.assert_array_equal(before.similarity, after.similarity)
    pd.testing.assert_frame_equal(index.describe(before), loaded.describe(after))
    arrays = load_file(tmp_path / "index.safetensors")
    with pytest.raises(ValueError, match="do not fit together: futures"):
        WindowIndex.from_arrays({**arrays, "index.futures": arrays["index.futures"][:, :5]}, index.names, LOOKBACK, HORIZON)
    with pytest.raises(ValueError, match="the retrieval index lacks keys"):
        WindowIndex.from_arrays({name: a for name, a in arrays.items() if name != "index.keys"}, index.names,
                                LOOKBACK, HORIZON)
    with pytest.raises(ValueError, match="not in the order they become visible"):
        WindowIndex.from_arrays({**arrays, "index.times": arrays["index.times"][::-1].copy()}, index.names, LOOKBACK, HORIZON)


def test_hnsw_finds_most_of_what_exact_search_finds():
    series = [hourly(f"s{i}", noise(i, 2000)) for i in range(5)]
    exact = WindowIndex.build(series, LOOKBACK, HORIZON, method="exact")
    graph = WindowIndex.build(series, LOOKBACK, HORIZON, method="hnsw")
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(100, LOOKBACK)).cumsum(axis=1)
    everything = np.full(100, series[0].ds[-1].value)
    truth, approximate = exact.search(queries, everything, 10).rows, graph.search(queries, everything, 10).rows
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, approximate)])
    assert recall > 0.9


def test_auto_searches_exactly_below_30000_windows_and_by_graph_from_there():
    for windows, method in ((29_999, "exact"), (30_000, "hnsw")):
        series = hourly("s", noise(0, windows + LOOKBACK + HORIZON - 1))
        index = WindowIndex.build([series], LOOKBACK, HORIZON)
        assert (len(index), index.method) == (windows, method)


def test_bad_settings_and_queries_are_clear_errors():
    with pytest.raises(ValueError, match="retrieval method must be one of auto, exact, hnsw, got 'ivf'"):
        WindowIndex.build([hourly("s", noise(0, 100))], LOOKBACK, HORIZON, method="ivf")
    index = WindowIndex.build([hourly("s", noise(0, 100))], LOOKBACK, HORIZON)
    with pytest.raises(ValueError, match="queries must be windows of 48 steps, got shape"):
        index.search(np.zeros((2, 10)), np.zeros(2, np.int64), 3)


def one_window(name: str, history: np.ndarray, seed: int) -> IndexedSeries:
    """A series that is exactly one window: `history`, then a future of noise."""
    future = np.random.default_rng(seed).normal(size=HORIZON)
    return hourly(name, np.r_[history, future])


def test_dtw_re_ranking_prefers_a_shape_that_comes_a_little_late():
    """A narrow bump: a copy 4 steps late correlates weakly with it (the bumps barely overlap) but is close
    under DTW; a noisy copy in place correlates better and is farther under DTW."""
    steps = np.arange(LOOKBACK)
    bump = lambda at: np.exp(-0.5 * ((steps - at) / 1.5) ** 2)
    rng = np.random.default_rng(0)
    index = WindowIndex.build([one_window("late", bump(34), 1), one_window("noisy", bump(30) + rng.normal(0, 0.15, LOOKBACK), 2),
                               one_window("other", rng.normal(size=LOOKBACK), 3)], LOOKBACK, HORIZON)
    query, everything = bump(30)[None], np.array([pd.Timestamp("2030-01-01").value])
    by_correlation = Retriever(index, 1).search(query, everything)
    by_dtw = Retriever(index, 1, dtw=True).search(query, everything)
    assert index.names[index.series[by_correlation.rows[0, 0]]] == "noisy"
    assert index.names[index.series[by_dtw.rows[0, 0]]] == "late"
    # the similarity reported stays the correlation, for weighting
    assert by_dtw.similarity[0, 0] == pytest.approx(float(window_keys(query)[0] @ index.keys[by_dtw.rows[0, 0]]), abs=1e-5)


def test_dtw_keeps_the_cutoff():
    series = [hourly(f"s{i}", noise(i, 300)) for i in range(3)]
    index = WindowIndex.build(series, LOOKBACK, HORIZON)
    cutoffs = np.array([series[0].ds[150].value, series[1].ds[299].value])
    found = Retriever(index, 5, dtw=True).search(np.stack([series[0].y[103:151], series[1].y[-LOOKBACK:]]), cutoffs)
    assert (found.rows >= 0).all()
    assert (index.times[found.rows, 2] <= cutoffs[:, None]).all()

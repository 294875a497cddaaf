"""The analogues of windows, ready to use: their futures in each query's units, and their similarity.

Analogues are the windows of highest similarity (Pearson correlation over granularities). With `dtw`,
the DTW_CANDIDATES x k most similar are re-ranked by their dynamic-time-warping distance to the query
(shapes z-normalised, a Sakoe-Chiba band of a tenth of the window), and the k nearest kept: a shape
that comes a little early or late is found as close, where correlation would mark it down.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from dtaidistance import dtw as dynamic_time_warping

from forecasting.retrieval.index import Analogues, WindowIndex
from forecasting.retrieval.keys import history_in_own_scale, in_query_scale, window_keys, window_scale

DTW_CANDIDATES = 4   # with DTW re-ranking: correlation's top DTW_CANDIDATES x k are re-ranked


@dataclass
class Retrieved:
    """The k analogues of Q query windows."""

    found: Analogues         # rows [Q, k] of the index (-1: none) and similarity [Q, k] (NaN: none)
    futures: np.ndarray      # [Q, k, H] float32 in each query's units; NaN where none was found
    histories: np.ndarray    # [Q, k, L] float32, their lookback windows, likewise


@dataclass
class NextAnalogues:
    """What each series' next forecast retrieves, and how much it weighs each analogue."""

    retrieved: Retrieved
    weights: np.ndarray      # [S, k], summing to 1 over the analogues found
    index: WindowIndex       # where they come from (`WindowIndex.describe`)


def last_windows(values: list[np.ndarray], last_ds: list, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Each series' last `lookback` steps [S, L] and the time of its last step (int64 ns) [S]: its next query."""
    return (np.stack([np.asarray(y[-lookback:], np.float64) for y in values]),
            np.array([np.datetime64(last, "ns").astype(np.int64) for last in last_ds], np.int64))


@dataclass
class Retriever:
    """k analogues per query window from `index`; with `dtw`, re-ranked by DTW distance."""

    index: WindowIndex
    k: int
    dtw: bool = False

    def retrieve(self, queries: np.ndarray, cutoffs: np.ndarray) -> Retrieved:
        """queries [Q, L] (any units: the keys ignore level and scale), cutoffs [Q] (int64 ns: the time of
        each query's last step, which decides what it may see)."""
        return self.futures_of(self.search(queries, cutoffs), queries)

    def search(self, queries: np.ndarray, cutoffs: np.ndarray) -> Analogues:
        """The k analogues of each query that its cutoff lets it see."""
        if not self.dtw:
            return self.index.search(queries, cutoffs, self.k)
        return self._nearest_by_dtw(queries, self.index.search(queries, cutoffs, DTW_CANDIDATES * self.k))

    def _nearest_by_dtw(self, queries: np.ndarray, candidates: Analogues) -> Analogues:
        lookback = self.index.lookback
        shapes = window_keys(queries)[:, :lookback].astype(np.float64)      # z-normalised, as the index's
        band = max(1, lookback // 10)
        rows = np.full((len(queries), self.k), -1, np.int64)
        similarity = np.full((len(queries), self.k), np.nan, np.float32)
        for q, (query, found) in enumerate(zip(shapes, candidates.rows)):
            found = found[found >= 0]
            distance = [dynamic_time_warping.distance_fast(query, self.index.keys[row, :lookback].astype(np.float64),
                                                           window=band) for row in found]
            nearest = np.argsort(distance, kind="stable")[:self.k]
            rows[q, :len(nearest)] = found[nearest]
            similarity[q, :len(nearest)] = candidates.similarity[q, :len(found)][nearest]
        return Analogues(rows, similarity)

    def futures_of(self, found: Analogues, queries: np.ndarray) -> Retrieved:
        """The analogues `found` for `queries`, their futures put into each query's units."""
        mean, deviation = window_scale(queries)
        rows = np.maximum(found.rows, 0)
        futures = in_query_scale(self.index.futures[rows], mean, deviation)                        # [Q, k, H]
        histories = in_query_scale(history_in_own_scale(self.index.keys[rows.reshape(-1)], self.index.lookback)
                                   .reshape(*rows.shape, -1), mean, deviation)                       # [Q, k, L]
        futures[found.rows < 0] = histories[found.rows < 0] = np.nan
        return Retrieved(found, futures.astype(np.float32), histories.astype(np.float32))

"""The analogues of windows, ready to use: their futures in each query's units, and their similarity."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecasting.retrieval.index import Analogues, WindowIndex
from forecasting.retrieval.keys import in_query_scale, window_scale


@dataclass
class Retrieved:
    """The k analogues of Q query windows."""

    found: Analogues         # rows [Q, k] of the index (-1: none) and similarity [Q, k] (NaN: none)
    futures: np.ndarray      # [Q, k, H] float32 in each query's units; NaN where none was found


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
    """k analogues per query window from `index`."""

    index: WindowIndex
    k: int

    def retrieve(self, queries: np.ndarray, cutoffs: np.ndarray) -> Retrieved:
        """queries [Q, L] (any units: the keys ignore level and scale), cutoffs [Q] (int64 ns: the time of
        each query's last step, which decides what it may see)."""
        return self.futures_of(self.index.search(queries, cutoffs, self.k), queries)

    def futures_of(self, found: Analogues, queries: np.ndarray) -> Retrieved:
        """The analogues `found` for `queries`, their futures put into each query's units."""
        mean, deviation = window_scale(queries)
        futures = in_query_scale(self.index.futures[np.maximum(found.rows, 0)], mean, deviation)   # [Q, k, H]
        futures[found.rows < 0] = np.nan
        return Retrieved(found, futures.astype(np.float32))

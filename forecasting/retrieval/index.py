"""An index of historical windows (faiss): the analogues of a window, never from its future.

Every window of `lookback + horizon` steps of the indexed series is a row: its key (see `keys`), its
future in its own scale, the series it comes from and when. Series are the user's own (the history a
model is fitted on) or a library of other series the user supplies.

No leakage, by construction: each row of the user's own series is visible only to a query whose
cutoff (its last observed time) is at or after the row's last future time; the rows are kept in that
order (library rows first: they are always visible), so a query sees a prefix of the index and faiss
searches only that prefix (`IDSelectorRange`). A window never finds itself, a window whose future
overlaps its own horizon, any series' values after its cutoff, or, in a backtest, a later cutoff's data.

Search is exact (inner product over every visible row) below `EXACT_BELOW` rows and approximate above
(HNSW graph), or as `method` says. The index is saved as arrays (faiss's own binary format for the
graph, no pickle) beside the model.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from forecasting.retrieval.keys import in_own_scale, key_size, window_keys, window_scale

METHODS = ("auto", "exact", "hnsw")
# rows: exact search below, HNSW at and above (method "auto"). From 30,000 rows a single search of half the
# rows (a training window's) takes HNSW a third of exact's time or less, so its longer build pays back within
# about 4,500 searches, far fewer than a network's fit makes; at 10,000 the two search as fast
# (BENCHMARKS.md, "The retrieval index")
EXACT_BELOW = 30_000
HNSW_NEIGHBOURS = 32           # graph degree
HNSW_BUILD_DEPTH = 80          # efConstruction
HNSW_SEARCH_DEPTH = 128        # efSearch: candidates kept per query (recall against speed)
ALWAYS = np.iinfo(np.int64).min  # the "available" time of a library row: visible to every query


@dataclass
class IndexedSeries:
    """One series to index: its name, timestamps and values."""

    name: str
    ds: pd.DatetimeIndex
    y: np.ndarray


@dataclass
class Analogues:
    """The top-k analogues of each query; -1 / NaN where fewer were visible."""

    rows: np.ndarray        # [Q, k] rows of the index
    similarity: np.ndarray  # [Q, k] mean Pearson correlation over the granularities, in [-1, 1]


class WindowIndex:
    """Rows sorted by the time they become visible. Build with `build`, reload with `from_arrays`."""

    def __init__(self, search_index: faiss.Index, futures: np.ndarray, series: np.ndarray, names: list[str],
                 library: np.ndarray, times: np.ndarray, lookback: int, horizon: int):
        self.search_index = search_index
        self.futures = futures        # [M, H] float32, each in its own lookback's scale
        self.series = series          # [M] int32, into names
        self.names = names            # series names; library series first
        self.library = library        # [M] bool
        self.times = times            # [M, 3] int64 ns: the window's first step, last lookback step, last step
        self.lookback, self.horizon = lookback, horizon
        # when a query may see each row: once its last step is observed; a library row always
        self.available = np.where(library, ALWAYS, times[:, 2])

    def __len__(self) -> int:
        return len(self.futures)

    @property
    def method(self) -> str:
        return "hnsw" if isinstance(self.search_index, faiss.IndexHNSW) else "exact"

    # ---- building ------------------------------------------------------------------------------

    @classmethod
    def build(cls, own: Sequence[IndexedSeries], lookback: int, horizon: int,
              library: Sequence[IndexedSeries] = (), method: str = "auto") -> WindowIndex:
        """Every window of `lookback + horizon` steps of the own and the library series."""
        if method not in METHODS:
            raise ValueError(f"retrieval method must be one of {', '.join(METHODS)}, got {method!r}")
        span = lookback + horizon
        keys, futures, series, times, is_library = [], [], [], [], []
        for number, (item, from_library) in enumerate([(s, True) for s in library] + [(s, False) for s in own]):
            y = np.asarray(item.y, np.float64)
            if len(y) < span:
                continue
            windows = np.lib.stride_tricks.sliding_window_view(y, span)              # [N, L + H], a view
            history = windows[:, :lookback]
            mean, deviation = window_scale(history)
            keys.append(window_keys(history))
            futures.append(in_own_scale(windows[:, lookback:], mean, deviation))
            series.append(np.full(len(windows), number, np.int32))
            stamps = pd.DatetimeIndex(item.ds).asi8
            times.append(np.stack([stamps[:len(windows)], stamps[lookback - 1:lookback - 1 + len(windows)],
                                   stamps[span - 1:]], axis=1))
            is_library.append(np.full(len(windows), from_library))
        names = [s.name for s in library] + [s.name for s in own]
        if not keys:
            return cls(_search_index(np.zeros((0, key_size(lookback)), np.float32), method),
                       np.zeros((0, horizon), np.float32), np.zeros(0, np.int32), names, np.zeros(0, bool),
                       np.zeros((0, 3), np.int64), lookback, horizon)
        is_library, times = np.concatenate(is_library), np.concatenate(times)
        order = np.argsort(np.where(is_library, ALWAYS, times[:, 2]), kind="stable")    # visible-from order
        return cls(_search_index(np.concatenate(keys)[order], method), np.concatenate(futures)[order],
                   np.concatenate(series)[order], names, is_library[order], times[order], lookback, horizon)

    # ---- searching -----------------------------------------------------------------------------

    def search(self, queries: np.ndarray, cutoffs: np.ndarray, k: int) -> Analogues:
        """The k most similar visible rows for each query window [Q, L], whose cutoff (the time of its
        last step, int64 ns) decides which rows it may see."""
        queries = np.asarray(queries)
        if queries.ndim != 2 or queries.shape[1] != self.lookback:
            raise ValueError(f"queries must be windows of {self.lookback} steps, got shape {queries.shape}")
        rows = np.full((len(queries), k), -1, np.int64)
        similarity = np.full((len(queries), k), np.nan, np.float32)
        if k == 0 or len(self) == 0:
            return Analogues(rows, similarity)
        keys = window_keys(queries)
        visible = np.searchsorted(self.available, np.asarray(cutoffs, np.int64), side="right")
        for count in np.unique(visible):           # one search per visible prefix
            if count == 0:
                continue
            chosen = np.flatnonzero(visible == count)
            found_similarity, found_rows = self.search_index.search(keys[chosen], int(min(k, count)),
                                                                    params=self._prefix(int(count)))
            rows[chosen, :found_rows.shape[1]] = found_rows
            similarity[chosen, :found_rows.shape[1]] = np.where(found_rows >= 0, found_similarity, np.nan)
        return Analogues(rows, similarity)

    def _prefix(self, count: int) -> faiss.SearchParameters | None:
        """Search parameters that limit a search to rows [0, count) (None: every row, no limit)."""
        if count >= len(self) and self.method == "exact":
            return None
        params = faiss.SearchParametersHNSW() if self.method == "hnsw" else faiss.SearchParameters()
        if self.method == "hnsw":
            params.efSearch = HNSW_SEARCH_DEPTH
        if count < len(self):
            params.sel = faiss.IDSelectorRange(0, count)
        return params

    # ---- describing ----------------------------------------------------------------------------

    def describe(self, analogues: Analogues, weights: np.ndarray | None = None) -> pd.DataFrame:
        """One row per analogue: query, rank, series, library, start, cutoff (its lookback's last step),
        end (its future's last step), similarity and weight."""
        query, rank = np.nonzero(analogues.rows >= 0)
        rows = analogues.rows[query, rank]
        times = self.times[rows]
        frame = pd.DataFrame({
            "query": query, "rank": rank + 1, "series": [self.names[s] for s in self.series[rows]],
            "library": self.library[rows], "start": pd.to_datetime(times[:, 0]),
            "cutoff": pd.to_datetime(times[:, 1]), "end": pd.to_datetime(times[:, 2]),
            "similarity": analogues.similarity[query, rank].astype(float),
        })
        if weights is not None:
            frame["weight"] = weights[query, rank]
        return frame

    # ---- saving ----------------------------------------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"search_index": faiss.serialize_index(self.search_index), "futures": self.futures,
                "series": self.series, "library": self.library.astype(np.uint8), "times": self.times}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], names: list[str], lookback: int, horizon: int) -> WindowIndex:
        """The index `to_arrays` wrote. Raises ValueError where the arrays do not fit together."""
        search_index = faiss.deserialize_index(np.ascontiguousarray(arrays["search_index"], np.uint8))
        futures, series, times = arrays["futures"], arrays["series"], arrays["times"]
        rows = len(futures)
        problems = [name for name in ("series", "library", "times") if len(arrays[name]) != rows]
        if search_index.ntotal != rows or search_index.d != key_size(lookback):
            problems.append("search_index")
        if futures.ndim != 2 or futures.shape[1] != horizon:
            problems.append("futures")
        if rows and (series.min() < 0 or series.max() >= len(names)):
            problems.append("series")
        if times.ndim != 2 or times.shape[1] != 3:
            problems.append("times")
        if problems:
            raise ValueError(f"the retrieval index's arrays do not fit together: {', '.join(sorted(set(problems)))}")
        index = cls(search_index, futures, series.astype(np.int32), names, arrays["library"].astype(bool),
                    times.astype(np.int64), lookback, horizon)
        if np.any(index.available[1:] < index.available[:-1]):
            raise ValueError("the retrieval index's rows are not in the order they become visible")
        return index


def _search_index(keys: np.ndarray, method: str) -> faiss.Index:
    """Inner-product search over `keys`: a flat index, or an HNSW graph for many rows."""
    dimension = keys.shape[1]
    if method == "hnsw" or (method == "auto" and len(keys) >= EXACT_BELOW):
        search_index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        search_index.hnsw.efConstruction = HNSW_BUILD_DEPTH
    else:
        search_index = faiss.IndexFlatIP(dimension)
    search_index.add(np.ascontiguousarray(keys, np.float32))
    return search_index


"""An index of historical windows (faiss): the analogues of a window, never from its future.

Every window of `lookback + horizon` steps of the indexed series is a row: its key (see `keys`), its
future in its own scale, the series it comes from and when. Series are the user's own (the history a
model is fitted on) or a library of other series the user supplies.

No leakage, by construction: each row of the user's own series is visible only to a query whose
cutoff (its last observed time) is at or after the row's last future time; the rows are kept in that
order (library rows first: they are always visible), so a query sees a prefix of the index and the
search looks only at that prefix. A window never finds itself, a window whose future
overlaps its own horizon, any series' values after its cutoff, or, in a backtest, a later cutoff's data.

Search is exact below `EXACT_BELOW` rows (every visible row scored by one matrix product per block of
queries, the rows after each query's cutoff masked out) and approximate above (a faiss HNSW graph,
searched within each query's visible prefix with `IDSelectorRange`), or as `method` says. The index is
saved as arrays (the graph in faiss's own binary format, no pickle) beside the model.
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
EXACT_BLOCK = 1 << 24          # scores held at once by exact search: queries per block x rows
ALWAYS = np.iinfo(np.int64).min  # the "available" time of a library row: visible to every query
SAVED_PREFIX = "index."          # the index's arrays among a fit's saved arrays


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

    def __init__(self, keys: np.ndarray, graph: faiss.IndexHNSW | None, futures: np.ndarray, series: np.ndarray,
                 names: list[str], library: np.ndarray, times: np.ndarray, lookback: int, horizon: int):
        self.keys = keys              # [M, D] float32 (see `keys.window_keys`)
        self.graph = graph            # an HNSW graph over the keys, for approximate search (None: exact)
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
        return "exact" if self.graph is None else "hnsw"

    # ---- building ------------------------------------------------------------------------------

    @classmethod
    def build(cls, own: Sequence[IndexedSeries], lookback: int, horizon: int,
              library: Sequence[IndexedSeries] = (), method: str = "auto") -> WindowIndex:
        """Every window of `lookback + horizon` steps of the own and the library series."""
        if method not in METHODS:
            raise ValueError(f"retrieval method must be one of {', '.join(METHODS)}, got {method!r}")
        span = lookback + horizon
        keys, futures, series, times, is_library = [np.zeros((0, key_size(lookback)), np.float32)], \
            [np.zeros((0, horizon), np.float32)], [np.zeros(0, np.int32)], [np.zeros((0, 3), np.int64)], [np.zeros(0, bool)]
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
        is_library, times = np.concatenate(is_library), np.concatenate(times)
        order = np.argsort(np.where(is_library, ALWAYS, times[:, 2]), kind="stable")    # visible-from order
        keys = np.ascontiguousarray(np.concatenate(keys)[order])
        use_graph = method == "hnsw" or (method == "auto" and len(keys) >= EXACT_BELOW)
        return cls(keys, _graph(keys) if use_graph else None, np.concatenate(futures)[order],
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
        search = self._exact if self.graph is None else self._approximate
        search(keys, visible, rows, similarity)
        return Analogues(rows, similarity)

    def _exact(self, keys: np.ndarray, visible: np.ndarray, rows: np.ndarray, similarity: np.ndarray) -> None:
        """Every visible row scored by one matrix product per block of queries; the top k kept."""
        k = rows.shape[1]
        block = max(1, EXACT_BLOCK // len(self))
        for start in range(0, len(keys), block):
            scores = keys[start:start + block] @ self.keys.T                    # [b, M]
            for i, count in enumerate(visible[start:start + block]):
                scores[i, count:] = -np.inf                                     # rows from after the cutoff
            top = np.argpartition(-scores, min(k, scores.shape[1]) - 1, axis=1)[:, :k]
            top_scores = np.take_along_axis(scores, top, axis=1)
            order = np.lexsort((top, -top_scores), axis=1)                      # best first; ties: earlier row
            top, top_scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
            found = np.isfinite(top_scores)
            width = top.shape[1]
            rows[start:start + block, :width] = np.where(found, top, -1)
            similarity[start:start + block, :width] = np.where(found, top_scores, np.nan)

    def _approximate(self, keys: np.ndarray, visible: np.ndarray, rows: np.ndarray, similarity: np.ndarray) -> None:
        """The HNSW graph searched once per visible prefix, limited to it (IDSelectorRange)."""
        k = rows.shape[1]
        for count in np.unique(visible):
            if count == 0:
                continue
            chosen = np.flatnonzero(visible == count)
            params = faiss.SearchParametersHNSW()
            params.efSearch = HNSW_SEARCH_DEPTH
            if count < len(self):
                selector = faiss.IDSelectorRange(0, int(count))
                params.sel = selector
            found_similarity, found_rows = self.graph.search(keys[chosen], int(min(k, count)), params=params)
            rows[chosen, :found_rows.shape[1]] = found_rows
            similarity[chosen, :found_rows.shape[1]] = np.where(found_rows >= 0, found_similarity, np.nan)

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
        """The index as named arrays ("index.keys", ...), to save beside a fit's own."""
        arrays = {"keys": self.keys, "futures": self.futures, "series": self.series,
                  "library": self.library.astype(np.uint8), "times": self.times}
        if self.graph is not None:
            arrays["graph"] = faiss.serialize_index(self.graph)
        return {f"{SAVED_PREFIX}{name}": array for name, array in arrays.items()}

    @classmethod
    def from_arrays(cls, saved: dict[str, np.ndarray], names: list[str], lookback: int, horizon: int) -> WindowIndex:
        """The index `to_arrays` wrote, from a fit's arrays. Raises ValueError where its arrays are missing or do
        not fit together."""
        arrays = {name.removeprefix(SAVED_PREFIX): array for name, array in saved.items()
                  if name.startswith(SAVED_PREFIX)}
        missing = sorted({"keys", "futures", "series", "library", "times"} - set(arrays))
        if missing:
            raise ValueError(f"the retrieval index lacks {', '.join(missing)}")
        keys, futures, series, times = arrays["keys"], arrays["futures"], arrays["series"], arrays["times"]
        rows = len(futures)
        problems = [name for name in ("keys", "series", "library", "times") if len(arrays[name]) != rows]
        if keys.ndim != 2 or keys.shape[1] != key_size(lookback):
            problems.append("keys")
        if futures.ndim != 2 or futures.shape[1] != horizon:
            problems.append("futures")
        if rows and (series.min() < 0 or series.max() >= len(names)):
            problems.append("series")
        if times.ndim != 2 or times.shape[1] != 3:
            problems.append("times")
        graph = None
        if "graph" in arrays:
            graph = faiss.deserialize_index(np.ascontiguousarray(arrays["graph"], np.uint8))
            if graph.ntotal != rows or graph.d != key_size(lookback):
                problems.append("graph")
        if problems:
            raise ValueError(f"the retrieval index's arrays do not fit together: {', '.join(sorted(set(problems)))}")
        index = cls(keys.astype(np.float32), graph, futures, series.astype(np.int32), names,
                    arrays["library"].astype(bool), times.astype(np.int64), lookback, horizon)
        if np.any(index.available[1:] < index.available[:-1]):
            raise ValueError("the retrieval index's rows are not in the order they become visible")
        return index


def _graph(keys: np.ndarray) -> faiss.IndexHNSW:
    """An HNSW graph for inner-product search over `keys`."""
    graph = faiss.IndexHNSWFlat(keys.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = HNSW_BUILD_DEPTH
    graph.add(keys)
    return graph

"""The retrieval index: exact search (one masked matrix product per block of queries) against HNSW (faiss
IndexHNSWFlat, the settings in forecasting/retrieval/index.py) at growing numbers of indexed windows of real series, lookback 96 and
horizon 24 (keys of 96 + 48 + 24 = 168 values).

The windows come from ETTm1 and ETTm2 (7 columns each, 15 min) and weather (19 of its 21 columns, 10 min;
"rain" and "raining" are left out: 58-69% of their windows are flat, and a flat window's key is zero, so
it resembles nothing). Every size spreads its windows evenly over the same 33 series (each series' first
rows), so the mix of data is the same at every size. Queries are 1,000 windows from the last 10% of the
same series, which no index holds (flat windows are not drawn).

Each (size, method) runs in a fresh process. Build time is `WindowIndex.build` (keys, futures, sorting
and the HNSW graph). Memory: the bytes the index saves (`WindowIndex.to_arrays`), the growth of the
process's resident set over the build (psutil) and the build's peak above where it started (VmHWM, reset
before the build). Latency is that of `WindowIndex.search` (k = 10), one query at a time (after 20 to
warm up; as many of the 1,000 as fit in 120 s); throughput is one call with all 1,000 queries (the median
of 3 calls, or of as many as fit in 20 s). "all visible" passes a cutoff at or after every row's
last step; "half visible" passes the cutoff at the middle row, so the search looks at a prefix of the rows
(masked, or IDSelectorRange for HNSW), the path a training window's query takes. Recall@10 is HNSW's against exact search
for the same queries and the same visible rows; "ties as hits" also counts a row whose similarity equals
the exact 10th's (windows of near-constant series tie).

    PYTHONPATH=. .venv/bin/python benchmarks/retrieval_index.py [--sizes 10000 30000 100000 300000 1000000]
        [--threads 2] [--out benchmarks/results/retrieval_index.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import psutil
import torch

from forecasting.retrieval.index import EXACT_BELOW, HNSW_BUILD_DEPTH, HNSW_NEIGHBOURS, HNSW_SEARCH_DEPTH
from forecasting.retrieval.index import IndexedSeries, WindowIndex

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "retrieval_index.json"
LOOKBACK, HORIZON, K = 96, 24, 10
FILES = ("ETTm1.csv.gz", "ETTm2.csv.gz", "weather.csv.gz")
FLAT_COLUMNS = {"rain (mm)", "raining (s)"}
HELD_OUT = 0.1          # the last 10% of every series: queries only, never indexed
BATCH_REPEATS, BATCH_SECONDS = 3, 20.0     # batch calls: 3, or fewer once they add up to 20 s
SINGLE_SECONDS = 120.0                     # single queries: all of them, or as many as fit in 120 s
WARMUP = 20


def load_series() -> list[IndexedSeries]:
    """The 33 real series, whole."""
    series = []
    for file in FILES:
        frame = pd.read_csv(DATA / file)
        ds = pd.DatetimeIndex(pd.to_datetime(frame["date"]))
        for column in frame.columns.drop("date"):
            if column not in FLAT_COLUMNS:
                series.append(IndexedSeries(f"{file.split('.')[0]}/{column}", ds, frame[column].to_numpy(float)))
    return series


def indexed_part(series: list[IndexedSeries], size: int) -> list[IndexedSeries]:
    """Each series' first rows, `size` windows in all, spread evenly (the first series take one more)."""
    per_series, extra = divmod(size, len(series))
    parts = []
    for number, item in enumerate(series):
        rows = per_series + (number < extra) + LOOKBACK + HORIZON - 1
        if rows > int(len(item.y) * (1 - HELD_OUT)):
            raise ValueError(f"{size} windows reach into {item.name}'s held-out rows")
        parts.append(IndexedSeries(item.name, item.ds[:rows], item.y[:rows]))
    return parts


def held_out_queries(series: list[IndexedSeries], count: int, seed: int = 0) -> np.ndarray:
    """`count` lookback windows [count, LOOKBACK] from the held-out tails, none of them flat."""
    rng = np.random.default_rng(seed)
    queries = []
    while len(queries) < count:
        item = series[rng.integers(len(series))]
        start = rng.integers(int(len(item.y) * (1 - HELD_OUT)), len(item.y) - LOOKBACK + 1)
        window = item.y[start:start + LOOKBACK]
        if window.std() > 1e-8:
            queries.append(window)
    return np.stack(queries)


def resident_peak_bytes() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024


def reset_resident_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:   # "5": the peak resident set starts again from now
        clear_refs.write("5")


def single_latencies_ms(index: WindowIndex, queries: np.ndarray, cutoff: int) -> np.ndarray:
    cutoffs = np.full(1, cutoff, np.int64)
    for query in queries[:WARMUP]:
        index.search(query[None], cutoffs, K)
    latencies = []
    for query in queries:
        began = time.perf_counter()
        index.search(query[None], cutoffs, K)
        latencies.append(time.perf_counter() - began)
        if sum(latencies) > SINGLE_SECONDS:
            break
    return 1e3 * np.array(latencies)


def batch_search(index: WindowIndex, queries: np.ndarray, cutoff: int) -> tuple[list[float], np.ndarray, np.ndarray]:
    """(seconds of each call with every query, rows, similarity)."""
    cutoffs = np.full(len(queries), cutoff, np.int64)
    seconds: list[float] = []
    while len(seconds) < BATCH_REPEATS and sum(seconds) < BATCH_SECONDS:
        began = time.perf_counter()
        found = index.search(queries, cutoffs, K)
        seconds.append(time.perf_counter() - began)
    return seconds, found.rows, found.similarity


def measure(size: int, method: str, query_count: int, threads: int) -> dict:
    """Build one index and time its searches; meant to run in a fresh process."""
    faiss.omp_set_num_threads(threads)
    torch.set_num_threads(threads)
    series = load_series()
    own = indexed_part(series, size)
    queries = held_out_queries(series, query_count)
    del series
    gc.collect()
    process = psutil.Process()
    resident_before = process.memory_info().rss
    reset_resident_peak()
    began = time.perf_counter()
    index = WindowIndex.build(own, LOOKBACK, HORIZON, method=method)
    build_seconds = time.perf_counter() - began
    result = {"size": size, "method": method, "rows": len(index), "build_s": build_seconds,
              "resident_growth_bytes": process.memory_info().rss - resident_before,
              "resident_peak_growth_bytes": resident_peak_bytes() - resident_before,
              "index_bytes": int(sum(array.nbytes for array in index.to_arrays().values())),
              "faiss_threads": faiss.omp_get_max_threads(), "torch_threads": torch.get_num_threads()}
    assert index.method == method and len(index) == size
    visible = {"all": int(index.available[-1]), "half": int(index.available[len(index) // 2 - 1])}
    result["half_visible_rows"] = int(np.searchsorted(index.available, visible["half"], side="right"))
    for name, cutoff in visible.items():
        latencies = single_latencies_ms(index, queries, cutoff)
        seconds, rows, similarity = batch_search(index, queries, cutoff)
        result[name] = {"p50_ms": float(np.percentile(latencies, 50)), "p99_ms": float(np.percentile(latencies, 99)),
                        "mean_ms": float(latencies.mean()), "single_queries_timed": len(latencies),
                        "batch_s": float(np.median(seconds)), "batch_calls": len(seconds),
                        "batch_queries_per_s": len(queries) / float(np.median(seconds)),
                        "rows": rows.tolist(), "similarity": similarity.tolist()}
    return result


def recall(approximate: dict, exact: dict) -> dict:
    """HNSW's recall@K against exact search, by row and counting rows as similar as the exact K-th as hits,
    and the similarity it gives up: the mean, over queries and ranks, of exact's less its."""
    found, truth = np.array(approximate["rows"]), np.array(exact["rows"])
    found_similarity, true_similarity = np.array(approximate["similarity"]), np.array(exact["similarity"])
    kth = true_similarity[:, K - 1:K]
    return {"recall": float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)])),
            "recall_ties": float(np.mean((found_similarity >= kth - 1e-5) & (found >= 0))),
            "similarity_lost": float(np.nanmean(true_similarity - found_similarity))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000, 300_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="faiss / torch threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    spawn = multiprocessing.get_context("spawn")
    runs = {}
    began = time.perf_counter()
    for size in args.sizes:
        for method in ("exact", "hnsw"):
            with ProcessPoolExecutor(1, mp_context=spawn) as fresh:
                run = fresh.submit(measure, size, method, args.queries, args.threads).result()
            runs[size, method] = run
            print(f"  {size:>9,} {method:5s}: build {run['build_s']:7.1f} s, single p50 {run['all']['p50_ms']:7.2f} ms, "
                  f"half p50 {run['half']['p50_ms']:7.2f} ms, batch {run['all']['batch_queries_per_s']:9.0f} q/s "
                  f"({time.perf_counter() - began:.0f} s so far)", flush=True)
    for size in args.sizes:
        exact, hnsw = runs[size, "exact"], runs[size, "hnsw"]
        for name in ("all", "half"):
            hnsw[name] |= recall(hnsw[name], exact[name])

    when = datetime.now(timezone.utc)
    print(f"\nRetrieval index, lookback {LOOKBACK}, horizon {HORIZON}, k {K}; HNSW M {HNSW_NEIGHBOURS}, efConstruction "
          f"{HNSW_BUILD_DEPTH}, efSearch {HNSW_SEARCH_DEPTH}; EXACT_BELOW {EXACT_BELOW:,}; {platform.machine()} "
          f"({os.cpu_count()} cores), faiss {faiss.__version__} with {runs[args.sizes[0], 'exact']['faiss_threads']} "
          f"thread(s); {args.queries} queries; {when:%Y-%m-%d %H:%M} UTC; {time.perf_counter() - began:.0f} s\n")
    print("| windows | method | build s | index MB | RSS growth MB | build peak MB | p50 ms | p99 ms "
          "| batch q/s | half: p50 ms | half: p99 ms | half: batch q/s | recall@10 | half: recall@10 "
          "| similarity lost | half: similarity lost |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (size, method), run in runs.items():
        every, half = run["all"], run["half"]
        recalls = (f"{every['recall']:.3f} ({every['recall_ties']:.3f}) | {half['recall']:.3f} ({half['recall_ties']:.3f}) "
                   f"| {every['similarity_lost']:.5f} | {half['similarity_lost']:.5f}" if method == "hnsw" else "1 | 1 | 0 | 0")
        print(f"| {size:,} | {method} | {run['build_s']:.1f} | {run['index_bytes'] / 1e6:.0f} "
              f"| {run['resident_growth_bytes'] / 1e6:.0f} | {run['resident_peak_growth_bytes'] / 1e6:.0f} "
              f"| {every['p50_ms']:.2f} | {every['p99_ms']:.2f} | {every['batch_queries_per_s']:,.0f} "
              f"| {half['p50_ms']:.2f} | {half['p99_ms']:.2f} | {half['batch_queries_per_s']:,.0f} | {recalls} |")
    print("\nrecall@10: by row (ties as hits)")
    for (size, method), run in runs.items():
        for name in ("all", "half"):
            if run[name]["single_queries_timed"] < args.queries:
                print(f"{size:,} {method}, {name} visible: {run[name]['single_queries_timed']} single queries timed "
                      f"(the first that fit in {SINGLE_SECONDS:.0f} s)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"when_utc": when.isoformat(timespec="minutes"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "faiss": faiss.__version__, "lookback": LOOKBACK, "horizon": HORIZON, "k": K, "queries": args.queries,
               "hnsw": {"M": HNSW_NEIGHBOURS, "efConstruction": HNSW_BUILD_DEPTH, "efSearch": HNSW_SEARCH_DEPTH},
               "exact_below": EXACT_BELOW,
               "runs": [{key: value for key, value in run.items() if key not in ("all", "half")}
                        | {name: {key: value for key, value in run[name].items() if key not in ("rows", "similarity")}
                           for name in ("all", "half")} for run in runs.values()]}
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

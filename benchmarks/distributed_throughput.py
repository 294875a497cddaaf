"""Batch forecasting on a Dask cluster: series per second with 1 and 2 workers, and the client's peak memory.

The data: M4 Hourly's 414 training series, each cut to its latest 240 hours and repeated (each copy scaled by
its own factor) to 10,000 and 100,000 series, written as 100 Parquet files. Each run reads the folder lazily
(`read_table`), fits and forecasts 24 hours with one model on a LocalCluster of N single-threaded worker
processes, and writes the partitioned Parquet, as `almanac forecast big/ --engine local:N` does; it runs in a
fresh process whose memory high-water mark (VmHWM) is the client's peak. Models: seasonal naive, ETS, `linear`
(trained on the client on a sample of at most 10,000 series, then predicting on the workers) and almanac_base
(a global network that trains nothing: its predict alone). Not counted: the cluster's start, and the workers'
one-time import of the package (measured apart), which a long-lived cluster pays once.

    .venv/bin/python -W ignore benchmarks/distributed_throughput.py --series 10000 100000 --workers 1 2
    .venv/bin/python -W ignore benchmarks/distributed_throughput.py --series 10000 --models ets --workers 1 2
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "M4-Hourly-train.csv"
FILES, HOURS, H = 100, 240, 24


def write_data(series: int, folder: Path) -> None:
    """`series` hourly series of HOURS values as FILES Parquet files in `folder` (once per count)."""
    if folder.exists():
        return
    m4 = pd.read_csv(DATA, index_col=0)
    base = np.stack([row.dropna().to_numpy()[-HOURS:] for _, row in m4.iterrows()])     # [414, HOURS]
    ds = pd.date_range("2020-01-01", periods=HOURS, freq="h")
    folder.mkdir(parents=True)
    per_file = -(-series // FILES)
    for f in range(FILES):
        ids = np.arange(f * per_file, min(series, (f + 1) * per_file))
        values = base[ids % len(base)] * (1 + (ids // len(base))[:, None] * 0.001)
        pd.DataFrame({"unique_id": np.repeat([f"s{i}" for i in ids], HOURS), "ds": np.tile(ds, len(ids)),
                      "y": values.reshape(-1)}).to_parquet(folder / f"part-{f:03d}.parquet", index=False)


def status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def run_once(folder: Path, model: str, workers: int) -> dict:
    """In this (fresh) process: the timed forecast of the folder, and the client's peak memory."""
    from distributed import Client, LocalCluster

    from forecasting import Forecaster, read_table
    from forecasting.api.distributed import write_parquet
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client, tempfile.TemporaryDirectory() as out:
        # a cluster's workers outlive jobs: their one-time import of the package (torch with it) is not the job's
        warm_up = time.perf_counter()
        client.run(importlib.import_module, "forecasting.api.forecaster")
        import_seconds = time.perf_counter() - warm_up
        started = time.perf_counter()
        forecaster = Forecaster([model], h=H, engine=client)
        rows, errors = write_parquet(forecaster.fit(read_table(folder)).predict(), out, client)
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "worker_import_seconds": round(import_seconds, 1), "rows": rows,
            "error_rows": errors, "client_peak_mb": round(status_mb("VmHWM"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", default=["seasonal_naive", "ets", "linear", "almanac_base"])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "almanac-distributed")
    parser.add_argument("--out", type=Path, default=RESULTS / "distributed_throughput.jsonl")
    parser.add_argument("--one", nargs=3, metavar=("FOLDER", "MODEL", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_once(Path(args.one[0]), args.one[1], int(args.one[2]))))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}", flush=True)
    for series in args.series:
        folder = args.data / f"{series}"
        write_data(series, folder)
        for model in args.models:
            for workers in args.workers:
                child = subprocess.run([sys.executable, "-W", "ignore", __file__, "--one", str(folder), model,
                                        str(workers)], capture_output=True, text=True, check=True)
                measured = json.loads(child.stdout.strip().splitlines()[-1])
                row = {"series": series, "model": model, "workers": workers, **measured,
                       "series_per_second": round(series / measured["seconds"], 1)}
                with args.out.open("a") as out:
                    out.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

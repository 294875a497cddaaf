"""Peak memory and wall time of `read_table` on a large wide CSV and a large long CSV.

Generates two seeded files into a temporary folder:
- wide: an hourly date column and 100 series columns (random walks, 3 decimals), 0.2% blank cells,
  the columns in no particular order (as exported tables come);
- long: unique_id, ds, y and a temperature covariate, hourly, sorted by series then date, 0.2% blank
  cells in y and the covariate.

Each file is read by `read_table` in a fresh process per checkout (benchmarks/read_peak.py with
PYTHONPATH=<checkout>, run from the temporary folder so that the current directory does not shadow it).
The child reports its resident set after imports, its peak (VmHWM) after the read, and the read's wall
time; `peak MB` is the peak less the RSS after imports, `peak/size` that growth over the file size, `raw
peak MB` the peak itself.

    .venv/bin/python benchmarks/read_memory.py [--code /path/to/before --code .] [--size-mb 100] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SERIES_COLUMNS = 100  # wide file
LONG_SERIES_HOURS = 4000  # hours per series in the long file
BLANK_SHARE = 0.002
CHUNK_ROWS = 1000  # wide rows written at a time

PEAK_SCRIPT = Path(__file__).resolve().parent / "read_peak.py"  # run in a fresh process per read


def write_wide(path: Path, size_mb: float, rng: np.random.Generator) -> None:
    """An hourly wide table of random walks, written in chunks until it reaches size_mb."""
    names = [f"meter_{number:03d}" for number in rng.permutation(SERIES_COLUMNS)]
    level = rng.uniform(10, 2000, SERIES_COLUMNS)
    start = pd.Timestamp("2010-01-01")
    with path.open("w") as file:
        header = True
        while file.tell() < size_mb * 1e6:
            steps = rng.normal(0, 0.01, (CHUNK_ROWS, SERIES_COLUMNS)) * level
            walks = level + np.cumsum(steps, axis=0)
            level = walks[-1]
            values = np.where(rng.random(walks.shape) < BLANK_SHARE, np.nan, walks.round(3))
            chunk = pd.DataFrame(values, columns=names)
            chunk.insert(0, "ds", pd.date_range(start, periods=CHUNK_ROWS, freq="h").strftime("%Y-%m-%d %H:%M:%S"))
            chunk.to_csv(file, index=False, header=header)
            start += pd.Timedelta(hours=CHUNK_ROWS)
            header = False


def write_long(path: Path, size_mb: float, rng: np.random.Generator) -> None:
    """An hourly long table (unique_id, ds, y, temperature), one series at a time until it reaches size_mb."""
    ds = pd.date_range("2020-01-01", periods=LONG_SERIES_HOURS, freq="h").strftime("%Y-%m-%d %H:%M:%S")
    hour = np.arange(LONG_SERIES_HOURS) % 24
    with path.open("w") as file:
        number = 0
        while file.tell() < size_mb * 1e6:
            cycle = np.sin(2 * np.pi * hour / 24)
            y = rng.uniform(5, 500) * (1 + 0.3 * cycle) + rng.normal(0, 2, LONG_SERIES_HOURS)
            temperature = 15 + 8 * cycle + rng.normal(0, 1, LONG_SERIES_HOURS)
            chunk = pd.DataFrame({
                "unique_id": f"store_{number:05d}", "ds": ds,
                "y": np.where(rng.random(LONG_SERIES_HOURS) < BLANK_SHARE, np.nan, y.round(2)),
                "temperature": np.where(rng.random(LONG_SERIES_HOURS) < BLANK_SHARE, np.nan, temperature.round(1)),
            })
            chunk.to_csv(file, index=False, header=number == 0)
            number += 1


def measure(code: Path, path: Path, workdir: Path) -> dict:
    """Read `path` with the checkout at `code` in a fresh process; its report as a dict."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-W", "ignore", str(PEAK_SCRIPT), str(path)], env=env, cwd=workdir,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"reading {path.name} with {code} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, action="append",
                        help="a checkout to measure (repeat to compare; default: this one)")
    parser.add_argument("--size-mb", type=float, default=100.0, help="size of each generated file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    codes = [code.resolve() for code in args.code or [REPO]]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        files = {"wide": workdir / "wide.csv", "long": workdir / "long.csv"}
        write_wide(files["wide"], args.size_mb, np.random.default_rng(args.seed))
        write_long(files["long"], args.size_mb, np.random.default_rng(args.seed + 1))
        for kind, path in files.items():
            size = path.stat().st_size / 2**20
            for code in codes:
                result = measure(code, path, workdir)
                growth = result["raw_peak_mb"] - result["after_imports_mb"]
                rows.append({"code": str(code), "file": kind, "size MB": size, "peak MB": growth,
                             "peak/size": growth / size, "raw peak MB": result["raw_peak_mb"],
                             "seconds": result["seconds"], "rows read": result["rows"],
                             "series": result["series"]})
    print(f"read_table peak memory; {platform.machine()}, {os.cpu_count()} cores, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; MB = 2**20 bytes")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".1f"))


if __name__ == "__main__":
    main()

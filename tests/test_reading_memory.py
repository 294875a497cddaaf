"""read_table's peak memory on a generated wide file, measured in a fresh process (benchmarks/read_memory.py
measures 100 MB files). The bound is generous, so that only a gross regression fails it: cells held as Python
strings, or the long frame copied per repair, take tens of times the file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
COLUMNS, ROWS = 50, 50_000  # about 20 MB: 7-character numbers
MOST = 10  # peak growth over the file size

PEAK_SCRIPT = REPO / "benchmarks" / "read_peak.py"  # reads the file in a fresh process, prints its peak


def write_wide(path: Path, rng: np.random.Generator) -> None:
    """An hourly date column and COLUMNS value columns of numbers like 042.517, one cell in 500 blank (spaces),
    built as bytes at once: formatting a million cells one by one would take seconds."""
    values = rng.integers(0, 1_000_000, (ROWS, COLUMNS))
    digits = values[..., None] // 10 ** np.arange(5, -1, -1) % 10 + ord("0")
    cells = np.concatenate([digits[..., :3], np.full((ROWS, COLUMNS, 1), ord(".")), digits[..., 3:]], axis=2)
    cells[rng.random((ROWS, COLUMNS)) < 0.002] = ord(" ")
    separators = np.full((ROWS, COLUMNS, 1), ord(","))
    dates = pd.date_range("2020-01-01", periods=ROWS, freq="h").strftime("%Y-%m-%d %H:%M").to_numpy(dtype="S16")
    lines = np.concatenate([dates.view(np.uint8).reshape(ROWS, 16),
                            np.concatenate([separators, cells], axis=2).reshape(ROWS, -1),
                            np.full((ROWS, 1), ord("\n"))], axis=1)
    header = ",".join(["ds", *(f"s{column}" for column in range(COLUMNS))]) + "\n"
    path.write_bytes(header.encode() + lines.astype(np.uint8).tobytes())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the resident set from /proc")
def test_a_wide_file_reads_within_ten_times_its_size(tmp_path):
    path = tmp_path / "wide.csv"
    write_wide(path, np.random.default_rng(0))
    size_mb = path.stat().st_size / 2**20
    done = subprocess.run([sys.executable, "-W", "ignore", str(PEAK_SCRIPT), str(path)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    read = json.loads(done.stdout.strip().splitlines()[-1])
    assert (read["rows"], read["series"]) == (ROWS * COLUMNS, COLUMNS)
    assert 15 < size_mb < 25
    growth = read["raw_peak_mb"] - read["after_imports_mb"]
    assert growth < MOST * size_mb, f"read_table peaked at {growth:.0f} MB for {size_mb:.0f} MB"

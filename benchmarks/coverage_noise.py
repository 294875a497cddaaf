"""How far an exactly calibrated 80% band's coverage strays on each file of benchmarks/coverage.py by
chance alone: the goal band 75-85% per file, measured against the sampling noise of the windows.

For each file the benchmark's geometry is kept (its series, horizon, origins and their step, on the
test windows) and its values replaced by simulated series whose 80% band is known exactly:
- white noise: the forecast is the mean, the band +-1.2816 sd; every error is independent;
- random walk: the forecast is the last value, the band +-1.2816 sd sqrt(k) at step k; the errors of
  one window, and of overlapping windows, are correlated, as the errors of persistent real series are.
`--draws` simulated backtests per file give the chance that an exactly calibrated model lands in
[0.75, 0.85] on that file, and on all files at once. `--results` reads coverage.py's JSON files (a later
file's rows replace an earlier one's) and counts, per model, the files whose coverage lies inside the
range an exactly calibrated band shows in 90% of draws: a miss outside it is more than chance.

    .venv/bin/python benchmarks/coverage_noise.py [--draws 2000] [--seed 0] [--results A.json B.json]
"""
from __future__ import annotations

import argparse
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from coverage import FILES, GOAL, load

Z80 = 1.2815515655446004  # the standard normal's 90% quantile: a central 80% band


def geometry(name: str, windows: int, step: float) -> tuple[int, int, int]:
    """(series, horizon, step between origins) of the file in the coverage benchmark's test run."""
    frame, h, step_size = load(name, max_series=7, max_length=1200, windows=windows, step=step, validation=False)
    return frame["unique_id"].nunique(), h, step_size


def coverages(kind: str, series: int, h: int, windows: int, step: int, draws: int,
              rng: np.random.Generator) -> np.ndarray:
    """Coverage of the exact 80% band in each of `draws` simulated backtests of this geometry."""
    span = h + (windows - 1) * step
    noise = rng.standard_normal((draws, series, span))
    steps = np.arange(1, h + 1)
    inside = np.zeros(draws)
    for w in range(windows):
        block = noise[:, :, w * step:w * step + h]
        if kind == "white noise":
            errors, half_width = block, Z80
        else:  # random walk from the origin: the error at step k sums k increments
            errors, half_width = np.cumsum(block, axis=-1), Z80 * np.sqrt(steps)
        inside += (np.abs(errors) <= half_width).mean(axis=(1, 2))
    return inside / windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, default=6)
    parser.add_argument("--step", type=float, default=0.5)
    parser.add_argument("--results", nargs="+", type=Path, default=[], metavar="JSON",
                        help="coverage.py results to hold against the ranges")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows, all_inside, ranges = [], {}, {}
    for name in FILES:
        series, h, step = geometry(name, args.windows, args.step)
        row = {"file": name, "series": series, "h": h, "step": step}
        for kind in ("white noise", "random walk"):
            result = coverages(kind, series, h, args.windows, step, args.draws, rng)
            inside = (result >= GOAL[0]) & (result <= GOAL[1])
            all_inside[kind] = all_inside.get(kind, np.ones(args.draws, bool)) & inside
            low, high = np.quantile(result, [0.05, 0.95])
            ranges[(name, kind)] = (low, high)
            row[f"{kind}: P(in goal)"] = inside.mean()
            row[f"{kind}: 90% range"] = f"{low:.3f}-{high:.3f}"
        rows.append(row)
    print(f"exactly calibrated 80% bands, {args.draws} draws per file, seed {args.seed}; {platform.machine()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))
    for kind, inside in all_inside.items():
        print(f"{kind}: P(every file in [{GOAL[0]}, {GOAL[1]}]) = {inside.mean():.4f}; "
              f"expected files in it: {sum(row[f'{kind}: P(in goal)'] for row in rows):.1f} of {len(rows)}")
    if args.results:
        print(f"\nfiles whose coverage lies in the exact band's 90% range (of {len(rows)}):\n")
        print(within_ranges(args.results, ranges).to_markdown())


def within_ranges(paths: list[Path], ranges: dict[tuple[str, str], tuple[float, float]]) -> pd.DataFrame:
    """Per model (columns) and kind of simulated series (rows): files whose measured coverage is in range."""
    measured: dict[tuple[str, str], float] = {}
    for path in paths:
        measured.update({(row["file"], row["model"]): row["coverage"] for row in json.loads(path.read_text())["results"]})
    models = list(dict.fromkeys(model for _, model in measured))
    kinds = list(dict.fromkeys(kind for _, kind in ranges))
    return pd.DataFrame({model: [sum(ranges[(name, kind)][0] <= coverage <= ranges[(name, kind)][1]
                                     for (name, m), coverage in measured.items() if m == model) for kind in kinds]
                         for model in models}, index=pd.Index(kinds, name="series like"))


if __name__ == "__main__":
    main()

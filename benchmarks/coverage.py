"""80% interval coverage beside MASE: a rolling-origin backtest over the real files in ../shared/data.

Every file is read with `fc.read_table` (M4's wide files, which have no dates, get consecutive
hours or weeks), cut to its first `--max-series` series and their last `--max-length` rows, and
backtested with `fc.run_backtest` at one season ahead (M4: the competition's horizon), `--windows`
origins `--step` horizons apart, refitting at each (`--no-refit`: fitting once, at the first origin,
as a user who fits and then forecasts for a while). Each model runs in its own backtest, so its wall time
is its own; the networks train with a small budget (`--epochs` epochs of `--steps` steps) on one
thread.

    .venv/bin/python benchmarks/coverage.py --out out/coverage-after.json      # writes the JSON, prints the tables
    .venv/bin/python benchmarks/coverage.py --compare out/coverage-before.json out/coverage-after.json

`--validation` drops each series' test rows (the span of the test windows) first, so the windows
scored are the ones before them: settings are chosen there, never on the test windows.
`--set FIELD=VALUE` passes a setting to every network, and `--calibration-rows` sets the size of the
calibration split, to compare candidates on validation.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import torch

import forecasting as fc

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NETWORKS = ["dlinear", "patchtst", "mamba", "hypermamba"]
REFERENCES = ["ets", "seasonal_naive"]
LEVEL = 80
GOAL = (0.75, 0.85)


def read_m4(kind: str, freq: str, start: str) -> pd.DataFrame:
    """M4's train and test rows of each series as one long frame; M4 has no dates, so steps count from `start`."""
    frames = []
    for split in ("train", "test"):
        wide = pd.read_csv(DATA / f"M4-{kind}-{split}.csv", index_col=0)
        long = wide.stack().rename("y").reset_index(level=1, drop=True).rename_axis("unique_id").reset_index()
        frames.append(long)
    long = pd.concat(frames).reset_index(drop=True)       # per series: train rows, then test rows, in order
    long = long.iloc[long["unique_id"].str[1:].astype(int).argsort(kind="stable")]
    steps = long.groupby("unique_id").cumcount()
    long["ds"] = pd.Timestamp(start) + steps * pd.tseries.frequencies.to_offset(freq)
    return long[["unique_id", "ds", "y"]].reset_index(drop=True)


# file -> (reader, horizon); None: one season of the file's frequency
FILES: dict[str, tuple[Callable[[], pd.DataFrame], int | None]] = {
    "AirPassengers.csv": (lambda: fc.read_table(DATA / "AirPassengers.csv").frame, None),
    "retail_sales_monthly.csv": (lambda: fc.read_table(DATA / "retail_sales_monthly.csv").frame, None),
    "national_illness.csv": (lambda: fc.read_table(DATA / "national_illness.csv").frame, None),
    "exchange_rate.csv": (lambda: fc.read_table(DATA / "exchange_rate.csv").frame, None),
    "pedestrians_daily.csv": (lambda: fc.read_table(DATA / "pedestrians_daily.csv").frame, None),
    "peyton_manning_log_daily.csv": (lambda: fc.read_table(DATA / "peyton_manning_log_daily.csv").frame, None),
    "ETTh1.csv": (lambda: fc.read_table(DATA / "ETTh1.csv").frame, None),
    "ETTh2.csv": (lambda: fc.read_table(DATA / "ETTh2.csv").frame, None),
    "ETTm1.csv.gz": (lambda: fc.read_table(DATA / "ETTm1.csv.gz").frame, None),
    "ETTm2.csv.gz": (lambda: fc.read_table(DATA / "ETTm2.csv.gz").frame, None),
    "weather.csv.gz": (lambda: fc.read_table(DATA / "weather.csv.gz", duplicates="mean").frame, None),
    "M4-Hourly": (lambda: read_m4("Hourly", "h", "2000-01-01"), 48),
    "M4-Weekly": (lambda: read_m4("Weekly", "W-MON", "1990-01-01"), 13),
}


def load(name: str, max_series: int, max_length: int, windows: int, step: float,
         validation: bool) -> tuple[pd.DataFrame, int, int]:
    """The file's first series and their last rows (with `validation`: before the test windows' rows),
    its horizon, and the step between origins."""
    reader, h = FILES[name]
    frame = reader()[["unique_id", "ds", "y"]]
    if name == "M4-Weekly":  # many weekly series are too short for three origins and a network's windows
        lengths = frame.groupby("unique_id", sort=False).size()
        frame = frame[frame["unique_id"].isin(lengths[lengths >= 400].index)]
    frame = frame[frame["unique_id"].isin(frame["unique_id"].drop_duplicates().head(max_series))]
    if h is None:
        h = fc.season_length(pd.infer_freq(frame.loc[frame["unique_id"] == frame["unique_id"].iloc[0], "ds"]))
    step_size = max(1, round(step * h))
    groups = frame.groupby("unique_id", sort=False)
    if validation:
        frame = frame.drop(groups.tail(h + (windows - 1) * step_size).index)
        groups = frame.groupby("unique_id", sort=False)
    return groups.tail(max_length).reset_index(drop=True), h, step_size


def build(name: str, epochs: int, steps: int, settings: dict) -> str | fc.NeuralModel:
    if name in NETWORKS:
        return fc.model(name, epochs=epochs, steps_per_epoch=steps, **settings)
    return name


def run(args: argparse.Namespace) -> dict:
    """Backtest every (file, model); with --out the results are written after each, and --resume
    keeps the ones an interrupted run wrote."""
    torch.set_num_threads(1)
    if args.calibration_rows:
        from forecasting.models import splits
        horizons, share = args.calibration_rows
        splits.CALIBRATION_ROWS = (int(horizons), share)
    settings = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    result = {"date": date.today().isoformat(),
              "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}",
              "settings": {key: value for key, value in vars(args).items() if key not in ("out", "compare", "resume")},
              "results": []}
    if args.resume and args.out and args.out.exists():
        result["results"] = json.loads(args.out.read_text())["results"]
    done = {(row["file"], row["model"]) for row in result["results"]}
    for name in args.files:
        frame, h, step_size = load(name, args.max_series, args.max_length, args.windows, args.step, args.validation)
        for model in args.models:
            if (name, model) in done:
                continue
            began = time.perf_counter()
            backtest = fc.run_backtest(frame, [build(model, args.epochs, args.steps, settings)], h=h,
                                       n_windows=args.windows, step_size=step_size, refit=not args.no_refit,
                                       level=[LEVEL], n_jobs=1, source=name)
            row = {"file": name, "model": model, "h": h, "series": int(frame["unique_id"].nunique()),
                   "rows": int(frame.groupby("unique_id").size().max()),
                   "seconds": round(time.perf_counter() - began, 1),
                   "coverage": float(backtest.summary.loc[f"coverage-{LEVEL}", model]),
                   "mase": float(backtest.summary.loc["mase", model])}
            result["results"].append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(result, indent=1))
    return result


def tables(runs: dict[str, dict]) -> str:
    """Markdown: coverage and MASE per file and model, one column per run, and the mean over files."""
    frames = [pd.DataFrame(run["results"]).assign(run=label) for label, run in runs.items()]
    results = pd.concat(frames)
    models = list(dict.fromkeys(results["model"]))
    out = []
    for metric, title in (("coverage", f"coverage of the {LEVEL}% interval"), ("mase", "MASE")):
        wide = results.pivot_table(index="file", columns=["model", "run"], values=metric, sort=False)
        wide = wide.reindex(columns=pd.MultiIndex.from_product([models, list(runs)]))
        files = wide.copy()
        wide.loc["mean over files"] = files.mean()
        if metric == "coverage":
            wide.loc[f"mean distance from {LEVEL / 100:.2f}"] = (files - LEVEL / 100).abs().mean()
        wide.columns = [f"{model} {label}".strip() for model, label in wide.columns]
        out.append(f"{title}:\n\n" + wide.round(3).to_markdown())
    inside = results.assign(inside=results["coverage"].between(*GOAL))
    counts = inside.pivot_table(index="run", columns="model", values="inside", aggfunc="sum", sort=False)[models]
    out.append(f"files with coverage in [{GOAL[0]}, {GOAL[1]}] (of {results['file'].nunique()}):\n\n"
               + counts.to_markdown())
    seconds = results.pivot_table(index="run", columns="model", values="seconds", aggfunc="sum", sort=False)[models]
    out.append("backtest seconds, summed over files:\n\n" + seconds.round(0).to_markdown())
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--models", nargs="+", default=NETWORKS + REFERENCES)
    parser.add_argument("--windows", type=int, default=2, help="backtest origins")
    parser.add_argument("--step", type=float, default=1.0, help="horizons between origins")
    parser.add_argument("--no-refit", action="store_true", help="fit once, at the first origin")
    parser.add_argument("--max-series", type=int, default=7)
    parser.add_argument("--max-length", type=int, default=1200, help="each series' last rows kept")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20, help="training steps per epoch")
    parser.add_argument("--validation", action="store_true", help="score the windows before the test windows")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="a setting of every network (JSON value)")
    parser.add_argument("--calibration-rows", nargs=2, type=float, metavar=("HORIZONS", "SHARE"),
                        help="a candidate calibration split: max(HORIZONS x h, SHARE of the rows)")
    parser.add_argument("--out", type=Path, help="write the results here as JSON (after each backtest)")
    parser.add_argument("--resume", action="store_true", help="keep the results already in --out and run the rest")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="JSON", help="print the tables of earlier runs side by side")
    args = parser.parse_args()
    if args.compare:
        print(tables({path.stem.removeprefix("coverage-"): json.loads(path.read_text()) for path in args.compare}))
        return
    print(tables({"": run(args)}))


if __name__ == "__main__":
    main()

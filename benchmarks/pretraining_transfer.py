"""Transfer of pretrained checkpoints to held-out targets: objective x fine-tuning mode, beside training from
scratch, the linear floor and seasonal naive, as T5's tables and Chronos's benchmark II score them.

Targets (never read by the pretraining corpus, forecasting/pretraining/corpus.py HELD_OUT): ETTh2 and ETTm2
(7 series each, h = 24, the last 10 windows), national_illness (7, h = 12, 4 windows), exchange_rate (8,
h = 30, 5 windows), M4 Weekly (359, h = 13, M4's test), pedestrians (1, h = 14, 8 windows). Every model is fit
once at each target's first cutoff (refit=False) and forecasts every window from the data before it.
Intervals at 20/40/60/80% give the quantiles 0.1 ... 0.9. Scores: MASE (season 24, 96, 52, 1, 1, 7) and WQL,
each divided by seasonal naive's on the same target, then the geometric mean over the targets (Chronos).

Models: `pretrained` on each checkpoint in each tuning mode; `scratch`: the same network from random weights,
trained in full on the target the same way; `patchtst`: the product's PatchTST trained on the target;
`linear` (the ridge floor as a model) and `seasonal_naive`.

    .venv/bin/python -W ignore benchmarks/pretraining_transfer.py --checkpoints causal masked span
    .venv/bin/python -W ignore benchmarks/pretraining_transfer.py --checkpoints almanac_base --tunings zero_shot
    .venv/bin/python -W ignore benchmarks/pretraining_transfer.py --summarize results/pretraining_transfer.csv
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import forecasting as fc
from backbones.patch_lm import PatchLM
from forecasting.evaluation.metrics import summarize
from forecasting.models.pretrained import BUNDLED, TUNINGS
from forecasting.pretraining.train import load_checkpoint, save_checkpoint
from m4 import load_m4

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
LEVELS = [20, 40, 60, 80]


@dataclass(frozen=True)
class Target:
    h: int
    season: int
    windows: int


TARGETS = {"ETTh2": Target(24, 24, 10), "ETTm2": Target(24, 96, 10), "national_illness": Target(12, 52, 4),
           "exchange_rate": Target(30, 1, 5), "m4_weekly": Target(13, 1, 1), "pedestrians": Target(14, 7, 8)}


def target_frame(name: str) -> pd.DataFrame:
    """The target as a long frame: unique_id, ds, y."""
    if name == "m4_weekly":
        train, test = load_m4("train", None, "weekly"), load_m4("test", None, "weekly")
        test["step"] += test["unique_id"].map(train.groupby("unique_id")["step"].max() + 1)
        frame = pd.concat([train, test])
        stamps = pd.date_range("1990-01-07", periods=int(frame["step"].max()) + 1, freq="W-SUN")
        return frame.assign(ds=stamps[frame["step"].to_numpy()])[["unique_id", "ds", "y"]]
    if name == "pedestrians":
        return pd.read_csv(DATA / "pedestrians_daily.csv", parse_dates=["ds"]).assign(unique_id="pedestrians")
    file = {"ETTh2": "ETTh2.csv", "ETTm2": "ETTm2.csv.gz", "national_illness": "national_illness.csv",
            "exchange_rate": "exchange_rate.csv"}[name]
    wide = pd.read_csv(DATA / file, parse_dates=["date"])
    return wide.melt(id_vars="date", var_name="unique_id", value_name="y").rename(columns={"date": "ds"})


def random_checkpoint(like: Path, folder: Path) -> Path:
    """The network of `like`, at random initial weights: what "training from scratch" starts from."""
    model, record = load_checkpoint(like)
    torch.manual_seed(0)
    save_checkpoint(PatchLM(model.config), folder, {"objective": record["objective"], "from_scratch": True})
    return folder


def scores(name: str, target: Target, config, label: str) -> dict:
    frame = target_frame(name)
    started = time.perf_counter()
    forecaster = fc.Forecaster([config], h=target.h, level=LEVELS, n_jobs=1, nonnegative=False)
    backtest = forecaster.cross_validation(frame, n_windows=target.windows, step_size=target.h, refit=False)
    model = config if isinstance(config, str) else config.name
    backtest = backtest.rename(columns=lambda c: label + c[len(model):] if c.startswith(model) else c)
    summary = summarize(backtest, frame, season_length=target.season)
    return {"target": name, "model": label, "mase": float(summary.loc["mase", label]),
            "wql": float(summary.loc["wql", label]), "seconds": round(time.perf_counter() - started, 1)}


def relative(results: pd.DataFrame) -> pd.DataFrame:
    """Per model: MASE and WQL over seasonal naive's on each target, and their geometric means."""
    base = results[results["model"] == "seasonal_naive"].set_index("target")
    table = results.assign(mase=results["mase"] / results["target"].map(base["mase"]),
                           wql=results["wql"] / results["target"].map(base["wql"]))
    wide = table.pivot_table(index="model", columns="target", values=["mase", "wql"], sort=False)
    wide[("mase", "geometric mean")] = np.exp(np.log(wide["mase"]).mean(1))
    wide[("wql", "geometric mean")] = np.exp(np.log(wide["wql"]).mean(1))
    return wide.sort_index(axis=1).round(3).sort_values(("wql", "geometric mean"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", nargs="*", default=["causal", "masked", "span"],
                        help="names under results/checkpoints (pretraining_ablations.py), or almanac_base")
    parser.add_argument("--tunings", nargs="*", choices=TUNINGS, default=list(TUNINGS))
    parser.add_argument("--baselines", nargs="*", default=["seasonal_naive", "linear", "patchtst", "scratch"],
                        choices=["seasonal_naive", "linear", "patchtst", "scratch"])
    parser.add_argument("--targets", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    parser.add_argument("--out", type=Path, default=RESULTS / "pretraining_transfer.csv")
    parser.add_argument("--summarize", nargs="+", type=Path, help="only print the table of these result files")
    args = parser.parse_args()
    if args.summarize:
        results = pd.concat([pd.read_csv(path) for path in args.summarize])    # a model run twice: its last run
        print(relative(results.drop_duplicates(["target", "model"], keep="last")).to_string())
        return
    torch.set_num_threads(1)
    folders = {name: BUNDLED if name == "almanac_base" else RESULTS / "checkpoints" / name for name in args.checkpoints}
    runs: list[tuple[str, object]] = []
    for baseline in args.baselines:
        if baseline == "scratch":
            like = next(iter(folders.values()))
            scratch = random_checkpoint(like, RESULTS / "checkpoints" / "scratch")
            runs.append(("scratch", fc.model("pretrained", checkpoint=str(scratch), tuning="full")))
        elif baseline == "seasonal_naive":
            runs.append(("seasonal_naive", None))          # its season is the target's: built per target
        else:
            runs.append((baseline, baseline))
    for name, folder in folders.items():
        for tuning in args.tunings:
            runs.append((f"{name}:{tuning}", fc.model("pretrained", checkpoint=str(folder), tuning=tuning)))
    rows = []
    for target_name in args.targets:
        target = TARGETS[target_name]
        for label, config in runs:
            config = config or fc.model("seasonal_naive", season_length=target.season)
            row = scores(target_name, target, config, label)
            print(row, flush=True)
            rows.append(row)
            pd.DataFrame(rows).to_csv(args.out, index=False)
    if "seasonal_naive" in args.baselines:          # the reference; other runs are summarised together after
        print(relative(pd.DataFrame(rows)).to_string())


if __name__ == "__main__":
    main()

"""Text covariates with a known truth: real daily series, with planned events written as text that move them by
a known amount, and a test period that words the same events in ways training never saw.

The base panel is 16 real daily series from ../shared/data: pedestrians (Prophet's example), Peyton Manning's
Wikipedia views (log), and ETTh1's and ETTh2's seven channels as daily means. Onto each series, events fall
on about one day in twelve: a sale (+2 deviations that day), a closure (-2.5 that day), a heat warning (+1 for
three days), or a distractor that moves nothing ("staff meeting"). A deviation is the series' own standard
deviation of day-to-day changes over its training part, so every series gets effects of the same size in its
own units. The event's text sits in the column "event", known in advance (planned), on its first day.

Training and validation rows word each event with TRAIN_WORDINGS; the test rows with TEST_WORDINGS only, which
share no sentence with them ("everything a third cheaper today" for a sale): a model gains on the test rows
only as far as it reads what the text means. The control replaces every text by random letters of the same
length, so that what remains is that some text is there, not what it says.

    .venv/bin/python benchmarks/text_covariates.py        # the panel's description: events per split and kind
    .venv/bin/python -W ignore benchmarks/text_covariates.py --models dlinear arima --seeds 0 1 2
    .venv/bin/python -W ignore benchmarks/text_covariates.py --encoding
    .venv/bin/python -W ignore benchmarks/text_covariates.py --select-fusion --models dlinear patchtst
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import string
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import forecasting as fc
from backbones.language.text_encoder import EmbeddingCache, TextEncoder, TextEncoderConfig, default_cache_path
from backbones.text_fusion import MODES
from forecasting.models import GlobalModel, Model
from forecasting.models.text import text_encoder
from retrieval_m4 import REDUCED

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN, VALIDATION = 0.7, 0.1          # chronological shares of each series; the rest is the test part
EVENT_RATE = 1 / 12                   # days that start an event


@dataclass(frozen=True)
class EventKind:
    effect: float                     # in deviations of the series' day-to-day changes, each day it lasts
    days: int


KINDS = {"sale": EventKind(2.0, 1), "closure": EventKind(-2.5, 1), "heat": EventKind(1.0, 3),
         "distractor": EventKind(0.0, 1)}
TRAIN_WORDINGS = {
    "sale": ["flash sale 30% off", "weekend sale: 30 percent off everything", "half-price promotion today",
             "discount day with big price cuts", "clearance sale, all items reduced"],
    "closure": ["store closed for inventory", "shop shut for stocktaking", "closed all day for renovation",
                "no opening today: maintenance works"],
    "heat": ["heatwave warning", "extreme heat alert issued", "very hot days ahead, stay cool"],
    "distractor": ["staff meeting at noon", "new manager started this week", "parking lot repainted",
                   "quarterly report published"],
}
TEST_WORDINGS = {
    "sale": ["everything a third cheaper today", "prices slashed for one day only", "bargain day: deep reductions"],
    "closure": ["we are not open today due to the annual stock count", "doors remain locked today for repairs"],
    "heat": ["temperatures expected to soar in the coming days", "scorching weather forecast"],
    "distractor": ["team lunch scheduled", "office plants watered"],
}


def base_series() -> dict[str, pd.Series]:
    """The 16 real daily series, each indexed by its dates."""
    series = {}
    for name, file in (("pedestrians", "pedestrians_daily.csv"), ("peyton_manning", "peyton_manning_log_daily.csv")):
        frame = pd.read_csv(DATA / file, parse_dates=["ds"])
        series[name] = frame.set_index("ds")["y"].asfreq("D").interpolate()
    for data_set in ("ETTh1", "ETTh2"):
        frame = pd.read_csv(DATA / f"{data_set}.csv", parse_dates=["date"]).set_index("date")
        daily = frame.resample("D").mean()
        for column in daily.columns:
            series[f"{data_set} {column}"] = daily[column]
    return series


def split_of(length: int) -> np.ndarray:
    """Each row's part: 0 training, 1 validation, 2 test."""
    part = np.full(length, 2)
    part[:int(length * (TRAIN + VALIDATION))] = 1
    part[:int(length * TRAIN)] = 0
    return part


def semi_synthetic_panel(seed: int = 0, control: bool = False) -> pd.DataFrame:
    """unique_id, ds, y (the real series plus the events' effects), event (text on an event's first day, '' on
    others), kind and part (the truth and the split, for scoring: not inputs). control: random letters instead of
    each text, of the same length."""
    rng, letters = np.random.default_rng(seed), np.random.default_rng([seed, 1])   # the control's own draws:
    # the events fall on the same days, with the same kinds, with and without it
    frames = []
    for name, values in base_series().items():
        y = values.to_numpy(float).copy()
        part = split_of(len(y))
        deviation = np.std(np.diff(y[part == 0]))
        events, kinds = np.full(len(y), "", dtype=object), np.full(len(y), "", dtype=object)
        day = 0
        while day < len(y):
            if rng.random() < EVENT_RATE:
                kind = rng.choice(list(KINDS))
                wordings = TEST_WORDINGS if part[day] == 2 else TRAIN_WORDINGS
                text = rng.choice(wordings[kind])
                events[day] = _random_letters(len(text), letters) if control else text
                lasting = slice(day, min(day + KINDS[kind].days, len(y)))
                y[lasting] += KINDS[kind].effect * deviation
                kinds[lasting] = kind
                day += KINDS[kind].days + 1           # events never overlap
            else:
                day += 1
        frames.append(pd.DataFrame({"unique_id": name, "ds": values.index, "y": y, "event": events,
                                    "kind": kinds, "part": part}))
    return pd.concat(frames, ignore_index=True)


def _random_letters(length: int, rng: np.random.Generator) -> str:
    """`length` random letters, with spaces between words as often as in English (never at either end)."""
    cells = rng.choice(np.array(list(string.ascii_lowercase)), length)
    cells[1:-1][rng.random(max(length - 2, 0)) < 0.18] = " "
    return "".join(cells)


def describe(panel: pd.DataFrame) -> pd.DataFrame:
    """Events per split and kind, and the distinct texts of each."""
    starts = panel[panel["event"] != ""]
    table = starts.groupby(["part", "kind"]).agg(events=("event", "size"), distinct_texts=("event", "nunique"))
    return table.rename(index={0: "train", 1: "validation", 2: "test"}, level="part")


H = 7                                 # a week ahead
CONDITIONS = ("no text", "text", "random strings")


# Informer and TimeLLM as retrieval_m4.REDUCED; Mamba and HyperMamba on the same short schedule (with the
# product's 10 epochs of 100 steps, one fit of Mamba took 16 minutes here, results/text_covariates_seed0.log)
CPU_REDUCED = {**REDUCED, "mamba": {"epochs": 4, "steps_per_epoch": 50},
               "hypermamba": {"epochs": 4, "steps_per_epoch": 50}}


def scored_frame(panel: pd.DataFrame, part: int = 2) -> tuple[pd.DataFrame, int]:
    """The panel cut so that every series' `part` (2: test, 1: validation) holds the same number of whole h-step
    windows, and that number; later rows are dropped. A backtest of that many windows then starts at each
    series' first row of that part, and no fit reads a row of it."""
    rows = panel[panel["part"] == part]
    windows = int(rows.groupby("unique_id", sort=False).size().min() // H)
    first = rows.groupby("unique_id", sort=False).head(1).index
    keep = np.zeros(len(panel), bool)
    for start, (series, group) in zip(first, panel.groupby("unique_id", sort=False)):
        keep[group.index[0]:start + windows * H] = True
    return panel[keep].reset_index(drop=True), windows


def scores(backtest: pd.DataFrame, panel: pd.DataFrame, name: str) -> dict[str, float]:
    """MSE in each series' deviations (of day-to-day changes over its training part), all test days, event
    days (an effect is on) and the other days."""
    deviation = {series: np.std(np.diff(group.loc[group["part"] == 0, "y"].to_numpy()))
                 for series, group in panel.groupby("unique_id")}
    kinds = panel.set_index(["unique_id", "ds"])["kind"]
    frame = backtest.assign(kind=kinds.reindex(pd.MultiIndex.from_frame(backtest[["unique_id", "ds"]])).to_numpy())
    error = ((frame[name] - frame["y"]) / frame["unique_id"].map(deviation)) ** 2
    moved = frame["kind"].isin(["sale", "closure", "heat"])
    return {"mse": float(error.mean()), "mse_event_days": float(error[moved].mean()),
            "mse_other_days": float(error[~moved].mean())}


def model_config(name: str, seed: int, **settings) -> Model | GlobalModel:
    if name in ("arima", "ets", "theta", "naive", "seasonal_naive"):
        return fc.model(name)
    # the product's settings, but for the networks this CPU cannot fit in full 54 times (see CPU_REDUCED)
    return fc.model(name, seed=seed, **{**CPU_REDUCED.get(name, {}), **settings})


def backtest_scores(config: Model | GlobalModel, frame: pd.DataFrame, windows: int, text: bool) -> dict:
    """One fit at the first scored row, `windows` weekly forecasts from it (reading the planned text, or none):
    their seconds and scores."""
    forecaster = fc.Forecaster([config], h=H, n_jobs=1, text_cols=["event"] if text else [],
                               future_text_cols=["event"] if text else [])
    started = time.perf_counter()
    backtest = forecaster.cross_validation(frame[["unique_id", "ds", "y", "event"]], n_windows=windows, step_size=H,
                                           refit=False)
    return {"seconds": round(time.perf_counter() - started, 1), **scores(backtest, frame, config.name)}


def run(models: list[str], seeds: list[int], out: Path) -> pd.DataFrame:
    rows = []
    for seed in seeds:
        panels = {"text": semi_synthetic_panel(seed), "random strings": semi_synthetic_panel(seed, control=True)}
        panels["no text"] = panels["text"]
        for name in models:
            for condition in CONDITIONS:
                frame, windows = scored_frame(panels[condition])
                row = {"model": name, "seed": seed, "condition": condition, "windows": windows,
                       **backtest_scores(model_config(name, seed), frame, windows, condition != "no text")}
                print(row, flush=True)
                rows.append(row)
                pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


def select_fusion(models: list[str], seeds: list[int], out: Path) -> pd.DataFrame:
    """The networks' text fusion, "late" against "cross", scored on the validation rows only: each fit reads the
    training rows, each backtest window lies in the validation part (wordings seen in training), and no test row
    is built. The product's default is the form with the lower mean validation MSE over the seeds."""
    rows = []
    for seed in seeds:
        frame, windows = scored_frame(semi_synthetic_panel(seed), part=1)
        for name in models:
            for fusion in MODES:
                row = {"model": name, "seed": seed, "fusion": fusion, "windows": windows,
                       **backtest_scores(model_config(name, seed, text_fusion=fusion), frame, windows, True)}
                print(row, flush=True)
                rows.append(row)
                pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


def fusion_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per model and fusion: mean validation MSE over seeds, its spread, and the ratio to "late" per seed."""
    late = results[results["fusion"] == "late"].set_index(["model", "seed"])["mse"]
    ratio = results["mse"] / late.reindex(pd.MultiIndex.from_frame(results[["model", "seed"]])).to_numpy()
    return results.assign(ratio=ratio).groupby(["model", "fusion"], sort=False).agg(
        seeds=("seed", "size"), validation_mse=("mse", "mean"), mse_sd=("mse", "std"),
        event_days=("mse_event_days", "mean"), other_days=("mse_other_days", "mean"),
        ratio_to_late=("ratio", "mean"), ratio_min=("ratio", "min"), ratio_max=("ratio", "max"),
        seconds=("seconds", "mean")).round(3)


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per model and condition: mean MSE over seeds, its spread, and the ratio to the same seed without text."""
    base = results[results["condition"] == "no text"].set_index(["model", "seed"])["mse"]
    ratio = results["mse"] / base.reindex(pd.MultiIndex.from_frame(results[["model", "seed"]])).to_numpy()
    table = results.assign(ratio=ratio).groupby(["model", "condition"], sort=False).agg(
        seeds=("seed", "size"), mse=("mse", "mean"), mse_sd=("mse", "std"), event_days=("mse_event_days", "mean"),
        other_days=("mse_other_days", "mean"), ratio_to_no_text=("ratio", "mean"), ratio_min=("ratio", "min"),
        ratio_max=("ratio", "max"), seconds=("seconds", "mean"))
    return table.round(3)


def encoding(out: Path) -> dict[str, float]:
    """Encoding throughput (texts/s, nothing cached), the cache's hit rate on a second fit, the encoder's memory."""
    cache = Path(tempfile.mkdtemp()) / "cache.sqlite"
    texts = [f"{wording} (store {i})" for i in range(400) for wording in
             [*TRAIN_WORDINGS["sale"], *TRAIN_WORDINGS["closure"]]][:4000]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    encoder = TextEncoder(TextEncoderConfig(), cache_path=cache)
    encoder.encode(texts)
    first = encoder.last
    parameters = sum(p.numel() * p.element_size() for p in encoder.language_model.body.parameters())
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    encoder.encode(texts)
    second = encoder.last
    # the product path: two fits of a Forecaster on the panel; what each encoded is what it added to the cache
    frame, _ = scored_frame(semi_synthetic_panel(0))
    os.environ["ALMANAC_CACHE_DIR"] = str(cache.parent / "fits")
    fit_cache = EmbeddingCache(default_cache_path())
    distinct = frame["event"][frame["event"] != ""].nunique()
    encoded_per_fit = []
    for _ in range(2):
        text_encoder.cache_clear()
        before = fit_cache.count()
        fc.Forecaster([model_config("arima", 0)], h=H, n_jobs=1, text_cols=["event"], future_text_cols=["event"]) \
            .fit(frame[["unique_id", "ds", "y", "event"]])
        encoded_per_fit.append(fit_cache.count() - before)
    result = {"texts": first.texts, "encode_seconds": round(first.seconds, 2),
              "texts_per_second": round(first.texts / first.seconds, 1),
              "second_call_hit_rate": second.hit_rate, "second_call_seconds": round(second.seconds, 3),
              "fit_distinct_texts": int(distinct), "first_fit_encoded": encoded_per_fit[0],
              "second_fit_encoded": encoded_per_fit[1], "second_fit_hit_rate": 1 - encoded_per_fit[1] / distinct,
              "encoder_parameters_mb": round(parameters / 2**20, 1), "max_rss_growth_mb": round(grown / 1024, 1)}
    out.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="the panel to describe (without --models)")
    parser.add_argument("--models", nargs="*", default=[], help="backtest these models in every condition")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--select-fusion", action="store_true",
                        help="the networks' text fusion, late against cross, on the validation rows (--models)")
    parser.add_argument("--encoding", action="store_true", help="measure the encoder: throughput, cache, memory")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/text_covariates.csv"))
    parser.add_argument("--summarize", nargs="+", type=Path, help="only print the summary of these result files")
    args = parser.parse_args()
    if args.summarize:
        results = pd.concat([pd.read_csv(path) for path in args.summarize], ignore_index=True)
        print((fusion_summary if "fusion" in results else summary)(results).to_string())
        return
    if args.select_fusion:
        print(fusion_summary(select_fusion(args.models, args.seeds, args.out.with_name("text_fusion_validation.csv")))
              .to_string())
        return
    if args.encoding:
        print(encoding(args.out.with_name("text_encoding.json")))
        return
    if not args.models:
        panel = semi_synthetic_panel(args.seed)
        print(f"{panel['unique_id'].nunique()} series, {len(panel):,} rows, "
              f"{(panel['event'] != '').sum():,} events")
        print(describe(panel).to_string())
        return
    print(summary(run(args.models, args.seeds, args.out)).to_string())


if __name__ == "__main__":
    main()

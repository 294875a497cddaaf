"""How BENCHMARKS.md's settings are chosen: every candidate trained (or solved), its validation score
recorded, the choice read off the record. Test windows are never built here, so a choice made by
this script cannot have seen a test number.

Choices (each is a setting in benchmarks/etth1.py or timellm.py that a person would otherwise pick
by hand):

  ridge-penalty   the ridge floor's penalty, per protocol, lookback, horizon and training cut
                  (full training months, or Time-LLM's 10% few-shot cut), among RIDGE_PENALTIES
  mamba-width     the reduced Mamba / HyperMamba on ETTh1 lookback 96: d_model / dropout among
                  64 / 0.1, 32 / 0.2 and 16 / 0.3, at H = 96 and 720
  patchtst-lr     the reduced PatchTST's learning rate (1e-4, the paper's, or 1e-3) at 100 steps of
                  128 windows per epoch, ETTh1 lookback 96, H = 96
  informer-lr     the reduced (quarter-width) Informer's learning rate (1e-4, the paper's, or 3e-4)
                  on the Informer protocol at H = 24

A network candidate is scored by its best validation loss (MSE on the standardised validation
months, the loss early stopping reads) for each horizon and seed; the choice is the candidate with
the lowest mean over horizons and seeds of its validation loss divided by the best candidate's in that
cell (so that H = 720's larger losses do not outweigh H = 96's).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/select_settings.py ridge-penalty
    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/select_settings.py mamba-width [--seeds 0 1 2] [--horizons 96]

Results go to benchmarks/results/select_<choice>.json (every candidate's score, the choice, the
setting in force, machine and date) and are printed as a markdown table that BENCHMARKS.md quotes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from etth1 import REDUCED, RIDGE_PENALTIES, few_shot_split, fit_network, fit_ridge_recorded, load_ett

from forecasting.models.neural.training import TrainingConfig

RESULTS = Path(__file__).resolve().parent / "results"
TRAINING_FIELDS = {f.name for f in fields(TrainingConfig)}

# name -> what is chosen, among which candidates, where, and what benchmarks/etth1.py runs now
NETWORK_CHOICES = {
    "mamba-width": {"models": ["mamba", "hypermamba"], "horizons": [96, 720],
                    "candidates": [{"d_model": 64, "dropout": 0.1}, {"d_model": 32, "dropout": 0.2},
                                   {"d_model": 16, "dropout": 0.3}],
                    "in_force": {"d_model": REDUCED["mamba"][0]["d_model"], "dropout": REDUCED["mamba"][0]["dropout"]}},
    "patchtst-lr": {"models": ["patchtst"], "horizons": [96],
                    "candidates": [{"learning_rate": 1e-4}, {"learning_rate": 1e-3}],
                    "in_force": {"learning_rate": REDUCED["patchtst"][1]["learning_rate"]}},
    "informer-lr": {"models": ["informer"], "horizons": [24],
                    "candidates": [{"learning_rate": 1e-4}, {"learning_rate": 3e-4}],
                    "in_force": {"learning_rate": REDUCED["informer"][1]["learning_rate"]}},
}
RIDGE_HORIZONS = {96: (24, 48, 96, 168, 192, 336, 720), 512: (96, 192, 336, 720)}


def stamp() -> dict:
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": platform.platform(),
            "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def label(candidate: dict) -> str:
    return ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}" for key, value in candidate.items())


def with_candidate(model: str, candidate: dict) -> dict:
    """REDUCED with the candidate's network and training fields put into `model`'s settings."""
    network, training = REDUCED[model]
    network = {**network, **{k: v for k, v in candidate.items() if k not in TRAINING_FIELDS}}
    training = {**training, **{k: v for k, v in candidate.items() if k in TRAINING_FIELDS}}
    return {**REDUCED, model: (network, training)}


def parse_candidate(text: str) -> dict:
    """"d_model=32,dropout=0.2" -> {"d_model": 32, "dropout": 0.2}"""
    candidate = {}
    for item in text.split(","):
        key, value = item.split("=")
        number = float(value)
        candidate[key.strip()] = int(number) if number.is_integer() and "." not in value and "e" not in value else number
    return candidate


def select_network(name: str, seeds: list[int], horizons: list[int] | None, models: list[str] | None,
                   partial: Path | None = None, candidates: list[dict] | None = None) -> dict:
    """Every candidate trained for every model, horizon and seed; after each run the runs so far are
    written to `partial`, so a run that is stopped keeps what it measured. `candidates` replaces the
    choice's list (to run a part of it in another process, or to try other values)."""
    choice = dict(NETWORK_CHOICES[name])
    if candidates:
        choice["candidates"] = candidates
    horizons, models = horizons or choice["horizons"], models or choice["models"]
    values, calendar, split = load_ett()
    runs = []
    for model in models:
        for horizon in horizons:
            for candidate in choice["candidates"]:
                for seed in seeds:
                    started = time.perf_counter()
                    _, details = fit_network(model, (values, calendar), split, horizon, with_candidate(model, candidate), seed)
                    run = {"model": model, "H": horizon, "seed": seed, "candidate": candidate,
                           "best_val_loss": details["best_val_loss"], "best_epoch": details["best_epoch"],
                           "epochs_run": details["epochs_run"], "parameters": details["parameters"],
                           "seconds": round(time.perf_counter() - started, 1)}
                    runs.append(run)
                    print(run, flush=True)
                    if partial is not None:
                        partial.parent.mkdir(parents=True, exist_ok=True)
                        partial.write_text(json.dumps({"choice": name, **stamp(), "complete": False, "runs": runs},
                                                      indent=1, default=str))
    chosen = choose(runs, choice["candidates"], models, horizons, seeds)
    return {"choice": name, **stamp(), "seeds": seeds, "horizons": horizons, "models": models,
            "in_force": label(choice["in_force"]),
            "candidates": [label(c) for c in choice["candidates"]], "runs": runs, "chosen": chosen}


def choose(runs: list[dict], candidates: list[dict], models: list[str], horizons: list[int], seeds: list[int]) -> dict:
    """Per model: each candidate's mean, over the (horizon, seed) cells in which every candidate ran, of
    its validation loss over the best candidate's in that cell, and the candidate with the lowest.
    Runs in cells where some candidate is missing are listed but not compared ("complete": False)."""
    chosen = {}
    names = [label(c) for c in candidates]
    for model in models:
        ratios = {name: [] for name in names}
        complete = True
        for horizon in horizons:
            for seed in seeds:
                cell = {label(r["candidate"]): r["best_val_loss"] for r in runs
                        if r["model"] == model and r["H"] == horizon and r["seed"] == seed}
                if not cell:
                    continue
                if set(cell) != set(names):
                    complete = False
                    continue
                best = min(cell.values())
                for name, loss in cell.items():
                    ratios[name].append(loss / best)
        score = {name: float(np.mean(value)) for name, value in ratios.items() if value}
        chosen[model] = {"by_validation": min(score, key=score.get) if score else None, "mean_ratio_to_best": score,
                         "compared_cells": len(next(iter(ratios.values()))), "complete": complete}
    return chosen


def runs_from(path: Path, candidate_keys: list[str]) -> list[dict]:
    """Run records from a select_settings JSON ("runs"), or from an etth1.py JSON ("details": one
    entry per network run, its candidate read from the network and training settings it ran with)."""
    record = json.loads(path.read_text())
    if "runs" in record:
        return record["runs"]
    runs = []
    for key, details in record["details"].items():
        model, horizon, *seed = key.split("/")
        settings = {**details["training"], **details["network"]}
        runs.append({"model": model, "H": int(horizon), "seed": int(seed[0][4:]) if seed else details["training"]["seed"],
                     "candidate": {k: settings[k] for k in candidate_keys}, "best_val_loss": details["best_val_loss"],
                     "best_epoch": details["best_epoch"], "epochs_run": details["epochs_run"],
                     "parameters": details["parameters"], "seconds": details["train_seconds"], "source": path.name})
    return runs


def merge(name: str, paths: list[Path], horizons: list[int] | None = None) -> dict:
    """One record from runs made in several processes (or by etth1.py with the setting in force)."""
    choice = NETWORK_CHOICES[name]
    keys = list(dict.fromkeys(key for candidate in choice["candidates"] for key in candidate))
    runs = [run for path in paths for run in runs_from(path, keys)
            if any(run["candidate"] == c for c in choice["candidates"]) and (not horizons or run["H"] in horizons)]
    by_cell = {}
    for run in runs:   # a cell measured twice (same model, horizon, seed, candidate) counts once
        by_cell.setdefault((run["model"], run["H"], run["seed"], label(run["candidate"])), run)
    runs = list(by_cell.values())
    models = [m for m in choice["models"] if any(r["model"] == m for r in runs)]
    horizons, seeds = sorted({r["H"] for r in runs}), sorted({r["seed"] for r in runs})
    return {"choice": name, **stamp(), "merged_from": [p.name for p in paths], "seeds": seeds, "horizons": horizons,
            "models": models, "in_force": label(choice["in_force"]),
            "candidates": [label(c) for c in choice["candidates"]], "runs": runs,
            "chosen": choose(runs, choice["candidates"], models, horizons, seeds)}


def network_table(record: dict) -> str:
    lines = [f"{record['choice']}: best validation loss of every candidate ({record['date']}, {record['machine']}, "
             f"{record['threads']} thread(s)); in force in etth1.py: {record['in_force']}", "",
             "| model | candidate | " + " | ".join(f"H={h} best val loss" for h in record["horizons"]) +
             " | mean val / best | best epochs | parameters (per H) | train seconds | chosen |",
             "|---|---|" + "---|" * len(record["horizons"]) + "---|---|---|---|---|"]
    for model in record["models"]:
        chosen = record["chosen"][model]
        for key in dict.fromkeys([*record.get("candidates", []), *(label(r["candidate"]) for r in record["runs"])]):
            ratio = chosen["mean_ratio_to_best"].get(key, float("nan"))
            mine = sorted((r for r in record["runs"] if r["model"] == model and label(r["candidate"]) == key),
                          key=lambda r: (r["H"], r["seed"]))
            if not mine:
                continue
            tag = (lambda r: f" (seed {r['seed']})") if len(record["seeds"]) > 1 else (lambda r: "")
            cells = [", ".join(f"{r['best_val_loss']:.4f}{tag(r)}" for r in mine if r["H"] == h) or "-"
                     for h in record["horizons"]]
            lines.append(f"| {model} | {key} | " + " | ".join(cells) + f" | {ratio:.3f} | "
                         f"{' '.join(str(r['best_epoch']) for r in mine)} | "
                         f"{' / '.join(f'{p:,}' for p in dict.fromkeys(r['parameters'] for r in mine))} | "
                         f"{sum(r['seconds'] for r in mine):.0f} | {'**yes**' if key == chosen['by_validation'] else ''} |")
        if not chosen.get("complete", True):
            lines.append(f"\n{model}: not every candidate ran in every (H, seed) cell; \"mean val / best\" compares the "
                         f"{chosen['compared_cells']} cell(s) where all of them ran, the other runs are listed only.")
    return "\n".join(lines)


def select_ridge(penalties: tuple[float, ...] = RIDGE_PENALTIES) -> dict:
    """The penalty of every ridge floor BENCHMARKS.md reports, with each candidate's validation MSE.
    Other `penalties` show where the validation optimum lies; they change nothing that etth1.py runs."""
    block_etth1 = load_ett()
    block, split = block_etth1[:2], block_etth1[2]
    rows = []
    for cut in ("full", "few-shot 10%"):
        for lookback, horizons in RIDGE_HORIZONS.items():
            for horizon in horizons:
                if cut != "full" and horizon < 96:
                    continue
                fit_split = split if cut == "full" else few_shot_split(split, 0.1, lookback)
                _, validation, penalty = fit_ridge_recorded(block, fit_split, horizon, lookback, penalties)
                rows.append({"training": cut, "lookback": lookback, "H": horizon, "validation_mse": validation,
                             "chosen": penalty, "at_edge": penalty in (penalties[0], penalties[-1])})
                print(rows[-1], flush=True)
    return {"choice": "ridge-penalty", **stamp(), "penalties": list(penalties), "in_force": list(RIDGE_PENALTIES),
            "rows": rows}


def ridge_table(record: dict) -> str:
    lines = [f"ridge-penalty: validation MSE of every penalty ({record['date']}, {record['machine']}); "
             f"etth1.py's grid: {', '.join(f'{p:g}' for p in record['in_force'])}", "",
             "| training | lookback | H | " + " | ".join(f"penalty {p:g}" for p in record["penalties"]) + " | chosen |",
             "|---|---|---|" + "---|" * len(record["penalties"]) + "---|"]
    for row in record["rows"]:
        lines.append(f"| {row['training']} | {row['lookback']} | {row['H']} | " +
                     " | ".join(f"{row['validation_mse'][p]:.5f}" for p in record["penalties"]) +
                     f" | {row['chosen']:g}{' (edge of the grid)' if row['at_edge'] else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("choice", choices=["ridge-penalty", *NETWORK_CHOICES])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--horizons", type=int, nargs="+", help="default: the choice's")
    parser.add_argument("--models", nargs="+", help="default: the choice's")
    parser.add_argument("--candidate", action="append", type=parse_candidate, metavar="FIELD=VALUE,...",
                        help="network or training fields of one candidate (repeat for several); default: the "
                             "choice's candidates")
    parser.add_argument("--penalties", type=float, nargs="+",
                        help="ridge-penalty only: a grid to look at instead of etth1.RIDGE_PENALTIES (validation only; "
                             "what etth1.py and timellm.py run is unchanged)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="train nothing: one record and table from the runs in these files (select_settings "
                             "or etth1.py outputs)")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/select_<choice>.json")
    args = parser.parse_args()
    out = args.out or RESULTS / f"select_{args.choice}.json"
    if args.merge:
        record = merge(args.choice, args.merge, args.horizons)
        table = network_table(record)
    elif args.choice != "ridge-penalty":
        record = select_network(args.choice, args.seeds, args.horizons, args.models, partial=out,
                                candidates=args.candidate)
        table = network_table(record)
    else:
        record = select_ridge(tuple(sorted(args.penalties)) if args.penalties else RIDGE_PENALTIES)
        table = ridge_table(record)
    out.parent.mkdir(parents=True, exist_ok=True)
    record["table"] = table
    out.write_text(json.dumps(record, indent=1, default=str))
    print(table)


if __name__ == "__main__":
    main()

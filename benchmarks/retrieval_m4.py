"""Retrieval on M4 Hourly (all 414 series, h = 48): every network with and without fused analogues, the analog
model, the ridge floor and seasonal naive, in one run, scored as the M4 competition scored them.

Each model is fit through `Forecaster` on the 414 training series with the product's defaults, as a user
would fit it, and forecasts the 48 hours after each; the networks' retrieval arm is the same model with
`retrieval=K`. M4 Hourly has no dates: every series here ends at the same hour (2001-01-01 00:00), so a
series' last window may retrieve any window of another series' training rows; the test hours are never
in the data. The analog model's k and temperature, and the ridge floor's penalty, are chosen on a
validation split (each series' last 48 training hours, forecast from the rows before them); every
candidate's validation score is recorded. "analog, its own choice" is the analog model as a user gets
it, choosing k and temperature itself on its fit's latest cutoffs. sMAPE, MASE (m = 24) and OWA against
Naive2, as m4.py.

    .venv/bin/python benchmarks/retrieval_m4.py --out benchmarks/results/retrieval_m4_hourly.json
    .venv/bin/python benchmarks/retrieval_m4.py --models informer timellm --reduced informer timellm  # 2-core CPU
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecasting import Forecaster
from forecasting.evaluation.metrics import summarize
from forecasting.models import model
from forecasting.models.analog import K_CANDIDATES, TEMPERATURE_CANDIDATES, Analog, FittedAnalog
from forecasting.retrieval.retriever import Retriever
from m4 import FREQUENCIES, load_m4

H, SEASON = FREQUENCIES["hourly"][:2]
END = pd.Timestamp("2001-01-01")
LOOKBACK = 2 * H                      # the networks' and the analog model's default lookback at h = 48
ANALOG_CANDIDATES = [(k, t) for k in K_CANDIDATES for t in TEMPERATURE_CANDIDATES]   # the analog model's own
RIDGE_PENALTIES = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
LEVEL = 95
NETWORKS = ["dlinear", "patchtst", "informer", "mamba", "hypermamba", "timellm"]
# --reduced, for a 2-core CPU: Informer on etth1.py's short schedule, 4 epochs of 50 steps instead of the product's
# 10 of 100 (a fit with the product's defaults costs about ten times PatchTST's here); TimeLLM as timellm.py's
# reduced configuration (2 MiniLM blocks, 100 text prototypes, d_ff 32) on 4 epochs of 50 steps (with the
# product's defaults an epoch of 20 steps and its validation took about 6 minutes here, a fit about 1.5 hours)
REDUCED = {"informer": {"epochs": 4, "steps_per_epoch": 50},
           "timellm": {"network": {"llm_layers": 2, "n_prototypes": 100, "d_ff": 32},
                       "epochs": 4, "steps_per_epoch": 50}}


def dated(frame: pd.DataFrame, ends: pd.Series) -> pd.DataFrame:
    """unique_id, ds, y with each series' row `ends[id] - 1` at END (the training rows end together)."""
    offsets = frame["step"] - frame["unique_id"].map(ends) + 1
    return frame.assign(ds=END + pd.to_timedelta(offsets, unit="h"))[["unique_id", "ds", "y"]]


def m4_hourly(limit: int | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = load_m4("train", limit), load_m4("test", limit)
    lengths = train.groupby("unique_id")["step"].max() + 1
    test = test.assign(step=test["step"] + test["unique_id"].map(lengths))
    return dated(train, lengths), dated(test, lengths)


def holdout(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The validation split: each series' last H training rows, and the rows before them."""
    last = train.groupby("unique_id").cumcount(ascending=False) < H
    return train[~last], train[last]


def m4_scores(forecasts: pd.DataFrame, train: pd.DataFrame) -> dict[str, dict[str, float]]:
    """sMAPE, MASE and OWA per model column, and the share of actuals inside its 95% interval where it has one."""
    summary = summarize(forecasts, train, season_length=SEASON)
    scores = {name: {"sMAPE": float(summary.loc["smape", name]), "MASE": float(summary.loc["mase", name]),
                     "OWA": float(summary.loc["owa", name])} for name in summary.columns}
    if "coverage-95" in summary.index:
        for name, covered in summary.loc["coverage-95"].items():
            if np.isfinite(covered):
                scores[name]["coverage95"] = float(covered)
    return scores


def ridge_windows(values: list[np.ndarray], horizon: int, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of every series, scaled: (lookback - last) / deviation, (future - last) / deviation."""
    xs, ys = [], []
    for y in values:
        windows = np.lib.stride_tricks.sliding_window_view(y, lookback + horizon)
        x, future = windows[:, :lookback], windows[:, lookback:]
        last, deviation = x[:, -1:], x.std(axis=1, keepdims=True) + 1e-8
        xs.append((x - last) / deviation)
        ys.append((future - last) / deviation)
    return np.concatenate(xs), np.concatenate(ys)


def ridge_forecast(weights: np.ndarray, values: list[np.ndarray], lookback: int) -> np.ndarray:
    x = np.stack([y[-lookback:] for y in values])
    last, deviation = x[:, -1:], x.std(axis=1, keepdims=True) + 1e-8
    return ((x - last) / deviation) @ weights * deviation + last


def ridge_solve(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    return np.linalg.solve(x.T @ x + penalty * np.eye(x.shape[1]), x.T @ y)


def series_values(frame: pd.DataFrame) -> tuple[list[str], list[np.ndarray]]:
    groups = frame.groupby("unique_id", sort=False)["y"]
    return list(groups.groups), [group.to_numpy(float) for _, group in groups]


def as_forecast(ids: list[str], paths: np.ndarray, actual: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = pd.DataFrame({"unique_id": np.repeat(ids, H), name: paths.reshape(-1)})
    frame["ds"] = actual.sort_values(["unique_id", "ds"]).set_index("unique_id").loc[ids, "ds"].to_numpy()
    return frame


def ridge_floor(train: pd.DataFrame, test: pd.DataFrame, record: dict) -> pd.DataFrame:
    """A linear map of the scaled lookback to the scaled future shared by every series, in closed form; its
    penalty is chosen on the validation split."""
    fit_rows, val_rows = holdout(train)
    ids, fit_values = series_values(fit_rows)
    x, y = ridge_windows(fit_values, H, LOOKBACK)
    validation = {}
    for penalty in RIDGE_PENALTIES:
        paths = ridge_forecast(ridge_solve(x, y, penalty), fit_values, LOOKBACK)
        validation[penalty] = m4_scores(as_forecast(ids, paths, val_rows, "ridge").merge(val_rows), fit_rows)["ridge"]
    chosen = min(validation, key=lambda penalty: validation[penalty]["OWA"])
    record["ridge floor"] = {"chosen penalty": chosen, "validation": {str(p): s for p, s in validation.items()}}
    ids, values = series_values(train)
    x, y = ridge_windows(values, H, LOOKBACK)
    return as_forecast(ids, ridge_forecast(ridge_solve(x, y, chosen), values, LOOKBACK), test, "ridge floor")


def analog_choice(train: pd.DataFrame, record: dict) -> tuple[int, float]:
    """The analog model's (k, temperature) with the best validation OWA: one index, every candidate's weights."""
    fit_rows, val_rows = holdout(train)
    largest = Analog(k=max(k for k, _ in ANALOG_CANDIDATES), temperature=1.0)    # both given: it chooses nothing
    forecaster = Forecaster([largest], h=H, freq="h").fit(fit_rows)
    fitted: FittedAnalog = forecaster.states[0][0]
    history = forecaster.history
    validation = {}
    for k, temperature in ANALOG_CANDIDATES:
        candidate = FittedAnalog(retriever=Retriever(fitted.retriever.index, k), temperature=temperature,
                                 calibration_levels=[], calibration_scores=None)
        paths = np.stack([f.mean for f in Analog().forecast_panel(history, "h", H, [], candidate)])
        frame = as_forecast(list(history.ids), paths, val_rows, "analog")
        validation[(k, temperature)] = m4_scores(frame.merge(val_rows), fit_rows)["analog"]
    chosen = min(validation, key=lambda candidate: validation[candidate]["OWA"])
    record["analog"] = {"rows indexed": len(fitted.retriever.index), "search": fitted.retriever.index.method,
                        "chosen": f"k={chosen[0]} t={chosen[1]}",
                        "validation": {f"k={k} t={t}": s for (k, t), s in validation.items()}}
    return chosen


def forecast(config, name: str, train: pd.DataFrame) -> tuple[pd.DataFrame, str, float]:
    started = time.perf_counter()
    predicted = Forecaster([config], h=H, freq="h", level=[LEVEL]).fit(train).predict()
    bounds = {f"{config.name}-{end}-{LEVEL}": f"{name}-{end}-{LEVEL}" for end in ("lo", "hi")}
    return predicted.rename(columns={config.name: name, **bounds}), name, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=NETWORKS)
    parser.add_argument("--k", type=int, default=10, help="analogues fused into each network's windows")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--reduced", nargs="*", default=[], choices=list(REDUCED),
                        help="fit these networks with REDUCED's settings instead of the product's defaults")
    parser.add_argument("--limit", type=int, help="first N series only (for a quick look)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/retrieval_m4_hourly.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test = m4_hourly(args.limit)
    result = {"date": date.today().isoformat(), "machine": platform.platform(), "threads": torch.get_num_threads(),
              "series": int(train["unique_id"].nunique()), "k": args.k, "seeds": args.seeds, "selection": {},
              "scores": {}, "seconds": {}}
    forecasts = test.copy()

    def add(frame: pd.DataFrame, name: str, seconds: float | None = None) -> None:
        nonlocal forecasts
        columns = [column for column in frame.columns if column == name or column.startswith(f"{name}-")]
        forecasts = forecasts.merge(frame[["unique_id", "ds", *columns]], on=["unique_id", "ds"], how="left")
        result["scores"][name] = m4_scores(forecasts[["unique_id", "ds", "y", *columns]], train)[name]
        if seconds is not None:
            result["seconds"][name] = round(seconds, 1)
        print(name, result["scores"][name], f"{seconds or 0:.0f} s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))

    add(*forecast(model("seasonal_naive"), "seasonal naive", train))
    add(ridge_floor(train, test, result["selection"]), "ridge floor")
    k, temperature = analog_choice(train, result["selection"])
    add(*forecast(Analog(k=k, temperature=temperature), "analog", train))
    add(*forecast(Analog(), "analog, its own choice", train))      # the default: k and temperature chosen at fit
    for name in args.models:
        settings, label = (REDUCED[name], f"{name} (reduced)") if name in args.reduced else ({}, name)
        for seed in args.seeds:
            add(*forecast(model(name, seed=seed, **settings), f"{label} seed {seed}", train))
            add(*forecast(model(name, seed=seed, retrieval=args.k, **settings), f"{label} + retrieval seed {seed}",
                          train))
    print(table(result["scores"]))


def table(scores: dict[str, dict[str, float]]) -> str:
    """One line per model: sMAPE, MASE and OWA, each the mean over its seeds, with the seeds' OWAs."""
    runs: dict[str, list[dict[str, float]]] = {}
    for name, score in scores.items():
        runs.setdefault(name.split(" seed ")[0], []).append(score)
    lines = ["| model | sMAPE | MASE | OWA | OWA per seed | OWA sd | coverage95 |", "|---|---|---|---|---|---|---|"]
    for name, seeds in runs.items():
        covered = [seed["coverage95"] for seed in seeds if "coverage95" in seed]
        owas = [seed["OWA"] for seed in seeds]
        means = [np.mean([seed[metric] for seed in seeds]) for metric in ("sMAPE", "MASE", "OWA")]
        spread = f"{np.std(owas, ddof=1):.3f}" if len(owas) > 1 else ""
        lines.append(f"| {name} | {means[0]:.3f} | {means[1]:.3f} | {means[2]:.3f} | "
                     f"{', '.join(f'{owa:.3f}' for owa in owas)} | {spread} | "
                     f"{f'{np.mean(covered):.3f}' if covered else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()

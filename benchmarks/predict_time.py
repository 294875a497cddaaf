"""Predict time of a fitted network, before and after keeping it in memory (commit b70428f).

Before, a fitted network became numpy arrays after `fit` and was thrown away: every `predict` rebuilt
it from the arrays, and TimeLLM reloaded its language model from disk. After, the trained network
stays in memory from fit to predict and a frozen language model loads once per process.

For each checkout, in its own process (PYTHONPATH=<checkout>, 2 torch threads): TimeLLM (the bundled
MiniLM) and PatchTST with default settings except a small training budget (1 epoch of 5 steps), on
the last 2,000 hours of each of the 7 ETTh1 series, h=24, levels 80 and 95. It times `fit`, `predict`
(median of 3 calls after the fit) and `cross_validation(df, n_windows=4, refit=False)` (one fit at the
first cutoff, then 4 forecasts), in wall seconds and in CPU seconds of the process (all threads: less
moved by other jobs on a shared machine than wall time). Before and after alternate (before first for
one model, after first for the other) to spread that noise.

It also reports the largest absolute difference between the two checkouts' forecasts (every column:
point and interval bounds), and the same for an untrained control (learning_rate=0, so the weights stay
at their seeded initialisation): the after commit changed training (transformers' warm-up + cosine
schedule, whose warm-up starts from 0; no weight decay on biases and norms), so trained forecasts
differ, and the control shows whether anything else, the inference path, did.

    .venv/bin/python benchmarks/predict_time.py --before /work/wt-before --after .
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

MODELS = ("timellm", "patchtst")
TRAINING = {"epochs": 1, "steps_per_epoch": 5}
H, LEVEL, HOURS, THREADS, N_WINDOWS = 24, [80, 95], 2000, 2, 4


def measure(name: str, out: str) -> None:
    """Times one model in this process, on the checkout that PYTHONPATH points at; writes JSON to `out`."""
    import torch
    torch.set_num_threads(THREADS)
    import forecasting as fc

    def model(**settings):
        # The one API difference: before b70428f each network was a class (fc.TimeLLM, fc.PatchTST);
        # after, one generic neural model is built by its registered name (fc.model("timellm", ...)).
        if hasattr(fc, "model"):
            return fc.model(name, **settings)
        return {"timellm": fc.TimeLLM, "patchtst": fc.PatchTST}[name](**settings)

    def timed(call):
        """(result, wall seconds, CPU seconds of this process, all threads)"""
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    data = fc.datasets.load("etth1")
    frame = data.frame if hasattr(data, "frame") else data    # a Panel since 4a8cceb, a frame before
    df = frame.groupby("unique_id").tail(HOURS)
    forecaster = fc.Forecaster([model(**TRAINING)], h=H, level=LEVEL)
    _, fit_s, fit_cpu = timed(lambda: forecaster.fit(df))
    predicts = [timed(forecaster.predict) for _ in range(3)]
    backtest, cv_s, cv_cpu = timed(lambda: forecaster.cross_validation(df, n_windows=N_WINDOWS, refit=False))
    # Control: with learning rate 0 the weights stay at their seeded initialisation, so the training
    # changes (schedule, weight decay) cannot act and what is left is the inference path.
    untrained = fc.Forecaster([model(epochs=1, steps_per_epoch=1, learning_rate=0.0)], h=H, level=LEVEL).fit(df)
    forecasts = [forecast for forecast, _, _ in predicts]
    columns = [column for column in forecasts[0] if column.startswith(name)]
    Path(out).write_text(json.dumps({
        "fit": (fit_s, fit_cpu), "cross_validation": (cv_s, cv_cpu),
        "predict": (statistics.median(s for _, s, _ in predicts), statistics.median(c for _, _, c in predicts)),
        "predicts_identical": all(f[columns].equals(forecasts[0][columns]) for f in forecasts[1:]),
        "forecast": forecasts[0][columns].to_numpy().tolist(),
        "backtest": backtest[columns].to_numpy().tolist(),
        "untrained": untrained.predict()[columns].to_numpy().tolist(),
        "torch": torch.__version__,
    }))


def run(checkout: Path, name: str) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": str(THREADS)}
        done = subprocess.run([sys.executable, "-W", "ignore", __file__, "--measure", name, "--out", out.name],
                              env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{name} on {checkout} failed:\n{done.stderr[-3000:]}")
        return json.loads(Path(out.name).read_text())


def max_difference(a: list, b: list) -> float:
    return max(abs(x - y) for row_a, row_b in zip(a, b) for x, y in zip(row_a, row_b))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="checkout of the commit before (574affd)")
    parser.add_argument("--after", type=Path, default=Path("."), help="checkout of the commit after (b70428f)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure, args.out)
    if args.before is None:
        parser.error("--before is required")
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    results: dict[tuple[str, str], dict] = {}
    for i, name in enumerate(MODELS):
        for side in ("before", "after") if i % 2 == 0 else ("after", "before"):
            began = time.perf_counter()
            results[name, side] = run(checkouts[side], name)
            print(f"  {name} {side}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)

    print(f"ETTh1, 7 series x last {HOURS} hours, h={H}, level={LEVEL}, training {TRAINING}; {cpu_model()}, "
          f"{os.cpu_count()} cores, {THREADS} torch threads, torch {results[MODELS[0], 'after']['torch']}; "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC\n")
    print("| model | step | before s | after s | after/before | before CPU s | after CPU s | CPU after/before |\n"
          "|---|---|---:|---:|---:|---:|---:|---:|")
    steps = {"fit": "fit", "predict": "predict (median of 3)",
             "cross_validation": f"cross_validation ({N_WINDOWS} windows, refit=False)"}
    for name in MODELS:
        for key, label in steps.items():
            (before, before_cpu), (after, after_cpu) = results[name, "before"][key], results[name, "after"][key]
            print(f"| {name} | {label} | {before:.2f} | {after:.2f} | {after / before:.2f} "
                  f"| {before_cpu:.2f} | {after_cpu:.2f} | {after_cpu / before_cpu:.2f} |")
    print("\nForecasts, after minus before, every column (point and bounds); the untrained control is fitted with "
          "learning_rate=0, so its weights are the seeded initialisation:\n\n"
          "| model | max abs. diff. predict | max abs. diff. cross_validation | max abs. diff. untrained control "
          "| mean abs. forecast | 3 predicts identical (before / after) |\n|---|---:|---:|---:|---:|---|")
    for name in MODELS:
        before, after = results[name, "before"], results[name, "after"]
        scale = statistics.fmean(abs(value) for row in after["forecast"] for value in row)
        print(f"| {name} | {max_difference(before['forecast'], after['forecast']):.4g} "
              f"| {max_difference(before['backtest'], after['backtest']):.4g} "
              f"| {max_difference(before['untrained'], after['untrained']):.4g} | {scale:.3g} "
              f"| {before['predicts_identical']} / {after['predicts_identical']} |")


if __name__ == "__main__":
    main()

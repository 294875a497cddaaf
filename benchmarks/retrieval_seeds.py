"""Per-seed test MSE of each network with and without retrieval, gathered from retrieval.py's result files
(runs of different seeds), with the mean, the spread and the change of the mean.

    .venv/bin/python benchmarks/retrieval_seeds.py benchmarks/results/retrieval_etth1_all.json \
        benchmarks/results/retrieval_etth1_seeds12.json benchmarks/results/retrieval_etth1_patchtst_seeds12.json
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

RUN = re.compile(r"^(?P<label>.+)/(?P<horizon>\d+)/seed(?P<seed>\d+)$")
ARMS = ("", " + retrieval", " + retrieval (index to validation)")


def gathered(paths: list[Path]) -> dict[tuple[str, int], dict[int, float]]:
    """(label, horizon) -> {seed: test MSE} over every file (a later file's run of the same seed wins)."""
    runs: dict[tuple[str, int], dict[int, float]] = {}
    for path in paths:
        for key, details in json.loads(path.read_text())["details"].items():
            match = RUN.match(key)
            runs.setdefault((match["label"], int(match["horizon"])), {})[int(match["seed"])] = details["mse"]
    return runs


def table(runs: dict[tuple[str, int], dict[int, float]]) -> str:
    models = sorted({label for label, _ in runs if " + " not in label})
    horizons = sorted({horizon for _, horizon in runs})
    lines = ["| H | model | " + " | ".join(f"{arm.strip(' +') or 'plain'}: per seed | mean ± sd" for arm in ARMS)
             + " | change of the mean (training index) | seeds |", "|---" * (3 + 2 * len(ARMS)) + "|"]
    for horizon in horizons:
        for model in models:
            cells, means, seeds = [], [], set()
            for arm in ARMS:
                per_seed = runs.get((model + arm, horizon), {})
                seeds |= set(per_seed)
                values = [per_seed[seed] for seed in sorted(per_seed)]
                spread = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else ""
                cells += [", ".join(f"{value:.3f}" for value in values), f"{np.mean(values):.3f}{spread}"]
                means.append(np.mean(values))
            change = f"{100 * (means[1] / means[0] - 1):+.1f}%"
            lines.append(f"| {horizon} | {model} | " + " | ".join(cells) + f" | {change} | {len(seeds)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, nargs="+")
    print(table(gathered(parser.parse_args().results)))


if __name__ == "__main__":
    main()

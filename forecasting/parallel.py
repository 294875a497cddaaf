"""Run independent tasks on worker processes, with a progress bar on terminals."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

SERIAL_BELOW = 8  # starting workers costs more than a handful of tasks


def map_tasks(fn: Callable[[T], R], tasks: Sequence[T], n_jobs: int | None, desc: str) -> list[R]:
    """`[fn(t) for t in tasks]`, on `n_jobs` processes (None: all cores), order kept."""
    workers = min(n_jobs or os.cpu_count() or 1, len(tasks))
    with tqdm(total=len(tasks), desc=desc, disable=None, leave=False) as bar:
        if workers <= 1 or len(tasks) < SERIAL_BELOW:
            results = []
            for task in tasks:
                results.append(fn(task))
                bar.update()
            return results
        chunksize = max(1, len(tasks) // (workers * 8))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for result in pool.map(fn, tasks, chunksize=chunksize):
                results.append(result)
                bar.update()
            return results

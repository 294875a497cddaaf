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


Progress = Callable[[str, int, int], None]  # (stage, tasks done, tasks in all)


def map_tasks(fn: Callable[[T], R], tasks: Sequence[T], n_jobs: int | None, desc: str,
              progress: Progress | None = None) -> list[R]:
    """`[fn(t) for t in tasks]`, on `n_jobs` processes (None: all cores), order kept.

    Progress shows as a bar on terminals, and is reported to `progress` (e.g. a UI) if given."""
    workers = min(n_jobs or os.cpu_count() or 1, len(tasks))
    results: list[R] = []
    with tqdm(total=len(tasks), desc=desc, disable=None, leave=False) as bar:
        def collect(result: R) -> None:
            results.append(result)
            bar.update()
            if progress is not None:
                progress(desc, len(results), len(tasks))

        if workers <= 1 or len(tasks) < SERIAL_BELOW:
            for task in tasks:
                collect(fn(task))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(fn, tasks, chunksize=max(1, len(tasks) // (workers * 8))):
                    collect(result)
    return results

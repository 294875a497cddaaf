"""Run independent tasks on worker processes, with a progress bar on terminals."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")

SERIAL_BELOW = 8    # starting workers costs more than a handful of tasks
HEARTBEAT_S = 1.0   # while workers run, `progress` hears from map_tasks at least this often


Progress = Callable[[str, int, int], None]  # (stage, tasks done, tasks in all)


def map_tasks(fn: Callable[[T], R], tasks: Sequence[T], n_jobs: int | None, desc: str,
              progress: Progress | None = None) -> list[R]:
    """`[fn(t) for t in tasks]`, on `n_jobs` processes (None: all cores), order kept.

    Progress shows as a bar on terminals, and is reported to `progress` (e.g. a UI) if given: after each
    task, and while workers run at least every HEARTBEAT_S seconds (with the same counts). An exception
    from `progress` (a user who left, say) stops the work: tasks not started are dropped, workers ended."""
    workers = min(n_jobs or os.cpu_count() or 1, len(tasks))
    results: list[R] = []
    with tqdm(total=len(tasks), desc=desc, disable=None, leave=False) as bar:
        def report() -> None:
            if progress is not None:
                progress(desc, len(results), len(tasks))

        def collect(result: R) -> None:
            results.append(result)
            bar.update()
            report()

        if workers <= 1 or len(tasks) < SERIAL_BELOW:
            for task in tasks:
                collect(fn(task))
        else:
            size = max(1, len(tasks) // (workers * 8))
            pool = ProcessPoolExecutor(max_workers=workers)
            try:
                chunks = [pool.submit(_run_chunk, fn, tasks[start:start + size]) for start in range(0, len(tasks), size)]
                for chunk in chunks:
                    while not wait([chunk], timeout=HEARTBEAT_S).done:
                        report()
                    for result in chunk.result():
                        collect(result)
            except BaseException:
                _end_workers(pool)
                raise
            pool.shutdown()
    return results


def _run_chunk(fn: Callable[[T], R], tasks: Sequence[T]) -> list[R]:
    """Several tasks in one call to a worker: one round trip instead of one per task."""
    return [fn(task) for task in tasks]


def _end_workers(pool: ProcessPoolExecutor) -> None:
    """Drop the tasks not started and kill the workers, running tasks and all (what Python 3.14's
    `ProcessPoolExecutor.kill_workers` does; shutdown alone would wait for every queued task). SIGKILL, as
    a worker forked from a server may have inherited its SIGTERM handler, and holds nothing to save."""
    processes = list((pool._processes or {}).values())  # shutdown forgets them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()

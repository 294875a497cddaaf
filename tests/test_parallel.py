"""map_tasks: results in order on worker processes, and work that stops when its progress callback says so."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from forecasting.api.parallel import SERIAL_BELOW, map_tasks

SLEEP_S = 30       # far longer than a heartbeat: a task that finishes was not stopped
ENDED_WITHIN_S = 20


class Leave(Exception):
    """What a UI's progress callback raises when its user has gone."""


def square(x: int) -> int:
    return x * x


def slow_task(marker_dir: str) -> int:
    """Leaves its pid, sleeps, then leaves a 'finished' marker."""
    Path(marker_dir, f"started-{os.getpid()}").touch()
    time.sleep(SLEEP_S)
    Path(marker_dir, f"finished-{os.getpid()}").touch()
    return os.getpid()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_results_keep_the_order_of_the_tasks_and_progress_counts_them():
    calls = []
    tasks = list(range(3 * SERIAL_BELOW))
    results = map_tasks(square, tasks, n_jobs=2, desc="fit", progress=lambda *call: calls.append(call))
    assert results == [x * x for x in tasks]
    counts = [done for _, done, _ in calls]
    assert counts == sorted(counts) and calls[-1] == ("fit", len(tasks), len(tasks))
    assert {stage for stage, _, _ in calls} == {"fit"} and {total for _, _, total in calls} == {len(tasks)}


def test_a_progress_callback_that_raises_stops_the_running_workers(tmp_path):
    def progress(stage: str, done: int, total: int) -> None:
        if any(tmp_path.glob("started-*")):
            raise Leave

    with pytest.raises(Leave):
        map_tasks(slow_task, [str(tmp_path)] * SERIAL_BELOW, n_jobs=2, desc="fit", progress=progress)
    workers = [int(path.name.split("-")[1]) for path in tmp_path.glob("started-*")]
    assert workers
    deadline = time.monotonic() + ENDED_WITHIN_S
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
    assert not list(tmp_path.glob("finished-*"))  # no task ran to its end, and none was started after
    assert len(workers) <= 2

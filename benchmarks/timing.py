"""Shared by the speed benchmarks: the median time of a callable and the memory it grew by."""
from __future__ import annotations

import os
import resource
import statistics
import time
from typing import Callable

import torch


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_mark(device: str) -> int:
    """Memory in use now; pass it to `peak_growth` after the runs. Meant for a fresh process."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    return resident_bytes()


def peak_growth(mark: int, device: str) -> int:
    """Peak bytes above `mark`: max_memory_allocated on CUDA, the peak resident set (ru_maxrss) on CPU."""
    if device == "cuda":
        return torch.cuda.max_memory_allocated() - mark
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - mark  # ru_maxrss: KiB on Linux


def median_seconds(run: Callable[[], object], device: str, warmup: int, repeats: int,
                   min_total: float = 1.0) -> float:
    """Median of at least `repeats` timed runs and at least `min_total` seconds of them, after warm-up."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    seconds: list[float] = []
    while len(seconds) < warmup + repeats or sum(seconds[warmup:]) < min_total:
        began = time.perf_counter()
        run()
        sync()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds[warmup:])

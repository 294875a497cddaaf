"""What a window is compared by, and what it offers: its shape as a key, its future in its own scale.

A key is the lookback window z-normalised (its mean and level removed, its scale divided out) at
several granularities: the window itself, then means over 2 and 4 steps, each z-normalised and
divided by the square root of its length, the parts divided by the square root of their number. The
inner product of two keys is then the mean Pearson correlation of the two windows over the
granularities, in [-1, 1]: shape-aware, blind to level and scale (RAFT, Han et al. 2025, compares
windows at several granularities with the level removed).

A value is the window's future in the units of its own lookback: (future - mean) / deviation, so a
query adds back its own mean and deviation (`in_query_scale`). A window that was nearly flat before a jump has a
future of thousands of its own deviations (M4 Weekly has such), which would swamp any average of analogues, so
values are clipped to FUTURE_LIMIT deviations (chosen on validation: benchmarks/analog_limit.py).
"""
from __future__ import annotations

import numpy as np

GRANULARITIES = (1, 2, 4)   # steps averaged per key element, at each granularity
FUTURE_LIMIT = 5.0           # |value| at most this many deviations of the window's lookback (None: unclipped)
MIN_DEVIATION = 1e-8        # a flat window: its key is zero (no similarity to any other), its future is offset only


def key_size(lookback: int) -> int:
    """Length of a window's key: the parts at each granularity that fits at least two means."""
    return sum(lookback // g for g in _granularities(lookback))


def window_keys(windows: np.ndarray) -> np.ndarray:
    """windows [N, L] -> keys [N, key_size(L)] (float32), unit length unless the window is flat."""
    windows = np.asarray(windows, np.float64)
    n, lookback = windows.shape
    granularities = _granularities(lookback)
    parts = []
    for g in granularities:
        usable = lookback // g * g                                       # the newest steps that fill whole groups
        pooled = windows[:, lookback - usable:].reshape(n, -1, g).mean(axis=2)   # [N, L // g]
        centred = pooled - pooled.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(centred, axis=1, keepdims=True)
        parts.append(np.where(norm > MIN_DEVIATION, centred / np.maximum(norm, MIN_DEVIATION), 0.0))
    return (np.concatenate(parts, axis=1) / np.sqrt(len(granularities))).astype(np.float32)


def window_scale(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each window's mean and deviation [N] (a flat window's deviation counts as 1)."""
    windows = np.asarray(windows, np.float64)
    deviation = windows.std(axis=1)
    return windows.mean(axis=1), np.where(deviation > MIN_DEVIATION, deviation, 1.0)


def history_in_own_scale(keys: np.ndarray, lookback: int) -> np.ndarray:
    """Windows in their own scale, (x - mean) / deviation [N, L], read back from their keys [N, D]: the first
    part of a key is that, divided by sqrt(L) and by the square root of the number of granularities."""
    return keys[:, :lookback] * np.float32(np.sqrt(len(_granularities(lookback)) * lookback))


def in_own_scale(futures: np.ndarray, mean: np.ndarray, deviation: np.ndarray) -> np.ndarray:
    """futures [N, H] -> (future - mean) / deviation of each one's lookback window, within FUTURE_LIMIT, float32."""
    values = (futures - mean[:, None]) / deviation[:, None]
    if FUTURE_LIMIT is not None:
        values = np.clip(values, -FUTURE_LIMIT, FUTURE_LIMIT)
    return values.astype(np.float32)


def in_query_scale(values: np.ndarray, mean: np.ndarray, deviation: np.ndarray) -> np.ndarray:
    """Retrieved values [Q, k, H] in each query's units: value * deviation + mean of the query window."""
    return values * deviation[:, None, None] + mean[:, None, None]


def _granularities(lookback: int) -> tuple[int, ...]:
    return tuple(g for g in GRANULARITIES if lookback // g >= 2) or (1,)

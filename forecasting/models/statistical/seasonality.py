"""Classical seasonal adjustment as the M4 benchmarks define it (used by naive2 and arima), and which seasons a
series has (detected_seasons) and which is strongest (seasonal naive's)."""
from __future__ import annotations

import numpy as np
from statsmodels.tsa.seasonal import seasonal_decompose
from statsmodels.tsa.stattools import acf

SEASONS_TESTED = 3  # full seasons the seasonality test needs; a shorter series counts as not seasonal
# a longer season must err this much less than a shorter one to be chosen: a week of hours also repeats a purely
# daily cycle, only from older values (chosen on validation: benchmarks/seasonal_naive_season.py)
LONGER_SEASON_MARGIN = 0.05


def is_seasonal(y: np.ndarray, season_length: int) -> bool:
    """M4's 90% autocorrelation test at lag `season_length` (needs SEASONS_TESTED full seasons)."""
    m = season_length
    if m <= 1 or len(y) < SEASONS_TESTED * m or np.ptp(y) == 0:
        return False
    r = acf(y, nlags=m, fft=True)[1:]  # r[k-1] is the autocorrelation at lag k
    limit = 1.645 * np.sqrt((1 + 2 * np.sum(r[: m - 1] ** 2)) / len(y))
    return bool(abs(r[m - 1]) > limit)


def strongest_season(y: np.ndarray, season_length: int, seasons: tuple[int, ...]) -> int:
    """The period among `season_length` and the `seasons` the series has two cycles of whose seasonal naive
    forecast would have erred least: the least mean |y[t] - y[t - m]| over the steps every one of them can
    forecast, a longer one only where it errs LONGER_SEASON_MARGIN less. Hourly data whose weekly cycle is
    stronger than its daily one gets 168."""
    periods = sorted({m for m in seasons if m > 1 and len(y) >= 2 * m} | {season_length})
    if len(periods) == 1:
        return season_length
    t = np.arange(periods[-1], len(y))
    chosen, least = periods[0], float(np.mean(np.abs(y[t] - y[t - periods[0]])))
    for m in periods[1:]:
        error = float(np.mean(np.abs(y[t] - y[t - m])))
        if error < (1 - LONGER_SEASON_MARGIN) * least:
            chosen, least = m, error
    return chosen


def seasonal_indices(y: np.ndarray, season_length: int) -> tuple[np.ndarray, bool] | None:
    """One season of classical-decomposition indices, phase-aligned so `idx[t % m]` applies at t.

    Multiplicative for positive data, additive otherwise; None when the series is not seasonal.
    Returns (indices, multiplicative).
    """
    if not is_seasonal(y, season_length):
        return None
    multiplicative = bool(np.all(y > 0))
    seasonal = seasonal_decompose(y, model="multiplicative" if multiplicative else "additive",
                                  period=season_length, two_sided=True).seasonal
    return seasonal[:season_length].copy(), multiplicative


def deseasonalize(y: np.ndarray, indices: np.ndarray, multiplicative: bool) -> np.ndarray:
    s = indices[np.arange(len(y)) % len(indices)]
    return y / s if multiplicative else y - s


def reseasonalize(values: np.ndarray, start: int, indices: np.ndarray, multiplicative: bool) -> np.ndarray:
    """Put the seasonality back on values that stand at positions start, start+1, ..."""
    s = indices[(start + np.arange(len(values))) % len(indices)]
    return values * s if multiplicative else values + s


def detected_seasons(series: list[np.ndarray], candidates: list[int]) -> list[int]:
    """The candidate periods that most of the series long enough to test them show (M4's 90% test, on
    SEASONS_TESTED full seasons), shortest first: e.g. [24, 168] for hourly data with daily and weekly cycles."""
    found = []
    for period in candidates:
        testable = [y for y in series if len(y) >= SEASONS_TESTED * period]
        if testable and 2 * sum(is_seasonal(y, period) for y in testable) > len(testable):
            found.append(period)
    return found

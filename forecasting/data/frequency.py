"""Infer a series' sampling frequency and its usual seasonal period."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

# A spacing must cover at least this share of the steps to count as the series' frequency
# (ties go to the smallest spacing, so a short series with one gap still has a frequency).
_MOST = 0.5
_DAY = pd.Timedelta(days=1)
_CALENDAR_LIKE = {pd.Timedelta(days=days) for days in (29, 30, 31, 90, 91, 92, 365, 366)}


def infer_freq(ds: pd.Series) -> str | None:
    """The pandas offset alias of a series' timestamps ("h", "D", "W-SUN", "MS", ...), or None if irregular.

    Tolerates a few gaps: when pandas cannot infer a frequency, the most common spacing is used
    if it covers most of the steps (calendar months are counted in months, not days).
    """
    stamps = pd.DatetimeIndex(pd.Series(ds).dropna().unique()).sort_values()
    if len(stamps) < 2:
        return None
    if len(stamps) >= 3:
        alias = pd.infer_freq(stamps)
        if alias is not None:
            return alias
    offset = _calendar_step(stamps) or _modal_step(stamps)
    if offset is None:
        return None
    # Spell the offset the way pandas would for gap-free data, so gappy and complete series agree.
    return pd.infer_freq(pd.date_range(stamps[0], periods=13, freq=offset)) or offset.freqstr


def season_length(freq: str) -> int:
    """The usual seasonal period for a frequency: hourly 24, daily 7, weekly 52, monthly 12, ...; unknown 1."""
    offset = to_offset(freq)
    n = offset.n
    if isinstance(offset, pd.offsets.BusinessDay):
        return 5 if n == 1 else 1
    if isinstance(offset, pd.offsets.Day):
        return 7 if n == 1 else 1
    if isinstance(offset, pd.offsets.Tick):
        steps_per_day, rest = divmod(_DAY, pd.Timedelta(offset))
        return int(steps_per_day) if rest == pd.Timedelta(0) and steps_per_day > 1 else 1
    if isinstance(offset, pd.offsets.Week):
        return 52 if n == 1 else 1
    per_year = {
        pd.offsets.MonthBegin: 12,
        pd.offsets.MonthEnd: 12,
        pd.offsets.QuarterBegin: 4,
        pd.offsets.QuarterEnd: 4,
    }.get(type(offset))
    if per_year is not None and per_year % n == 0:
        return per_year // n
    return 1


def candidate_seasons(freq: str) -> list[int]:
    """Every seasonal period a frequency may have, shortest first: hourly 24 and 168 (a day, a week), daily 7 and
    365, half-hourly 48 and 336, weekly 52, monthly 12, ...; none for an unknown one. Which of them a series
    really has is tested on its values (see `forecasting.models.statistical.seasonality.detected_seasons`)."""
    main = season_length(freq)
    if main == 1:
        return []
    offset = to_offset(freq)
    if isinstance(offset, pd.offsets.Tick) and not isinstance(offset, pd.offsets.Day):
        return [main, 7 * main]           # a day and a week of steps
    if isinstance(offset, pd.offsets.Day):
        return [7, 365]
    return [main]


def step_number(stamp: pd.Timestamp, freq: str) -> int | None:
    """How many steps of `freq` lie between 1970-01-01 and `stamp`: a phase shared by every series of that
    frequency, so a season's position is the same in all of them (None for a frequency without one)."""
    offset = to_offset(freq)
    stamp = pd.Timestamp(stamp)
    if isinstance(offset, pd.offsets.Week):
        return int((stamp - pd.Timestamp("1970-01-01")).days // (7 * offset.n))
    if isinstance(offset, pd.offsets.BusinessDay):
        return int(np.busday_count(np.datetime64("1970-01-01", "D"), np.datetime64(stamp.date(), "D")) // offset.n)
    if isinstance(offset, pd.offsets.Tick):
        return int((stamp - pd.Timestamp("1970-01-01")) // pd.Timedelta(offset))
    months = {pd.offsets.MonthBegin: 1, pd.offsets.MonthEnd: 1, pd.offsets.QuarterBegin: 3, pd.offsets.QuarterEnd: 3,
              pd.offsets.YearBegin: 12, pd.offsets.YearEnd: 12}.get(type(offset))
    if months is None:
        return None
    return int((stamp.year * 12 + stamp.month - 1) // (months * offset.n))


def _calendar_step(stamps: pd.DatetimeIndex) -> pd.DateOffset | None:
    """A month/quarter/year offset when every stamp is a midnight month start or month end."""
    if not (stamps == stamps.normalize()).all():
        return None
    if (stamps.day == 1).all():
        starts = True
    elif stamps.is_month_end.all():
        starts = False
    else:
        return None
    months = np.diff(stamps.year * 12 + stamps.month)
    step = _most_common(months)
    if step is None:
        return None
    if step % 12 == 0:
        kind = pd.offsets.YearBegin if starts else pd.offsets.YearEnd
        return kind(step // 12, month=stamps[0].month)
    if step % 3 == 0:
        kind = pd.offsets.QuarterBegin if starts else pd.offsets.QuarterEnd
        return kind(step // 3, startingMonth=stamps[0].month)
    kind = pd.offsets.MonthBegin if starts else pd.offsets.MonthEnd
    return kind(step)


def _modal_step(stamps: pd.DatetimeIndex) -> pd.DateOffset | None:
    """The most common fixed spacing; business days when daily stamps never fall on a weekend."""
    step = _most_common(np.diff(stamps.asi8))
    if step is None:
        return None
    spacing = pd.Timedelta(step)
    if spacing in _CALENDAR_LIKE:
        return None  # months, quarters or years not anchored at a month start or end: no fixed step fits them
    is_weekdays = (stamps.dayofweek < 5).all() and stamps[-1] - stamps[0] >= 7 * _DAY
    if spacing == _DAY and is_weekdays:
        return pd.offsets.BusinessDay()
    return to_offset(spacing)


def _most_common(steps: np.ndarray) -> int | None:
    """The step value covering at least half of the steps, else None."""
    values, counts = np.unique(steps, return_counts=True)
    best = counts.argmax()
    if counts[best] < _MOST * len(steps):
        return None
    return int(values[best])

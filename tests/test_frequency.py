from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.data.frequency import infer_freq, season_length

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

REGULAR = [
    ("2024-01-01", "h", "h"),
    ("2024-01-01", "D", "D"),
    ("2024-01-07", "W-SUN", "W-SUN"),
    ("2024-01-02", "7D", "W-TUE"),
    ("2024-01-01", "MS", "MS"),
    ("2024-01-31", "ME", "ME"),
    ("2024-01-01", "QS", "QS-OCT"),
    ("2024-01-01", "YS", "YS-JAN"),
    ("2024-01-01", "15min", "15min"),
    ("2024-01-01", "10min", "10min"),
    ("2024-01-01", "B", "B"),
]


@pytest.mark.parametrize(("start", "freq", "alias"), REGULAR)
def test_regular_timestamps(start, freq, alias):
    assert infer_freq(pd.Series(pd.date_range(start, periods=60, freq=freq))) == alias


@pytest.mark.parametrize(("start", "freq", "alias"), REGULAR)
def test_a_few_gaps_give_the_same_alias(start, freq, alias):
    stamps = pd.date_range(start, periods=60, freq=freq).delete([5, 17, 40])
    assert infer_freq(pd.Series(stamps)) == alias


def test_unsorted_and_repeated_timestamps_are_fine():
    stamps = pd.Series(pd.date_range("2024-01-01", periods=30, freq="D"))
    shuffled = pd.concat([stamps, stamps.iloc[:3]]).sample(frac=1, random_state=0)
    assert infer_freq(shuffled) == "D"


def test_irregular_timestamps_give_none():
    rng = np.random.default_rng(0)
    seconds = np.sort(rng.integers(0, 10**7, 80))
    assert infer_freq(pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s"))) is None


def test_monthly_dates_not_at_month_start_or_end_give_none():
    fifteenths = pd.date_range("2024-01-01", periods=24, freq="MS") + pd.Timedelta(days=14)
    assert infer_freq(pd.Series(fifteenths)) is None


def test_one_timestamp_gives_none_and_two_give_their_step():
    assert infer_freq(pd.Series(pd.to_datetime(["2024-01-01"]))) is None
    assert infer_freq(pd.Series(pd.to_datetime(["2024-01-01", "2024-01-02"]))) == "D"


@pytest.mark.parametrize(
    ("freq", "period"),
    [("h", 24), ("D", 7), ("B", 5), ("W", 52), ("W-SUN", 52), ("MS", 12), ("ME", 12), ("QS-OCT", 4),
     ("QE-DEC", 4), ("YS-JAN", 1), ("15min", 96), ("10min", 144), ("30min", 48), ("30s", 2880), ("2h", 12),
     ("3D", 1)],
)
def test_season_length(freq, period):
    assert season_length(freq) == period


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared benchmark data not present")
@pytest.mark.parametrize(
    ("file", "alias"),
    [("ETTh1.csv", "h"), ("national_illness.csv", "W-TUE"), ("peyton_manning_log_daily.csv", "D"),
     ("retail_sales_monthly.csv", "MS"), ("weather.csv.gz", "10min")],
)
def test_real_files(file, alias):
    dates = pd.read_csv(SHARED_DATA / file, usecols=[0]).iloc[:, 0]
    assert infer_freq(pd.to_datetime(dates)) == alias

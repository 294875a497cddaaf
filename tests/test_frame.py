import numpy as np
import pandas as pd
import pytest

from forecasting.data.frame import validate_frame
from forecasting.data.panel import FrameReport
from forecasting.errors import DataError


def daily(values, start="2024-01-01", series="a", **covariates) -> pd.DataFrame:
    return pd.DataFrame({
        "unique_id": series,
        "ds": pd.date_range(start, periods=len(values), freq="D"),
        "y": values,
        **covariates,
    })


def two_daily() -> pd.DataFrame:
    return pd.concat([daily(np.arange(6.0), series="a"), daily(np.arange(6.0) * 10, series="b")], ignore_index=True)


def policies(report: FrameReport) -> dict[str, int]:
    totals: dict[str, int] = {}
    for repair in report.repairs:
        totals[repair.policy] = totals.get(repair.policy, 0) + repair.rows
    return totals


# ---- clean frames --------------------------------------------------------------------------------


def test_clean_frame_passes_with_standard_columns_and_dtypes():
    panel = validate_frame(two_daily())
    frame, report = panel.frame, panel.report
    assert list(frame.columns) == ["unique_id", "ds", "y"]
    assert frame["ds"].dtype == "datetime64[ns]"
    assert frame["y"].dtype == "float64"
    assert frame["unique_id"].map(type).eq(str).all()
    assert (report.n_series, report.n_rows, report.freq, report.repairs) == (2, 12, "D", ())
    assert "no repairs" in report.summary()


def test_input_is_not_mutated():
    df = two_daily().iloc[::-1]
    before = df.copy()
    validate_frame(df)
    pd.testing.assert_frame_equal(df, before)


def test_custom_column_names_are_renamed_and_covariates_kept():
    df = pd.DataFrame({
        "store": ["s1"] * 4 + ["s2"] * 4,
        "when": list(pd.date_range("2024-01-01", periods=4, freq="MS").astype(str)) * 2,
        "sales": [1, 2, 3, 4, 5, 6, 7, 8],
        "price": [9.5] * 8,
        "event": ["none", "sale"] * 4,
    })
    panel = validate_frame(df, id_col="store", time_col="when", target_col="sales")
    frame, report = panel.frame, panel.report
    assert list(frame.columns) == ["unique_id", "ds", "y", "price", "event"]
    assert frame["price"].dtype == "float64" and frame["event"].dtype == object
    assert frame["y"].tolist() == [1.0, 2, 3, 4, 5, 6, 7, 8]
    assert report.freq == "MS"


def test_no_id_column_is_one_series_named_after_the_target():
    df = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=5, freq="h"), "load": np.arange(5)})
    panel = validate_frame(df, target_col="load")
    frame, report = panel.frame, panel.report
    assert frame["unique_id"].unique().tolist() == ["load"]
    assert report.freq == "h"


@pytest.mark.parametrize("values", [[3.0] * 8, [1e200, -1e200, 2e200, 1e200, 0.0, 1e200, 3e200, 1e200]])
def test_constant_and_huge_series_pass_unchanged(values):
    panel = validate_frame(daily(values))
    frame, report = panel.frame, panel.report
    assert frame["y"].tolist() == values
    assert report.repairs == ()


# ---- repairs -------------------------------------------------------------------------------------


def test_text_dates_with_offsets_that_differ_are_read_at_utc():
    # Hourly text stamps across the change to summer time: +01:00, then +02:00.
    frame = pd.DataFrame({"ds": ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00",
                                 "2024-03-31T03:00:00+02:00"], "y": [1.0, 2.0, 3.0]})
    panel = validate_frame(frame)
    assert panel.frame["ds"].tolist() == list(pd.date_range("2024-03-30 23:00", periods=3, freq="h", tz="UTC"))
    assert panel.freq == "h" and panel.report.repairs == ()


def test_unsorted_rows_are_sorted_and_reported():
    panel = validate_frame(two_daily().sample(frac=1, random_state=1))
    frame, report = panel.frame, panel.report
    assert frame.equals(validate_frame(two_daily()).frame)
    assert "sort" in policies(report)
    assert "sort" in report.summary()


@pytest.mark.parametrize(("fill", "filled"), [("interpolate", [2.0, 3.0]), ("ffill", [1.0, 1.0]), ("zero", [0.0, 0.0])])
def test_gaps_are_inserted_and_filled(fill, filled):
    df = daily([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).drop(index=[2, 3])
    df.loc[4, "y"] = 4.0
    panel = validate_frame(df, fill=fill)
    frame, report = panel.frame, panel.report
    assert frame["ds"].tolist() == list(pd.date_range("2024-01-01", periods=6, freq="D"))
    assert frame["y"].iloc[2:4].tolist() == filled
    assert policies(report) == {f"fill_gaps:{fill}": 2}
    assert f"fill_gaps:{fill} (2 rows)" in report.summary()


def test_numeric_covariates_of_inserted_rows_are_filled_and_text_is_not_repeated():
    df = daily([0.0, 1.0, 2.0, 3.0], price=[1.0, 2.0, 3.0, 4.0], event=["a", "b", "c", "d"]).drop(index=[1])
    panel = validate_frame(df)
    frame, _ = panel.frame, panel.report
    assert frame["price"].tolist() == [1.0, 2.0, 3.0, 4.0]
    # an event is not carried into the gap after it: the inserted day has no text
    assert frame["event"].iloc[[0, 2, 3]].tolist() == ["a", "c", "d"]
    assert pd.isna(frame["event"].iloc[1])


def test_resampling_joins_each_periods_distinct_texts():
    df = pd.DataFrame({"unique_id": "s", "ds": pd.to_datetime(["2024-01-01 08:00", "2024-01-01 12:00",
                                                                 "2024-01-01 18:00", "2024-01-02 09:00",
                                                                 "2024-01-03 09:00", "2024-01-04 09:00"]),
                       "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                       "event": ["sale", None, "sale", "closed", None, "heat"]})
    frame = validate_frame(df, freq="D").frame
    assert frame["y"].tolist() == [2.0, 4.0, 5.0, 6.0]
    assert frame["event"].iloc[[0, 1, 3]].tolist() == ["sale", "closed", "heat"]
    assert pd.isna(frame["event"].iloc[2])
    two = df.assign(event=["sale", "closed", "sale", None, None, None])
    assert validate_frame(two, freq="D").frame["event"].iloc[0] == "sale; closed"


def test_empty_targets_are_filled_and_reported():
    panel = validate_frame(daily([1.0, np.nan, 3.0, np.nan]))
    frame, report = panel.frame, panel.report
    assert frame["y"].tolist() == [1.0, 2.0, 3.0, 3.0]
    assert policies(report) == {"missing:interpolate": 2}


def test_leading_empty_targets_are_trimmed_and_reported():
    panel = validate_frame(daily([np.nan, np.nan, 5.0, 6.0]))
    frame, report = panel.frame, panel.report
    assert frame["ds"].iloc[0] == pd.Timestamp("2024-01-03")
    assert len(frame) == 2
    assert policies(report) == {"trim_leading_missing": 2}


@pytest.mark.parametrize(("policy", "value"), [("mean", 2.0), ("sum", 4.0), ("first", 1.0), ("last", 3.0)])
def test_duplicates_are_aggregated_by_policy(policy, value):
    df = daily([1.0, 5.0, 6.0])
    df = pd.concat([df, df.iloc[[0]].assign(y=3.0)], ignore_index=True)
    panel = validate_frame(df, duplicates=policy)
    frame, report = panel.frame, panel.report
    assert len(frame) == 3
    assert frame["y"].iloc[0] == value
    assert policies(report)[f"duplicates:{policy}"] == 2


def test_a_coarser_freq_resamples_with_the_mean():
    hourly = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=72, freq="h"), "y": np.arange(72.0)})
    panel = validate_frame(hourly, freq="D")
    frame, report = panel.frame, panel.report
    assert frame["y"].tolist() == [11.5, 35.5, 59.5]
    assert report.freq == "D"
    assert policies(report) == {"resample:mean": 72}


def test_freq_equal_to_the_data_changes_nothing():
    panel = validate_frame(two_daily(), freq="1D")
    _, report = panel.frame, panel.report
    assert report.repairs == () and report.freq == "D"


def test_a_short_series_takes_the_frequency_of_the_others():
    df = pd.concat([two_daily(), daily([1.0], series="c")], ignore_index=True)
    panel = validate_frame(df)
    frame, report = panel.frame, panel.report
    assert report.n_series == 3 and report.freq == "D"


def test_summary_lists_each_policy_with_rows():
    df = pd.concat([daily([np.nan, 1.0, 2.0, np.nan, 4.0], series="a"), daily([1.0] * 5, series="b")])
    summary = validate_frame(df.drop(index=[2]), source="sales.csv").report.summary()
    assert summary.splitlines()[0] == "sales.csv: 2 series, 9 rows, frequency D"
    assert "trim_leading_missing (1 rows)" in summary
    assert "missing:interpolate (1 rows)" in summary


# ---- errors: each names the source, the column, the first rows and the fix -------------------------


def test_missing_columns():
    df = pd.DataFrame({"date": ["2024-01-01"], "value": [1.0]})
    with pytest.raises(DataError, match="the frame: no column 'ds'") as error:
        validate_frame(df)
    message = str(error.value)
    assert "'date', 'value'" in message
    assert "time_col=" in message and "target_col=" in message


def test_empty_frame():
    with pytest.raises(DataError, match="the frame has no rows"):
        validate_frame(pd.DataFrame({"unique_id": [], "ds": [], "y": []}))


def test_unparseable_dates():
    df = two_daily().assign(ds=lambda d: d["ds"].astype(str))
    df.loc[[2, 8], "ds"] = ["not a date", "2024-13-45"]
    with pytest.raises(DataError, match="column 'ds' has 2 empty or unparseable dates") as error:
        validate_frame(df, source="shop.csv")
    message = str(error.value)
    assert message.startswith("shop.csv:")
    assert "ds=not a date of series 'a'" in message and "ds=2024-13-45 of series 'b'" in message
    assert "one format" in message


def test_non_numeric_target():
    df = two_daily().astype({"y": object})
    df.loc[3, "y"] = "12,5"
    with pytest.raises(DataError, match="column 'y' has 1 non-numeric value") as error:
        validate_frame(df)
    message = str(error.value)
    assert "ds=2024-01-04 of series 'a': '12,5'" in message
    assert "decimal comma" in message and "read_table" in message


def test_infinite_target():
    df = two_daily()
    df.loc[7, "y"] = -np.inf
    with pytest.raises(DataError, match="column 'y' has 1 infinite value") as error:
        validate_frame(df)
    assert "ds=2024-01-02 of series 'b': -inf" in str(error.value)
    assert "finite" in str(error.value)


def test_all_missing_series():
    df = pd.concat([daily([1.0, 2.0], series="a"), daily([np.nan, np.nan], series="b")])
    with pytest.raises(DataError, match="column 'y' is empty for every row of series 'b'") as error:
        validate_frame(df)
    assert "Drop these series" in str(error.value)


def test_duplicate_timestamps():
    df = pd.concat([two_daily(), two_daily().iloc[[4]]], ignore_index=True)
    with pytest.raises(DataError, match="column 'ds' repeats timestamps within a series in 2 rows") as error:
        validate_frame(df)
    message = str(error.value)
    assert "ds=2024-01-05 of series 'a'" in message
    assert "duplicates='mean'" in message


def test_duplicate_timestamps_without_an_id_column_suggest_id_col():
    df = pd.DataFrame({"ds": ["2024-01-01", "2024-01-01", "2024-01-02"], "store": ["a", "b", "a"], "y": [1, 2, 3]})
    with pytest.raises(DataError, match="duplicates='mean'") as error:
        validate_frame(df)
    assert "id_col=" in str(error.value)


def test_irregular_timestamps():
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 10**7, 50)), unit="s")
    df = pd.concat([two_daily(), pd.DataFrame({"unique_id": "odd", "ds": stamps, "y": 1.0})])
    with pytest.raises(DataError, match="column 'ds' of series 'odd' has irregular timestamps") as error:
        validate_frame(df)
    assert "freq=" in str(error.value)


def test_frequencies_disagree():
    hourly = pd.DataFrame({"unique_id": "h1", "ds": pd.date_range("2024-01-01", periods=48, freq="h"), "y": 1.0})
    df = pd.concat([two_daily(), daily(np.ones(6), series="c"), hourly])
    with pytest.raises(DataError, match="frequencies disagree in column 'ds'") as error:
        validate_frame(df)
    message = str(error.value)
    assert "series 'a' is 'D'" in message and "series 'h1' is 'h'" in message
    assert "freq='D'" in message


def test_freq_finer_than_the_data():
    with pytest.raises(DataError, match="freq='h' is finer than the data in column 'ds'") as error:
        validate_frame(two_daily(), freq="h")
    assert "series 'a' is 'D'" in str(error.value) and "freq='D'" in str(error.value)


def test_series_shorter_than_min_length():
    df = pd.concat([two_daily(), daily(np.ones(20), series="long")])
    with pytest.raises(DataError, match="2 series are shorter than the 10 rows needed") as error:
        validate_frame(df, min_length=10)
    message = str(error.value)
    assert "'a' (6 rows), 'b' (6 rows)" in message and "long" not in message
    assert "Lower h or drop these series" in message


def test_fill_error_with_a_gap():
    df = two_daily().drop(index=[9, 10])
    with pytest.raises(DataError, match="column 'ds' of series 'b' misses 2 timestamps at frequency 'D'") as error:
        validate_frame(df, fill="error")
    message = str(error.value)
    assert "between ds=2024-01-03 of series 'b' and ds=2024-01-06 of series 'b'" in message
    assert "fill='interpolate'" in message


def test_fill_error_with_empty_targets():
    df = two_daily()
    df.loc[[3, 4], "y"] = np.nan
    with pytest.raises(DataError, match="column 'y' has 2 empty values") as error:
        validate_frame(df, fill="error")
    assert "ds=2024-01-04 of series 'a', ds=2024-01-05 of series 'a'" in str(error.value)
    assert "fill='interpolate'" in str(error.value)


def test_timestamps_off_the_grid():
    df = daily(np.arange(30.0))
    df.loc[10, "ds"] = pd.Timestamp("2024-01-11 06:00")
    with pytest.raises(DataError, match="has 1 timestamp off its 'D' grid") as error:
        validate_frame(df)
    assert "ds=2024-01-11 06:00:00 of series 'a'" in str(error.value)
    assert "freq='D'" in str(error.value)


def test_missing_series_ids():
    df = two_daily()
    df.loc[0, "unique_id"] = None
    with pytest.raises(DataError, match="column 'unique_id' is empty in 1 row") as error:
        validate_frame(df)
    assert "ds=2024-01-01" in str(error.value) and "series id" in str(error.value)


def test_column_clashing_with_a_standard_name():
    df = daily([1.0, 2.0]).rename(columns={"ds": "date"}).assign(ds="x")
    with pytest.raises(DataError, match="column\\(s\\) 'ds' clash") as error:
        validate_frame(df, time_col="date")
    assert "Rename or drop" in str(error.value)

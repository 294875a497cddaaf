import numpy as np
import pandas as pd

from forecasting.data.frame import validate_frame
from forecasting.data.reading import read_table
from forecasting.data.summary import series_summary


def test_one_row_per_series_with_span_length_and_filled_rows(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("date,store,sales\n"
                    "2024-01-01,north,1\n2024-01-02,north,\n2024-01-03,north,3\n2024-01-04,north,4\n"
                    "2024-01-01,south,5\n2024-01-04,south,8\n2024-01-05,south,9\n2024-01-06,south,10\n")
    table = series_summary(read_table(path))
    assert list(table.columns) == ["unique_id", "start", "end", "observations", "filled", "freq"]
    assert table["unique_id"].tolist() == ["north", "south"]
    assert table["start"].tolist() == [pd.Timestamp("2024-01-01")] * 2
    assert table["end"].tolist() == [pd.Timestamp("2024-01-04"), pd.Timestamp("2024-01-06")]
    assert table["observations"].tolist() == [4, 6]
    assert table["filled"].tolist() == [1, 2]  # north: one empty value; south: two inserted days
    assert table["freq"].tolist() == ["D", "D"]


def test_a_clean_frame_has_nothing_filled_and_its_inferred_frequency():
    ds = pd.date_range("2024-01-01", periods=5, freq="MS")
    frame = pd.DataFrame({"unique_id": ["a"] * 5, "ds": ds, "y": np.arange(5.0)})
    table = series_summary(validate_frame(frame))
    assert table[["observations", "filled", "freq"]].to_dict("records") == [
        {"observations": 5, "filled": 0, "freq": "MS"}]


def test_repairs_that_fill_nothing_are_not_counted():
    ds = pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03", "2024-01-03"])
    frame = pd.DataFrame({"unique_id": ["a"] * 4, "ds": ds, "y": [2.0, 1.0, 3.0, 5.0]})
    panel = validate_frame(frame, duplicates="mean")
    assert {repair.policy for repair in panel.report.repairs} == {"sort", "duplicates:mean"}
    assert series_summary(panel)[["observations", "filled"]].to_dict("records") == [{"observations": 3, "filled": 0}]

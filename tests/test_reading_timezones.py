"""Dates with UTC offsets: converted to one zone and reported; offsets on some dates only are an error."""
import io

import pandas as pd
import pytest

from forecasting.data.reading import read_table
from forecasting.errors import DataError

# An hourly export across the change to summer time in Berlin (31 March 2024, 02:00 -> 03:00).
DST = ("ds,load\n2024-03-31T00:00:00+01:00,1\n2024-03-31T01:00:00+01:00,2\n2024-03-31T03:00:00+02:00,3\n"
       "2024-03-31T04:00:00+02:00,4\n")


def test_an_hourly_export_across_a_dst_change_is_read_in_utc(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text(DST)
    panel = read_table(path)
    assert panel.frame["ds"].tolist() == list(pd.date_range("2024-03-30 23:00", periods=4, freq="h"))
    assert panel.frame["y"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert panel.freq == "h" and panel.report.repairs == () and panel.format.timezone == "UTC"
    note, = panel.report.notes
    assert note.topic == "timezone" and "'+01:00', '+02:00'" in note.detail and "converted to UTC" in note.detail
    assert "timezone=" in panel.report.summary()


def test_another_timezone_can_be_chosen(tmp_path):
    path = tmp_path / "load.csv"
    path.write_text(DST)
    panel = read_table(path, timezone="Europe/Berlin")
    # Berlin clock times skip 02:00 that night: the hour is inserted, filled and reported.
    assert panel.frame["ds"].tolist() == list(pd.date_range("2024-03-31 00:00", periods=5, freq="h"))
    assert panel.format.timezone == "Europe/Berlin"
    assert [(repair.policy, repair.rows) for repair in panel.report.repairs] == [("fill_gaps:interpolate", 1)]
    with pytest.raises(DataError, match=r"load.csv: timezone='Mars/Base' is not a known time zone"):
        read_table(path, timezone="Mars/Base")


def test_a_tz_aware_parquet_file_is_read_in_utc():
    stored = pd.DataFrame({"ds": pd.date_range("2024-10-27 00:00", periods=5, freq="h", tz="Europe/Berlin"),
                           "y": [1.0, 2.0, 3.0, 4.0, 5.0]})  # across the change back to winter time
    buffer = io.BytesIO()
    stored.to_parquet(buffer)
    panel = read_table(io.BytesIO(buffer.getvalue()))
    assert panel.frame["ds"].tolist() == list(pd.date_range("2024-10-26 22:00", periods=5, freq="h"))
    assert panel.freq == "h" and panel.format.timezone == "UTC"


def test_offsets_on_some_dates_only_name_lines_of_each_kind(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("ds,y\n2000-01-01,0\n2000-01-02T00:00:00+02:00,0\n2000-01-03,0\n")
    with pytest.raises(DataError) as error:
        read_table(path)
    message = str(error.value)
    assert message.startswith(f"{path}: column 'ds' mixes dates with a UTC offset")
    assert "line 3: '2000-01-02T00:00:00+02:00'" in message and "line 2: '2000-01-01'" in message
    assert "line 4: '2000-01-03'" in message and "Write every date with its offset" in message


def test_the_same_offset_everywhere_is_converted_too(tmp_path):
    path = tmp_path / "z.csv"
    path.write_text("ds,y\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n2024-01-01T02:00:00Z,3\n")
    panel = read_table(path, timezone="America/New_York")
    assert panel.frame["ds"].iloc[0] == pd.Timestamp("2023-12-31 19:00") and panel.freq == "h"

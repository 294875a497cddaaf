import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.frame import validate_frame
from forecasting.data.panel import Panel, TableFormat
from forecasting.data.reading import read_table
from forecasting.errors import DataError

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared benchmark data not present")


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def policies(panel: Panel) -> dict[str, int]:
    totals: dict[str, int] = {}
    for repair in panel.report.repairs:
        totals[repair.policy] = totals.get(repair.policy, 0) + repair.rows
    return totals


@pytest.fixture(scope="module")
def etth1() -> Panel:
    return read_table(REPO / "data" / "ETTh1.csv")


# ---- real files ----------------------------------------------------------------------------------


def test_etth1_wide_becomes_seven_hourly_series(etth1):
    report = etth1.report
    assert (report.n_series, report.freq, report.repairs) == (7, "h", ())
    assert etth1.frame.groupby("unique_id").size().to_dict() == dict.fromkeys(
        ["HUFL", "HULL", "LUFL", "LULL", "MUFL", "MULL", "OT"], 17420
    )
    assert list(etth1.frame.columns) == ["unique_id", "ds", "y"]
    first_ot = etth1.frame[etth1.frame["unique_id"] == "OT"].iloc[0]
    assert first_ot["ds"] == pd.Timestamp("2016-07-01") and first_ot["y"] == pytest.approx(30.5310001373291)
    assert etth1.format == TableFormat("utf-8", ",", ".", None, "date", "ISO8601", "wide")


def test_etth1_with_one_target_keeps_the_others_as_covariates():
    panel = read_table(REPO / "data" / "ETTh1.csv", target_col="OT")
    frame = panel.frame
    assert list(frame.columns) == ["unique_id", "ds", "y", "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL"]
    assert panel.report.n_series == 1 and len(frame) == 17420


def test_air_passengers_is_monthly():
    panel = read_table(REPO / "data" / "AirPassengers.csv")
    frame = panel.frame
    assert panel.report.freq == "MS"
    assert len(frame) == 144 and frame["unique_id"].unique().tolist() == ["y"]


@needs_shared
def test_peyton_manning_gaps_are_filled_and_reported():
    path = SHARED_DATA / "peyton_manning_log_daily.csv"
    raw = pd.read_csv(path, parse_dates=["ds"])
    days = (raw["ds"].max() - raw["ds"].min()).days + 1
    panel = read_table(path)
    frame = panel.frame
    assert len(frame) == days
    assert policies(panel) == {"fill_gaps:interpolate": days - len(raw)}
    assert days - len(raw) == 59
    assert f"fill_gaps:interpolate ({days - len(raw)} rows)" in panel.report.summary()


@needs_shared
def test_weather_duplicate_is_averaged_and_the_gap_filled():
    panel = read_table(SHARED_DATA / "weather.csv.gz", duplicates="mean")
    frame = panel.frame
    report = panel.report
    assert report.n_series == 21 and report.freq == "10min"
    merged = [repair for repair in report.repairs if repair.policy == "duplicates:mean"]
    assert len(merged) == 21 and all(repair.rows == 2 for repair in merged)
    assert "2020-05-12 06:00" in merged[0].detail
    assert "duplicates:mean: 42 rows in 21 series" in report.summary()
    assert "fill_gaps:interpolate" in report.summary()


# ---- sniffing ------------------------------------------------------------------------------------


def test_semicolons_decimal_comma_and_day_first_dates(tmp_path):
    path = write(tmp_path, "de.csv", "Datum;Umsatz;Temperatur\n30.12.2023;1.234,5;-1,5\n31.12.2023;2.000;0,25\n"
                                     "01.01.2024;17,75;3\n02.01.2024;5;4,5\n")
    panel = read_table(path)
    frame = panel.frame
    fmt = panel.format
    assert (fmt.sep, fmt.decimal, fmt.thousands, fmt.date_format) == (";", ",", ".", "%d.%m.%Y")
    umsatz = frame[frame["unique_id"] == "Umsatz"]
    assert umsatz["y"].tolist() == [1234.5, 2000.0, 17.75, 5.0]
    assert umsatz["ds"].iloc[0] == pd.Timestamp("2023-12-30")


def test_ambiguous_day_first_dates_are_read_the_regular_way(tmp_path):
    # 01/02/2024 could be 2 January or 1 February; only day-first makes these a monthly series.
    rows = "".join(f"01/{month:02d}/{year};{month}\n" for year in (2023, 2024) for month in range(1, 13))
    panel = read_table(write(tmp_path, "monthly.csv", "date;value\n" + rows))
    frame = panel.frame
    assert panel.report.freq == "MS"
    assert panel.format.date_format == "%d/%m/%Y"


def test_month_first_dates(tmp_path):
    panel = read_table(write(tmp_path, "us.csv", "date,sales\n12/30/2023,1\n12/31/2023,2\n1/1/2024,3\n"))
    frame = panel.frame
    assert frame["ds"].tolist() == list(pd.date_range("2023-12-30", periods=3, freq="D"))


def test_year_month_dates(tmp_path):
    panel = read_table(write(tmp_path, "months.csv", "Month,Passengers\n1949-01,112\n1949-02,118\n1949-03,132\n"))
    frame = panel.frame
    assert panel.report.freq == "MS" and frame["unique_id"].iloc[0] == "Passengers"


def test_latin1_file_with_an_accented_column(tmp_path):
    path = write(tmp_path, "es.csv", "Fecha;Año;Señal\n2024-01-01;1,5;2\n2024-01-02;2,5;3\n2024-01-03;3,5;4\n",
                 encoding="latin-1")
    panel = read_table(path)
    frame = panel.frame
    assert sorted(frame["unique_id"].unique()) == ["Año", "Señal"]
    assert panel.format.encoding in ("cp1252", "latin-1")
    assert frame[frame["unique_id"] == "Año"]["y"].tolist() == [1.5, 2.5, 3.5]


def test_utf8_bom_file(tmp_path):
    path = write(tmp_path, "bom.csv", b"\xef\xbb\xbfds,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n")
    panel = read_table(path)
    frame = panel.frame
    assert panel.format.encoding == "utf-8-sig"
    assert panel.format.time_col == "ds" and frame["unique_id"].iloc[0] == "y"


@pytest.mark.parametrize("sep", ["\t", "|", ";"])
def test_other_delimiters(tmp_path, sep):
    rows = [["timestamp", "a", "b"], ["2024-01-01 00:00", "1", "2"], ["2024-01-01 01:00", "3", "4"],
            ["2024-01-01 02:00", "5", "6"]]
    text = "".join(sep.join(row) + "\n" for row in rows)
    panel = read_table(write(tmp_path, "t.tsv", text))
    frame = panel.frame
    assert panel.format.sep == sep and panel.report.freq == "h" and len(frame) == 6


def test_quoted_thousands_separators(tmp_path):
    text = 'date,sales\n2024-01-01,"1,234.5"\n2024-01-02,"2,000"\n2024-01-03,12.5\n'
    panel = read_table(write(tmp_path, "us.csv", text))
    frame = panel.frame
    assert frame["y"].tolist() == [1234.5, 2000.0, 12.5]
    assert panel.format.thousands == ","


def test_explicit_options_override_sniffing(tmp_path):
    path = write(tmp_path, "eu.txt", "when|a|b|c\n01/02/2024|1,5|2|x\n02/02/2024|2,5|3|y\n03/02/2024|3,5|4|z\n")
    panel = read_table(path, sep="|", decimal=",", dayfirst=True, time_col="when", target_col=["a"])
    frame = panel.frame
    assert frame["ds"].tolist() == list(pd.date_range("2024-02-01", periods=3, freq="D"))
    assert frame["y"].tolist() == [1.5, 2.5, 3.5]
    assert list(frame.columns) == ["unique_id", "ds", "y", "b", "c"]


def test_gzip_file_text_buffer_and_named_byte_buffer(tmp_path):
    text = "ds,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n"
    gz = write(tmp_path, "small.csv.gz", gzip.compress(text.encode()))
    named = io.BytesIO(text.encode())
    named.name = "upload.csv"
    for source in (gz, io.StringIO(text), named):
        assert read_table(source).frame["y"].tolist() == [1.0, 2.0, 3.0]


def test_long_layout_with_a_detected_id_column_keeps_covariates(tmp_path):
    text = ("date,store,sales,promo\n2024-01-01,north,10,yes\n2024-01-01,south,20,no\n"
            "2024-01-02,north,11,no\n2024-01-02,south,21,no\n2024-01-03,north,12,no\n2024-01-03,south,22,yes\n")
    panel = read_table(write(tmp_path, "stores.csv", text))
    frame = panel.frame
    assert panel.format.layout == "long"
    assert list(frame.columns) == ["unique_id", "ds", "y", "promo"]
    assert frame.groupby("unique_id")["y"].sum().to_dict() == {"north": 33.0, "south": 63.0}


def test_long_layout_with_standard_names_and_numeric_ids(tmp_path):
    text = "unique_id,ds,y,price\n1,2024-01-01,5,1.5\n2,2024-01-01,6,1.5\n1,2024-01-02,7,2.5\n2,2024-01-02,8,2.5\n"
    panel = read_table(write(tmp_path, "nixtla.csv", text))
    frame = panel.frame
    assert frame["unique_id"].unique().tolist() == ["1", "2"]
    assert frame["price"].tolist() == [1.5, 2.5, 1.5, 2.5]


def test_unsorted_file_is_sorted_and_reported(tmp_path):
    panel = read_table(write(tmp_path, "shuffled.csv", "ds,y\n2024-01-03,3\n2024-01-01,1\n2024-01-02,2\n"))
    frame = panel.frame
    assert frame["y"].tolist() == [1.0, 2.0, 3.0]
    assert policies(panel) == {"sort": 3}


def test_wide_columns_out_of_name_order_read_as_validate_frame_reads_them_long(tmp_path):
    # The reader melts the value columns into blocks and reorders the blocks in place (unsorted names,
    # a text column between them, a leading gap, a missing hour); the frame must be validate_frame's.
    hours = pd.date_range("2024-01-01", periods=8, freq="h").delete(5)
    wide = pd.DataFrame({"ds": hours, "zeta": [1.5, 2, None, 4, 5, 6, 7], "note": list("abcdefg"),
                         "alpha": [None, 2.25, 3, 4, 5, 6, 7], "mid": [7.0, 6, 5, 4, 3, 2, 1]})
    path = tmp_path / "wide.csv"
    wide.to_csv(path, index=False)
    long = wide.melt(id_vars=["ds", "note"], value_vars=["zeta", "alpha", "mid"], var_name="unique_id",
                     value_name="y")
    expected = validate_frame(long)
    panel = read_table(path)
    pd.testing.assert_frame_equal(panel.frame, expected.frame[["unique_id", "ds", "y", "note"]])
    assert panel.report.repairs == expected.report.repairs
    assert panel.frame["unique_id"].unique().tolist() == ["alpha", "mid", "zeta"]


def test_blank_lines_and_trailing_delimiters_are_harmless(tmp_path):
    panel = read_table(write(tmp_path, "excel.csv", "ds,y,\n2024-01-01,1,\n\n2024-01-02,2,\n2024-01-03,3,\n\n"))
    frame = panel.frame
    assert list(frame.columns) == ["unique_id", "ds", "y"] and len(frame) == 3


def test_resample_and_fill_options_pass_through(tmp_path):
    text = "ds,y\n" + "".join(f"2024-01-01 {hour:02d}:00,{hour}\n" for hour in range(24))
    panel = read_table(write(tmp_path, "hourly.csv", text), freq="D")
    frame = panel.frame
    assert frame["y"].tolist() == [11.5] and policies(panel) == {"resample:mean": 24}


# ---- errors: each names the file, the column, the first lines and the fix --------------------------


def test_empty_file(tmp_path):
    path = write(tmp_path, "empty.csv", b"")
    with pytest.raises(DataError, match=f"{path} is empty"):
        read_table(path)


def test_header_only(tmp_path):
    path = write(tmp_path, "header.csv", "ds,y\n")
    with pytest.raises(DataError, match="header.csv has a header \\('ds', 'y'\\) but no data rows"):
        read_table(path)


def test_binary_garbage(tmp_path):
    path = write(tmp_path, "book.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe" * 50)
    with pytest.raises(DataError, match="book.xlsx is not a text table") as error:
        read_table(path)
    assert "Save it as CSV" in str(error.value)


def test_no_date_column(tmp_path):
    path = write(tmp_path, "nodates.csv", "store,sales\nnorth,1\nsouth,2\n")
    with pytest.raises(DataError, match="nodates.csv: no column holds dates") as error:
        read_table(path)
    assert "'store', 'sales'" in str(error.value) and "time_col=" in str(error.value)


def test_named_time_column_missing(tmp_path):
    path = write(tmp_path, "x.csv", "ds,y\n2024-01-01,1\n2024-01-02,2\n")
    with pytest.raises(DataError, match="x.csv: no column 'when' \\(time_col\\). Columns present: 'ds', 'y'"):
        read_table(path, time_col="when")


def test_mixed_date_formats(tmp_path):
    path = write(tmp_path, "mixed.csv", "ds,y\n2024-01-01,1\n2024-01-02,2\n01/03/2024,3\n2024-01-04,4\n2024-01-05,5\n")
    with pytest.raises(DataError, match="mixed.csv: column 'ds' has 1 date\\(s\\) not in the format") as error:
        read_table(path)
    message = str(error.value)
    assert "line 4: '01/03/2024'" in message and "one format" in message


def test_non_numeric_values(tmp_path):
    path = write(tmp_path, "typo.csv", "date,sales\n2024-01-01,1\n2024-01-02,2\n2024-01-03,n.a.\n2024-01-04,4\n")
    with pytest.raises(DataError, match="typo.csv: column 'sales' has 1 value\\(s\\) that are not numbers") as error:
        read_table(path)
    message = str(error.value)
    assert "line 4: 'n.a.'" in message and "empty those cells" in message


def test_infinite_values(tmp_path):
    path = write(tmp_path, "inf.csv", "date,sales\n2024-01-01,1\n2024-01-02,inf\n2024-01-03,3\n")
    with pytest.raises(DataError, match="inf.csv: column 'sales' has 1 infinite value, first at line 3: inf"):
        read_table(path)


def test_infinite_value_in_a_wide_file_names_the_series(tmp_path):
    path = write(tmp_path, "wide.csv", "date,a,b\n2024-01-01,1,2\n2024-01-02,3,-inf\n2024-01-03,5,6\n")
    with pytest.raises(DataError, match="infinite value, first at line 3: -inf in series 'b'"):
        read_table(path)


def test_ambiguous_target_in_a_long_file(tmp_path):
    text = "date,store,sales,price\n2024-01-01,a,1,2\n2024-01-01,b,1,2\n2024-01-02,a,1,2\n2024-01-02,b,1,2\n"
    path = write(tmp_path, "long.csv", text)
    with pytest.raises(DataError, match="long.csv: several columns hold numbers \\('sales', 'price'\\)") as error:
        read_table(path)
    assert "target_col=" in str(error.value)
    assert read_table(path, target_col="sales").frame.columns.tolist() == ["unique_id", "ds", "y", "price"]


def test_line_with_extra_fields(tmp_path):
    path = write(tmp_path, "ragged.csv", "ds,y\n2024-01-01,1\n2024-01-02,2,3\n")
    with pytest.raises(DataError, match="ragged.csv: line 3 has 3 fields but the header has 2") as error:
        read_table(path)
    assert "sep=" in str(error.value)


def test_a_first_line_with_one_field_more_than_the_header(tmp_path):
    # pandas drops the last field of every line here (index_col=False); a value there must not vanish.
    path = write(tmp_path, "extra.csv", "ds,y\n2024-01-01,1,5\n2024-01-02,2\n2024-01-03,3\n")
    with pytest.raises(DataError, match=r"extra.csv: line 2 has 3 fields but the header has 2 \(line 2: '5' has no "
                                        r"column name\)") as error:
        read_table(path)
    assert "Add the column's name to the header" in str(error.value)
    panel = read_table(write(tmp_path, "trailing.csv", "ds,y\n2024-01-01,1,\n2024-01-02,2\n2024-01-03,3\n"))
    assert panel.frame["y"].tolist() == [1.0, 2.0, 3.0]


def test_duplicate_dates_in_a_file_name_their_lines(tmp_path):
    path = write(tmp_path, "dups.csv", "ds,y\n2024-01-01,1\n2024-01-02,2\n2024-01-02,3\n2024-01-03,4\n")
    with pytest.raises(DataError, match="dups.csv: column 'ds' repeats timestamps") as error:
        read_table(path)
    message = str(error.value)
    assert "line 3 (ds 2024-01-02), line 4 (ds 2024-01-02)" in message
    assert "duplicates='mean'" in message and "id_col=" in message


def test_gap_with_fill_error_names_the_lines_around_it(tmp_path):
    path = write(tmp_path, "gap.csv", "ds,y\n2024-01-01,1\n2024-01-02,2\n2024-01-05,5\n2024-01-06,6\n")
    with pytest.raises(DataError, match="gap.csv: column 'ds' of series 'y' misses 2 timestamps") as error:
        read_table(path, fill="error")
    assert "between line 3 (ds 2024-01-02) and line 4 (ds 2024-01-05)" in str(error.value)


def test_too_short_for_min_length(tmp_path):
    path = write(tmp_path, "short.csv", "ds,y\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n")
    with pytest.raises(DataError, match="short.csv: 1 series are shorter than the 10 rows needed: 'y' \\(3 rows\\)"):
        read_table(path, min_length=10)


def test_wrong_encoding_given(tmp_path):
    path = write(tmp_path, "latin.csv", "Fecha,Año\n2024-01-01,1\n", encoding="latin-1")
    with pytest.raises(DataError, match="latin.csv cannot be decoded as encoding='utf-8'") as error:
        read_table(path, encoding="utf-8")
    assert "Leave encoding out" in str(error.value)


def test_bom_followed_by_bytes_that_are_not_utf8(tmp_path):
    path = write(tmp_path, "damaged.csv", b"\xef\xbb\xbf\x80")
    with pytest.raises(DataError, match="damaged.csv starts with the UTF-8 byte-order mark but is not UTF-8: "
                                        "line 1 holds the byte 0x80") as error:
        read_table(path)
    assert "Save the file again as UTF-8" in str(error.value)
    path = write(tmp_path, "later.csv", b"\xef\xbb\xbfds,y\n2024-01-01,1\n2024-01-02,\xe9\n")
    with pytest.raises(DataError, match="later.csv starts with the UTF-8 byte-order mark .* line 3 holds the byte"):
        read_table(path)


def test_a_line_longer_than_the_csv_modules_field_limit(tmp_path):
    note = "x" * 150_000
    path = write(tmp_path, "long.csv", f"ds,y,note\n2024-01-01,1,{note}\n2024-01-02,2,short\n2024-01-03,3,\n")
    panel = read_table(path)
    assert panel.format.sep == "," and panel.frame["y"].tolist() == [1.0, 2.0, 3.0]
    assert panel.frame["note"].iloc[0] == note
    path = write(tmp_path, "semicolons.csv", f"ds;y\n2024-01-01;{'1' * 140_000}\n2024-01-02;2\n")
    with pytest.raises(DataError, match="semicolons.csv: column 'y'"):
        read_table(path)


def test_blank_lines_then_a_lone_delimiter(tmp_path):
    path = write(tmp_path, "lone.csv", b"\n\n,")
    with pytest.raises(DataError, match="lone.csv: the header line holds no column names") as error:
        read_table(path)
    assert "first line" in str(error.value)


def test_blank_lines_before_the_header_are_skipped_and_lines_keep_their_numbers(tmp_path):
    path = write(tmp_path, "late.csv", "\n\nds,y\n2024-01-01,1\n2024-01-02,2\n")
    assert read_table(path).frame["y"].tolist() == [1.0, 2.0]
    path = write(tmp_path, "late.csv", "\n\nds,y\n2024-01-01,1\n2024-01-02,2,3\n")
    with pytest.raises(DataError, match="late.csv: line 5 has 3 fields but the header has 2"):
        read_table(path)


# ---- Parquet ---------------------------------------------------------------------------------------


def test_parquet_long_layout_takes_the_same_detection_path(tmp_path):
    ds = pd.date_range("2024-01-01", periods=10, freq="D")
    stored = pd.DataFrame({"store": ["north"] * 10 + ["south"] * 10, "day": list(ds) * 2,
                           "sales": [float(i) for i in range(20)], "promo": ["yes", None] * 10})
    stored.loc[3, "sales"] = None
    path = tmp_path / "sales.parquet"
    stored.to_parquet(path)
    panel = read_table(path)
    frame = panel.frame
    assert list(frame.columns) == ["unique_id", "ds", "y", "promo"]
    assert frame.groupby("unique_id").size().to_dict() == {"north": 10, "south": 10}
    assert frame["y"].iloc[3] == pytest.approx(3.0)  # the empty cell interpolated, and reported
    assert policies(panel) == {"missing:interpolate": 1}
    assert frame["ds"].iloc[-1] == pd.Timestamp("2024-01-10") and panel.report.freq == "D"
    assert panel.format == TableFormat("parquet", "", ".", None, "day", "ISO8601", "long", id_col="store")


def test_a_typed_long_parquet_file_is_read_as_the_same_table_written_as_csv(tmp_path):
    """Typed columns (date-times, numbers, text ids) skip the text detour and give what the CSV gives."""
    stored = pd.DataFrame({"unique_id": ["a"] * 6 + ["b"] * 6, "ds": list(pd.date_range("2024-03-01", periods=6,
                                                                                         freq="h")) * 2,
                           "y": [0.1 * i + 1 / 3 for i in range(12)], "price": list(range(12))})
    stored.loc[2, "y"] = None
    stored.to_parquet(tmp_path / "typed.parquet")
    stored.to_csv(tmp_path / "typed.csv", index=False)
    typed, text = read_table(tmp_path / "typed.parquet"), read_table(tmp_path / "typed.csv")
    assert typed.format.date_format == "stored date-times" and typed.format.id_col == "unique_id"
    pd.testing.assert_frame_equal(typed.frame, text.frame)
    assert policies(typed) == policies(text) == {"missing:interpolate": 1}


def test_a_typed_parquet_file_names_the_lines_of_its_problems(tmp_path):
    stored = pd.DataFrame({"unique_id": ["a"] * 5, "ds": pd.date_range("2024-03-01", periods=5, freq="D"),
                           "y": [1.0, 2.0, 3.0, 4.0, 5.0]})
    stored.loc[3, "ds"] = stored.loc[2, "ds"]
    stored.to_parquet(tmp_path / "repeats.parquet")
    with pytest.raises(DataError, match=r"repeats\.parquet: column 'ds' repeats timestamps within a series in 2 rows, "
                                        r"first at line 3 .*, line 4 .* in series 'a'"):
        read_table(tmp_path / "repeats.parquet")
    assert read_table(tmp_path / "repeats.parquet", duplicates="mean").frame["y"].tolist() == [1.0, 2.0, 3.5, 4.25, 5.0]


def test_a_parquet_file_with_a_blank_id_gets_the_csv_message(tmp_path):
    stored = pd.DataFrame({"unique_id": ["a", "a", " ", "a"], "ds": pd.date_range("2024-03-01", periods=4, freq="D"),
                           "y": [1.0, 2.0, 3.0, 4.0]})
    stored.to_parquet(tmp_path / "blank.parquet")
    stored.to_csv(tmp_path / "blank.csv", index=False)
    messages = []
    for name in ("blank.parquet", "blank.csv"):
        with pytest.raises(DataError) as error:
            read_table(tmp_path / name)
        messages.append(str(error.value).replace(name, "FILE"))
    # a Parquet file's rows count from 1; the CSV's lines from its header
    assert messages[0].endswith("FILE: column 'unique_id' is empty in 1 row, first at line 3 (ds 2024-03-03) in "
                                "series 'nan'. Give every row a series id.")
    assert messages[0] == messages[1].replace("line 4", "line 3")


def test_parquet_wide_layout_from_bytes_with_the_dates_in_the_index():
    stored = pd.DataFrame({"HUFL": [5.827, 5.693, 5.157, 5.09], "OT": [30.531000137329102, 27.787, 27.787, 25.044]},
                          index=pd.date_range("2016-07-01", periods=4, freq="h", name="date"))
    buffer = io.BytesIO()
    stored.to_parquet(buffer)
    panel = read_table(io.BytesIO(buffer.getvalue()))  # no name: recognised by its magic bytes
    frame = panel.frame
    assert frame["unique_id"].unique().tolist() == ["HUFL", "OT"]
    assert frame.loc[frame["unique_id"] == "OT", "y"].tolist() == stored["OT"].tolist()  # exact round trip
    assert panel.report.freq == "h" and panel.format.layout == "wide"


def test_parquet_problems_are_data_errors(tmp_path):
    broken = write(tmp_path, "broken.parquet", b"PAR1 not really parquet")
    with pytest.raises(DataError, match=r"broken\.parquet is not a readable Parquet file"):
        read_table(broken)
    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"ds": pd.to_datetime([]), "y": []}).to_parquet(empty)
    with pytest.raises(DataError, match=r"empty\.parquet has columns \('ds', 'y'\) but no rows"):
        read_table(empty)
    text = tmp_path / "text.parquet"
    pd.DataFrame({"ds": ["2024-01-01", "2024-01-02", "2024-01-03"], "y": ["1", "two", "3"]}).to_parquet(text)
    with pytest.raises(DataError, match=r"column 'y' has 1 value\(s\) that are not numbers.*'two'"):
        read_table(text)

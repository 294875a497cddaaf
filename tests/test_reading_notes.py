"""Files the reader could misread without a word: each is read right, or the report says what was guessed."""
from pathlib import Path

import pandas as pd
import pytest

from forecasting.data.frame import validate_frame
from forecasting.data.panel import Panel
from forecasting.data.reading import read_table
from forecasting.errors import DataError

MONTHS = pd.date_range("2024-01-01", periods=12, freq="MS")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def notes(panel: Panel, topic: str) -> list[str]:
    return [note.detail for note in panel.report.notes if note.topic == topic]


# ---- day-first or month-first --------------------------------------------------------------------------


def test_german_monthly_data_is_monthly_and_the_guess_is_reported(tmp_path):
    text = "Datum;Umsatz\n" + "".join(f"01.{month:02d}.2024;{100 + month},5\n" for month in range(1, 13))
    path = write(tmp_path, "umsatz.csv", text)
    panel = read_table(path)
    assert panel.freq == "MS" and panel.frame["ds"].tolist() == list(MONTHS)
    assert panel.frame["y"].tolist() == [100.5 + month for month in range(1, 13)]
    fmt = panel.format
    assert (fmt.date_format, fmt.dayfirst, fmt.other_date_order_reads, fmt.dayfirst_ambiguous) == (
        "%d.%m.%Y", True, True, True)
    detail, = notes(panel, "date_order")
    assert "'01.02.2024'" in detail and "read day-first" in detail and "';' as the delimiter" in detail
    assert "dayfirst=False" in detail and "dayfirst=False" in panel.report.summary()
    switched = read_table(path, dayfirst=False)  # the switch the app offers
    assert switched.freq == "D" and switched.frame["ds"].tolist() == list(pd.date_range("2024-01-01", periods=12))
    assert (switched.format.dayfirst, switched.format.other_date_order_reads) == (False, True)
    assert not switched.format.dayfirst_ambiguous and notes(switched, "date_order") == []


def test_a_damaged_date_among_ambiguous_dotted_dates_is_named(tmp_path):
    # both orders read every other date, and the damaged one is unread by either
    rows = "".join(f"01.{month:02d}.1999;{month},5\n" for month in range(1, 13))
    path = write(tmp_path, "damaged.csv", 'date;y\n01.167";3,5\n' + rows)
    with pytest.raises(DataError) as error:
        read_table(path)
    message = str(error.value)
    assert "column 'date' has 1 date(s) not in the format of the others (%d.%m.%Y" in message
    assert "line 2: '01.167\"'" in message and "pass dayfirst=True or False" in message


def test_uk_monthly_dates_read_monthly_and_flagged(tmp_path):
    text = "date,sales\n" + "".join(f"01/{month:02d}/2024,{month}\n" for month in range(1, 13))
    panel = read_table(write(tmp_path, "uk.csv", text))
    assert panel.freq == "MS" and panel.frame["ds"].tolist() == list(MONTHS)
    assert panel.format.dayfirst and panel.format.dayfirst_ambiguous
    detail, = notes(panel, "date_order")
    assert "frequency MS" in detail and "frequency D" in detail and "dayfirst=False" in detail


def test_us_monthly_dates_stay_month_first(tmp_path):
    text = "date,sales\n" + "".join(f"{month:02d}/01/2024,{month}\n" for month in range(1, 13))
    panel = read_table(write(tmp_path, "us.csv", text))
    assert panel.freq == "MS" and panel.format.dayfirst is False and panel.format.dayfirst_ambiguous


def test_long_file_of_three_stores_by_month(tmp_path):
    rows = "".join(f"01/{month:02d}/2024,{store},{10 * k + month}\n"
                   for month in range(1, 13) for k, store in enumerate(["north", "south", "east"]))
    panel = read_table(write(tmp_path, "stores.csv", "date,store,sales\n" + rows))
    assert panel.freq == "MS" and panel.report.n_series == 3
    assert panel.frame.groupby("unique_id")["ds"].apply(list).tolist() == [list(MONTHS)] * 3
    assert panel.format.dayfirst_ambiguous and len(notes(panel, "date_order")) == 1


def test_regular_series_settle_the_order_without_a_guess(tmp_path):
    # Two years of 01/mm/yyyy: month-first would read 1-12 January twice, with a gap; only day-first is regular.
    rows = "".join(f"01/{month:02d}/{year},{store},{month}\n"
                   for year in (2023, 2024) for month in range(1, 13) for store in ("a", "b"))
    panel = read_table(write(tmp_path, "two_years.csv", "date,store,sales\n" + rows))
    assert panel.freq == "MS" and panel.frame["ds"].iloc[-1] == pd.Timestamp("2024-12-01")
    fmt = panel.format
    assert (fmt.dayfirst, fmt.other_date_order_reads, fmt.dayfirst_ambiguous) == (True, True, False)
    assert notes(panel, "date_order") == []


def test_only_one_order_reads_the_dates(tmp_path):
    panel = read_table(write(tmp_path, "d.csv", "date,y\n30/12/2023,1\n31/12/2023,2\n01/01/2024,3\n"))
    fmt = panel.format
    assert (fmt.dayfirst, fmt.other_date_order_reads, fmt.dayfirst_ambiguous) == (True, False, False)


# ---- decimal mark or thousands separator ----------------------------------------------------------------


def test_european_thousands_are_thousands(tmp_path):
    path = write(tmp_path, "de.csv", "Datum;Umsatz\n01.01.2024;1.000\n02.01.2024;1.037\n03.01.2024;1.100\n")
    panel = read_table(path)
    assert panel.frame["y"].tolist() == [1000.0, 1037.0, 1100.0]
    assert panel.frame["ds"].tolist() == list(pd.date_range("2024-01-01", periods=3))
    assert (panel.format.decimal, panel.format.thousands, panel.format.decimal_ambiguous) == (",", ".", True)
    detail, = notes(panel, "number_style")
    assert "'1.000'" in detail and "1000" in detail and "decimal='.'" in detail and "Umsatz" in detail
    assert "decimal='.'" in panel.report.summary()
    assert read_table(path, decimal=".").frame["y"].tolist() == [1.0, 1.037, 1.1]


def test_decimal_commas_in_another_column_settle_the_style(tmp_path):
    text = "Datum;Umsatz;Preis\n01.01.2024;1.000;2,5\n02.01.2024;1.037;2,75\n03.01.2024;1.100;3\n"
    panel = read_table(write(tmp_path, "de.csv", text), target_col="Umsatz")
    assert panel.frame["y"].tolist() == [1000.0, 1037.0, 1100.0] and panel.frame["Preis"].tolist() == [2.5, 2.75, 3.0]
    assert not panel.format.decimal_ambiguous and notes(panel, "number_style") == []


def test_without_conventions_a_decimal_point_is_taken_and_flagged(tmp_path):
    panel = read_table(write(tmp_path, "plain.csv", "date,weight\n2024-01-01,1.000\n2024-01-02,1.037\n"
                                                    "2024-01-03,1.1\n"))
    assert panel.frame["y"].tolist() == [1.0, 1.037, 1.1] and not panel.format.decimal_ambiguous  # '1.1' settles it
    panel = read_table(write(tmp_path, "plain.csv", "date,weight\n2024-01-01,1.000\n2024-01-02,1.037\n"))
    assert panel.frame["y"].tolist() == [1.0, 1.037] and panel.format.decimal_ambiguous
    detail, = notes(panel, "number_style")
    assert "decimal=','" in detail and "'1.000'" in detail and "1000" in detail


def test_a_cell_outside_the_sample_settles_the_style(tmp_path):
    # 1500 rows: the 1000 sampled cells read alike both ways; row 2 (not sampled) has a decimal point.
    values = [f"{1 + i % 9}.{(i * 7) % 1000:03d}" for i in range(1500)]
    values[2] = "2.5"
    days = pd.date_range("2020-01-01", periods=1500).strftime("%Y-%m-%d")
    text = "ds;y\n" + "".join(f"{day};{value}\n" for day, value in zip(days, values))
    panel = read_table(write(tmp_path, "long.csv", text))
    assert (panel.format.decimal, panel.format.decimal_ambiguous) == (".", False)
    assert panel.frame["y"].iloc[2] == 2.5 and panel.frame["y"].iloc[0] == 1.0


def test_a_leading_zero_group_is_a_decimal(tmp_path):
    panel = read_table(write(tmp_path, "z.csv", "ds;y\n2024-01-01;0.500\n2024-01-02;1.250\n2024-01-03;2.000\n"))
    assert panel.frame["y"].tolist() == [0.5, 1.25, 2.0] and not panel.format.decimal_ambiguous


# ---- placeholders and columns not read as series ------------------------------------------------------


def test_placeholders_are_missing_values_and_the_series_is_kept(tmp_path):
    b = ["-", "-", "3", "-", "-", "6", "-", "8", "-", "10"]  # 60% '-'
    text = "ds,a,b\n" + "".join(f"2024-01-{day:02d},{day},{value}\n" for day, value in zip(range(1, 11), b))
    panel = read_table(write(tmp_path, "wide.csv", text))
    assert sorted(panel.series_ids) == ["a", "b"]
    series_b = panel.frame[panel.frame["unique_id"] == "b"]
    assert series_b["y"].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]  # leading blanks trimmed, rest filled
    detail, = notes(panel, "placeholders")
    assert "column 'b'" in detail and "6 cell(s) written '-'" in detail and "line 2" in detail
    assert "placeholders: column 'b'" in panel.report.summary()
    assert {repair.policy for repair in panel.report.repairs} == {"trim_leading_missing", "missing:interpolate"}


@pytest.mark.parametrize("placeholder", ["-", "n/a", "NA", "N/A", "null", "NULL", "#N/A", "nan", "", "   "])
def test_every_placeholder_spelling_is_a_missing_value(tmp_path, placeholder):
    text = f"ds,y\n2024-01-01,1\n2024-01-02,{placeholder}\n2024-01-03,3\n"
    panel = read_table(write(tmp_path, "p.csv", text))
    assert panel.frame["y"].tolist() == [1.0, 2.0, 3.0]
    assert [repair.policy for repair in panel.report.repairs] == ["missing:interpolate"]
    assert len(notes(panel, "placeholders")) == (1 if placeholder.strip() else 0)


def test_a_column_read_as_text_is_reported(tmp_path):
    b = ["x", "y", "3", "z", "w", "6", "v", "8", "u", "t"]
    text = "ds,a,b\n" + "".join(f"2024-01-{day:02d},{day},{value}\n" for day, value in zip(range(1, 11), b))
    panel = read_table(write(tmp_path, "wide.csv", text))
    assert panel.series_ids == ["a"] and panel.frame["b"].tolist() == b  # kept, as a covariate
    detail, = notes(panel, "column")
    assert "column 'b' is read as text" in detail and "only 3 of its 10" in detail and "line 2: 'x'" in detail


def test_an_empty_column_is_reported(tmp_path):
    text = "ds,a,b\n2024-01-01,1,-\n2024-01-02,2,n/a\n2024-01-03,3,\n"
    panel = read_table(write(tmp_path, "wide.csv", text))
    assert panel.series_ids == ["a"] and "b" in panel.frame.columns
    assert any("column 'b' holds no value" in detail for detail in notes(panel, "column"))


def test_trailing_delimiters_are_left_out_with_a_note(tmp_path):
    panel = read_table(write(tmp_path, "excel.csv", "ds;y;\n2024-01-01;1;\n2024-01-02;2;\n2024-01-03;3;\n"))
    assert list(panel.frame.columns) == ["unique_id", "ds", "y"]
    detail, = notes(panel, "column")
    assert "1 empty column(s) without a header" in detail


def test_notes_survive_a_later_resampling(tmp_path):
    text = "ds,y\n" + "".join(f"2024-01-{day:02d},{'-' if day == 3 else day}\n" for day in range(1, 15))
    panel = read_table(write(tmp_path, "p.csv", text))
    weekly = validate_frame(panel, freq="W")
    assert weekly.report.notes == panel.report.notes and "placeholders" in weekly.report.summary()


# ---- numeric ids --------------------------------------------------------------------------------------


def test_numeric_store_ids_are_series_not_averaged(tmp_path):
    rows = "".join(f"2024-01-{day:02d},{store},{100 * store + day}\n" for day in range(1, 11) for store in (1, 2, 3))
    panel = read_table(write(tmp_path, "stores.csv", "date,store,sales\n" + rows), duplicates="mean")
    assert panel.series_ids == ["1", "2", "3"] and panel.report.repairs == ()
    assert panel.frame.groupby("unique_id")["y"].sum().to_dict() == {
        str(store): float(sum(100 * store + day for day in range(1, 11))) for store in (1, 2, 3)}
    assert (panel.format.layout, panel.format.id_col) == ("long", "store")
    detail, = notes(panel, "id_column")
    assert "column 'store' taken as the series id" in detail and "3 whole numbers" in detail and "id_col=" in detail


def test_a_detected_text_id_is_reported(tmp_path):
    rows = "".join(f"2024-01-0{day},{store},{day}\n" for day in range(1, 4) for store in ("north", "south"))
    panel = read_table(write(tmp_path, "stores.csv", "date,store,sales\n" + rows))
    assert panel.format.id_col == "store"
    detail, = notes(panel, "id_column")
    assert "column 'store' taken as the series id" in detail


def test_whole_number_covariates_are_not_ids(tmp_path):
    # Hours of a day repeat every date, but an 'hour' column is time, not a series id.
    rows = "".join(f"2024-01-0{day},{hour},{hour + day}\n" for day in range(1, 4) for hour in range(3))
    path = write(tmp_path, "hours.csv", "date,hour,load\n" + rows)
    with pytest.raises(DataError, match="repeats timestamps"):
        read_table(path, target_col="load")
    # A wide file with one repeated date and a small whole-number covariate stays wide.
    text = "ds,promo,sales\n" + "".join(f"2024-01-{day:02d},{day % 3},{day}\n" for day in range(1, 21))
    text += "2024-01-20,1,20\n"
    panel = read_table(write(tmp_path, "wide.csv", text), target_col="sales", duplicates="last")
    assert panel.format.layout == "wide" and notes(panel, "id_column") == []


# ---- Excel's sep= line ----------------------------------------------------------------------------------


def test_excel_sep_line_names_the_delimiter(tmp_path):
    panel = read_table(write(tmp_path, "excel.csv", "sep=;\nds;y\n2024-01-01;1,5\n2024-01-02;2\n2024-01-03;3\n"))
    assert panel.format.sep == ";" and panel.frame["y"].tolist() == [1.5, 2.0, 3.0]
    detail, = notes(panel, "header")
    assert "'sep=;'" in detail and "line 1" in detail


def test_excel_sep_line_naming_a_tab(tmp_path):
    panel = read_table(write(tmp_path, "tabs.txt", "sep=\t\r\nds\ty\r\n2024-01-01\t1\r\n2024-01-02\t2\r\n"))
    assert panel.format.sep == "\t" and panel.frame["y"].tolist() == [1.0, 2.0]


def test_lines_after_a_sep_line_keep_their_numbers(tmp_path):
    path = write(tmp_path, "excel.csv", '"sep=,"\nds,y\n2024-01-01,1\n2024-01-02,oops\n2024-01-03,3\n')
    with pytest.raises(DataError, match=r"column 'y' has 1 value\(s\) that are not numbers, first at line 4: 'oops'"):
        read_table(path)

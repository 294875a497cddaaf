"""Text covariates in the data contract: detected, chosen, checked, described."""
import numpy as np
import pandas as pd
import pytest

from forecasting.data.frame import validate_frame
from forecasting.data.reading import read_table
from forecasting.data.text import TextColumns, describe_text, text_cells, text_columns
from forecasting.errors import DataError


@pytest.fixture
def shop_csv(tmp_path):
    """Four weeks of daily sales with a planned promotion, an incident log, a price and an empty notes column."""
    days = pd.date_range("2024-01-01", periods=28, freq="D")
    frame = pd.DataFrame({
        "date": days.strftime("%Y-%m-%d"), "sales": np.arange(28) + 10.0,
        "promo": ["flash sale 30% off" if d % 7 == 5 else "" for d in range(28)],
        "incident": ["till broken" if d == 9 else ("n/a" if d == 3 else "") for d in range(28)],
        "price": np.linspace(2, 3, 28)})
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    return path


def test_text_columns_are_detected_in_a_read_file_and_numbers_are_not(shop_csv):
    panel = read_table(shop_csv, target_col="sales")
    columns = text_columns(panel)
    assert columns == TextColumns(past=("promo", "incident"), future=())
    assert describe_text(panel, text_columns(panel, future_text_cols=["promo"])) == [
        "text column 'incident' (observed in the past only): text on 1 of 28 rows, 1 distinct",
        "text column 'promo' (known in advance): text on 4 of 28 rows, 1 distinct"]


def test_the_user_chooses_the_text_columns_and_which_are_known_in_advance(shop_csv):
    panel = read_table(shop_csv, target_col="sales")
    assert text_columns(panel, ["promo"], ["promo"]) == TextColumns(past=(), future=("promo",))
    assert text_columns(panel, ["incident", "promo"], ["promo"]) == TextColumns(past=("incident",), future=("promo",))
    assert not text_columns(panel, [])
    assert text_columns(panel, [], []).names == ()


def test_a_numeric_column_named_as_text_is_refused_with_the_fix(shop_csv):
    panel = read_table(shop_csv, target_col="sales")
    with pytest.raises(DataError, match=r"column 'price' holds numbers \(2\.0, .*\), not text: .* Leave 'price' out"):
        text_columns(panel, ["promo", "price"])


def test_absent_repeated_and_inconsistent_columns_are_named(shop_csv):
    panel = read_table(shop_csv, target_col="sales")
    with pytest.raises(DataError, match="text_cols names 'promotion', which is not a covariate column of the data. "
                                        "Covariate columns: 'promo', 'incident', 'price'"):
        text_columns(panel, ["promotion"])
    with pytest.raises(DataError, match="names 'promo' more than once"):
        text_columns(panel, ["promo", "promo"])
    with pytest.raises(DataError, match="future_text_cols names 'promo', which text_cols leaves out"):
        text_columns(panel, ["incident"], ["promo"])


def test_a_column_mixing_text_and_other_values_names_the_first_odd_cell():
    frame = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=6, freq="D"),
                          "y": np.arange(6.0), "note": ["sale", None, 3, "", "x", None]})
    panel = validate_frame(frame)
    with pytest.raises(DataError, match="column 'note' mixes text with int values, first in series 'a' at "
                                        "2024-01-03"):
        text_columns(panel, ["note"])


def test_text_cells_are_stripped_strings_with_empty_for_missing():
    cells = text_cells(pd.Series([" sale ", None, np.nan, "", "closed"]))
    assert cells.tolist() == ["sale", "", "", "", "closed"]

import io

import numpy as np
import pandas as pd

from forecasting.evaluation.export import to_csv_bytes


def test_formula_text_gets_an_apostrophe_and_numbers_stay_numbers():
    frame = pd.DataFrame({
        "unique_id": ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "plain", None],
        "y": [-1.5, 2.0, -3.25, 4.0, 5.0, 6.0, -1e-9, 7.0],
        "n": np.array([-1, 2, -3, 4, 5, 6, 7, -8]),
        "ds": pd.date_range("2024-01-01", periods=8, freq="D"),
    })
    text = to_csv_bytes(frame).decode("utf-8")
    back = pd.read_csv(io.StringIO(text), parse_dates=["ds"])
    assert back["unique_id"].tolist()[:7] == [
        '\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
    assert np.isnan(back["unique_id"].iloc[7])
    assert back["y"].tolist() == frame["y"].tolist() and back["n"].tolist() == frame["n"].tolist()
    assert back["ds"].equals(frame["ds"])
    assert "\r\n'-2,-3.25,-3,2024-01-03\r\n" in text  # numbers bare, text escaped


def test_column_names_string_and_category_columns_are_neutralised():
    frame = pd.DataFrame({"=cmd": pd.Series(["-x", "Zürich"], dtype="string"),
                          "@kind": pd.Categorical(["=a", "b"]), "value": [-0.5, 1.0]})
    content = to_csv_bytes(frame)
    assert content.decode("utf-8").splitlines() == ["'=cmd,'@kind,value", "'-x,'=a,-0.5", "Zürich,b,1.0"]
    assert "Zürich".encode("utf-8") in content


def test_the_frame_itself_is_left_alone():
    frame = pd.DataFrame({"unique_id": ["=a"], "y": [1.0]})
    to_csv_bytes(frame)
    assert frame["unique_id"].tolist() == ["=a"] and list(frame.columns) == ["unique_id", "y"]

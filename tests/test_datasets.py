import hashlib
import re
from pathlib import Path

import pytest

from forecasting import datasets

DATA = Path(__file__).resolve().parents[1] / "data"


def test_available_names():
    assert datasets.available() == ["air_passengers", "etth1", "pedestrians"]


@pytest.mark.parametrize(
    ("name", "n_series", "n_rows", "freq"),
    [("air_passengers", 1, 144, "MS"), ("etth1", 7, 7 * 17420, "h"), ("pedestrians", 1, 1490, "D")],
)
def test_load(name, n_series, n_rows, freq):
    panel = datasets.load(name)
    frame, report = panel.frame, panel.report
    assert (report.n_series, report.n_rows, report.freq, report.repairs) == (n_series, n_rows, freq, ())
    assert list(frame.columns) == ["unique_id", "ds", "y"]


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown dataset 'etth2'; available: air_passengers, etth1, pedestrians"):
        datasets.load("etth2")


def test_readme_checksums_match_the_files():
    readme = (DATA / "README.md").read_text()
    for path in sorted(DATA.glob("*.csv")):
        row = next(line for line in readme.splitlines() if f"| {path.name} |" in line)
        listed = re.findall(r"\b[0-9a-f]{64}\b", row)
        assert listed == [hashlib.sha256(path.read_bytes()).hexdigest()], path.name

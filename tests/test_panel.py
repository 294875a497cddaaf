"""The typed panel: validated once per request, its report and format travelling as values."""
import re

import pandas as pd
import pytest

import forecasting as fc
from forecasting.api import forecaster as forecaster_module
from forecasting.evaluation import backtest as backtest_module
from tests.conftest import REPO


@pytest.fixture
def gappy_csv(tmp_path):
    rows = [f"2024-01-{day:02d},{day}" for day in range(1, 29) if day not in (5, 6)]
    path = tmp_path / "gappy.csv"
    path.write_text("date,sales\n" + "\n".join(rows) + "\n")
    return path


def count_validations(monkeypatch, module) -> list:
    calls = []
    original = module.validate_frame
    monkeypatch.setattr(module, "validate_frame", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    return calls


def test_a_panel_from_read_table_is_validated_once_per_request(gappy_csv, monkeypatch):
    panel = fc.read_table(gappy_csv)
    assert isinstance(panel, fc.Panel) and panel.freq == "D" and panel.format.time_col == "date"
    assert [repair.policy for repair in panel.report.repairs] == ["fill_gaps:interpolate"]
    in_forecaster = count_validations(monkeypatch, forecaster_module)
    in_backtest = count_validations(monkeypatch, backtest_module)
    forecaster = fc.Forecaster(["naive"], h=3).fit(panel)
    assert forecaster.panel is panel
    fc.run_backtest(panel, ["naive"], h=3, n_windows=2, n_jobs=1)
    assert in_forecaster == [] and in_backtest == []
    fc.Forecaster(["naive"], h=3).fit(panel.frame)          # a plain frame is validated, once
    assert in_forecaster == [1]


def test_resampling_a_panel_keeps_what_reading_repaired(gappy_csv):
    panel = fc.read_table(gappy_csv)
    weekly = fc.Forecaster(["naive"], h=2, freq="W").fit(panel).panel
    assert weekly.freq.startswith("W") and weekly.format == panel.format
    assert [repair.policy for repair in weekly.report.repairs][:1] == ["fill_gaps:interpolate"]
    assert any(repair.policy.startswith("resample") for repair in weekly.report.repairs)


def test_the_report_lists_repairs_from_their_values_not_from_text(gappy_csv):
    backtest = fc.run_backtest(fc.read_table(gappy_csv), ["naive"], h=3, n_windows=1, n_jobs=1)
    entry, = backtest.panel.report.by_policy()
    assert (entry.policy, entry.rows, entry.series) == ("fill_gaps:interpolate", 2, ["sales"])
    assert str(entry) in fc.render_report(backtest)
    assert backtest.settings["source"] == str(gappy_csv)


def test_no_module_passes_data_through_dataframe_attrs():
    for package in ("forecasting", "app"):
        for path in (REPO / package).rglob("*.py"):
            assert not re.search(r"\.attrs\s*(\[|=|\.get)", path.read_text()), f"{path} uses DataFrame.attrs"


def test_a_frame_validated_as_a_panel_reports_its_shape():
    frame = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=4, freq="h"), "y": 1.0})
    panel = fc.validate_frame(frame, source="mine")
    assert (panel.source, panel.report.n_series, panel.report.n_rows, panel.freq) == ("mine", 1, 4, "h")
    assert panel.series_ids == ["a"] and panel.format is None

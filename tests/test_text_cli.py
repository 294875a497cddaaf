"""Text covariates from the command line: a real process, real files."""
import numpy as np
import pandas as pd

from tests.test_cli import almanac
from tests.test_text_forecaster import event_panel


def write_events(tmp_path) -> tuple:
    data = tmp_path / "sales.csv"
    event_panel(2, 150).to_csv(data, index=False)
    return data, pd.read_csv(data)


def test_forecast_reads_planned_text_and_writes_what_it_does(tmp_path):
    data, frame = write_events(tmp_path)
    planned = tmp_path / "planned.csv"
    last = pd.to_datetime(frame.groupby("unique_id")["ds"].max())
    pd.DataFrame({"unique_id": last.index, "ds": (last + pd.Timedelta(days=2)).dt.strftime("%Y-%m-%d"),
                  "event": "everything a third cheaper today"}).to_csv(planned, index=False)
    plain, with_text, effects = tmp_path / "plain.csv", tmp_path / "text.csv", tmp_path / "effects.csv"
    run = almanac("forecast", str(data), "--h", "5", "--model", "arima", "--future-text-cols", "event",
                  "--n-jobs", "1", "--out", str(plain))
    assert run.returncode == 0, run.stderr
    assert "text column 'event' (known in advance): text on" in run.stderr and "(detected;" in run.stderr
    run = almanac("forecast", str(data), "--h", "5", "--model", "arima", "--future-text-cols", "event",
                  "--n-jobs", "1", "--future-text", str(planned), "--out", str(with_text),
                  "--text-effects", str(effects))
    assert run.returncode == 0, run.stderr
    lift = (pd.read_csv(with_text)["arima"] - pd.read_csv(plain)["arima"]).to_numpy().reshape(2, 5)
    assert np.all(lift[:, 1] > 1.5) and np.abs(np.delete(lift, 1, axis=1)).max() < 0.3
    table = pd.read_csv(effects)
    assert list(table.columns) == ["model", "unique_id", "regressor", "effect", "p_value", "high", "low"]
    assert set(table["unique_id"]) == {"store 0", "store 1"}


def test_text_cols_alone_reads_no_text_and_a_bad_name_is_an_error(tmp_path):
    data, _ = write_events(tmp_path)
    run = almanac("forecast", str(data), "--h", "5", "--model", "naive", "--text-cols", "--out",
                  str(tmp_path / "f.csv"))
    assert run.returncode == 0, run.stderr
    assert "text column" not in run.stderr
    run = almanac("forecast", str(data), "--h", "5", "--model", "naive", "--text-cols", "notes", "--out",
                  str(tmp_path / "f.csv"))
    assert run.returncode == 2
    assert "text_cols names 'notes', which is not a covariate column of the data. Covariate columns: 'event'" \
        in run.stderr


def test_the_backtest_report_names_the_text_columns(tmp_path):
    data, _ = write_events(tmp_path)
    report = tmp_path / "report.html"
    run = almanac("backtest", str(data), "--h", "7", "--model", "arima", "--windows", "2", "--n-jobs", "1",
                  "--future-text-cols", "event", "--report", str(report))
    assert run.returncode == 0, run.stderr
    html = report.read_text()
    assert "<dt>text covariates</dt><dd>text column &#39;event&#39; (known in advance): text on" in html

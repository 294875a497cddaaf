"""The `almanac` command as a user runs it: a real process, real files."""
import subprocess
import sys

import pandas as pd

from tests.conftest import REPO


def almanac(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forecasting", *args], capture_output=True, text=True, cwd=cwd or REPO)


def test_forecast_writes_csv_plot_and_model(tmp_path):
    out, plot, saved = tmp_path / "f.csv", tmp_path / "f.html", tmp_path / "model"
    run = almanac("forecast", str(REPO / "data" / "AirPassengers.csv"), "--h", "12", "--model", "ets", "theta",
                  "--level", "80", "95", "--out", str(out), "--plot", str(plot), "--save", str(saved))
    assert run.returncode == 0, run.stderr
    forecasts = pd.read_csv(out, parse_dates=["ds"])
    assert len(forecasts) == 12 and forecasts["ds"].iloc[0] == pd.Timestamp("1961-01-01")
    assert {"ets", "ets-lo-95", "theta-hi-80"} <= set(forecasts.columns)
    html = plot.read_text()
    assert "plotly" in html and "ets 95%" in html and len(html) > 1_000_000  # plotly.js embedded: works offline
    assert (saved / "config.json").exists() and (saved / "model.safetensors").exists()


def test_evaluate_prints_the_metric_table_with_owa(tmp_path):
    out = tmp_path / "summary.csv"
    run = almanac("evaluate", "air_passengers", "--h", "12", "--model", "seasonal_naive", "ets", "--windows", "2",
                  "--level", "80", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "smape" in run.stdout and "owa" in run.stdout and "coverage-80" in run.stdout
    summary = pd.read_csv(out).set_index("metric")
    assert list(summary.columns) == ["seasonal_naive", "ets"]
    assert summary.loc["mase", "ets"] < summary.loc["mase", "seasonal_naive"]


def test_a_series_too_short_for_its_season_is_said_on_stderr(tmp_path):
    short = tmp_path / "short.csv"
    short.write_text("ds,y\n" + "".join(f"2024-01-01 {hour:02d}:00,{hour}\n" for hour in range(5)))
    run = almanac("forecast", str(short), "--h", "3", "--model", "seasonal_naive", "--out", str(tmp_path / "f.csv"))
    assert run.returncode == 0, run.stderr
    assert "seasonal_naive used no season on 1 series shorter than one season (24 steps)" in run.stderr
    assert pd.read_csv(tmp_path / "f.csv")["seasonal_naive"].tolist() == [4.0, 4.0, 4.0]


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ds,y\n2024-01-01,1\n2024-01-02,oops\n2024-01-03,3\n")
    run = almanac("forecast", str(bad), "--h", "2")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("almanac: error:") and "bad.csv" in lines[0] and "oops" in lines[0]
    assert "Traceback" not in run.stderr


def test_missing_file_and_unknown_model():
    run = almanac("forecast", "no-such-file.csv", "--h", "2")
    assert run.returncode == 2 and "no-such-file.csv" in run.stderr and "Traceback" not in run.stderr
    run = almanac("forecast", "air_passengers", "--h", "2", "--model", "prophet")
    assert run.returncode == 2 and "invalid choice: 'prophet'" in run.stderr


def test_models_lists_the_registry():
    run = almanac("models")
    assert run.returncode == 0
    assert [line.split()[0] for line in run.stdout.splitlines()] == [
        "naive", "seasonal_naive", "drift", "naive2", "ets", "arima", "theta", "mstl", "linear", "analog", "pretrained",
        "almanac_base", "dlinear", "patchtst", "informer", "mamba", "hypermamba", "timellm", "timellm_no_lm",
        "timellm_attention", "auto"]


def test_backtest_prints_the_ranking_and_verdict_and_writes_the_report(tmp_path):
    run = almanac("backtest", str(REPO / "data" / "AirPassengers.csv"), "--models", "theta", "seasonal_naive",
                  "--windows", "2", "--h", "12", "--report", "tmp/report.html", "--out", "ranking.csv", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert ranking["model"].tolist() == ["theta", "seasonal_naive"]
    assert ranking["beats_reference"].tolist() == [True, False]
    verdict = f"theta has the lowest MASE, {ranking['mase_vs_reference'].iloc[0]:.2f}x seasonal naive."
    assert run.stdout.strip().splitlines()[-1] == verdict
    assert run.stdout.splitlines()[0].split() == ["model", "mase", "smape", "rmse", "mase_vs_reference",
                                                  "beats_reference"]
    html = (tmp_path / "tmp" / "report.html").read_text(encoding="utf-8")
    assert f'<p class="verdict">{verdict}</p>' in html
    assert "<dt>horizon (steps)</dt><dd>12</dd>" in html
    assert f"<dt>data</dt><dd>{REPO / 'data' / 'AirPassengers.csv'}</dd>" in html


def test_backtest_defaults_h_to_one_season_and_accepts_model(tmp_path):
    run = almanac("backtest", "air_passengers", "--model", "naive", "--windows", "1", "--report", "r.html",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == (
        "Seasonal naive (the reference) has the lowest MASE; naive does not beat seasonal naive.")
    assert "<dt>horizon (steps)</dt><dd>12</dd>" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_backtest_of_a_bad_file_is_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ds,y\n2024-01-01,1\n2024-01-02,oops\n2024-01-03,3\n")
    run = almanac("backtest", str(bad), "--models", "naive", "--h", "1", "--report", str(tmp_path / "r.html"))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("almanac: error:") and "oops" in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_csv_output_neutralises_formulas(tmp_path):
    data = tmp_path / "stores.csv"
    rows = [f"2024-01-{day:02d},{store},{day + 10 * k}"
            for day in range(1, 29) for k, store in enumerate(["=1+1", "@x"])]
    data.write_text("date,store,sales\n" + "\n".join(rows) + "\n")
    out = tmp_path / "f.csv"
    run = almanac("forecast", str(data), "--h", "2", "--model", "naive", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert sorted(set(pd.read_csv(out)["unique_id"])) == ["'=1+1", "'@x"]


def test_network_settings_from_the_command_line(tmp_path):
    out, saved = tmp_path / "f.csv", tmp_path / "model"
    run = almanac("forecast", "air_passengers", "--h", "12", "--model", "dlinear", "naive", "--level", "80",
                  "--set", "dlinear.epochs=2", "--set", "dlinear.network.moving_average=5",
                  "--set", "dlinear.optimizer=adamw8bit", "--out", str(out), "--save", str(saved))
    assert run.returncode == 0, run.stderr
    forecasts = pd.read_csv(out)
    assert {"dlinear", "dlinear-lo-80", "dlinear-hi-80", "naive"} <= set(forecasts.columns)
    assert forecasts["dlinear"].between(250, 800).all()
    config = (saved / "config.json").read_text()
    assert '"moving_average": 5' in config and '"optimizer": "adamw8bit"' in config and '"epochs": 2' in config


def test_bad_model_settings_are_one_line_errors():
    cases = [("dlinear.epochs", "write MODEL.FIELD=VALUE"),
             ("ets.epochs=3", "'ets' is not among the chosen models"),
             ("dlinear.epoch=3", "unknown setting 'epoch'; it takes batch_size"),
             ("dlinear.epochs=ten", "epochs takes int, not 'ten'"),
             ("dlinear.network.d_model=3", "unknown setting 'd_model'; it takes individual, moving_average, revin")]
    for setting, message in cases:
        run = almanac("forecast", "air_passengers", "--h", "12", "--model", "dlinear", "--set", setting)
        assert run.returncode == 2 and message in run.stderr, (setting, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1


def test_backtest_on_data_that_repeats_exactly_says_why_mase_is_undefined(tmp_path):
    days = pd.date_range("2024-01-01", periods=42, freq="D")
    week = [20, 25, 29, 24, 17, 12, 14]
    (tmp_path / "visits.csv").write_text("date,visits\n" + "".join(
        f"{day:%Y-%m-%d},{week[i % 7]}\n" for i, day in enumerate(days)))
    run = almanac("backtest", "visits.csv", "--model", "naive", "--windows", "2", "--h", "7", "--report", "r.html",
                  cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    verdict = run.stdout.strip().splitlines()[-1]
    assert verdict == (
        "MASE is undefined on this data: series visits repeats exactly every 7 steps, so seasonal naive's in-sample "
        "error, which MASE divides by, is 0. Compared on sMAPE instead, seasonal naive (the reference) has the lowest "
        "sMAPE; naive does not beat seasonal naive.")
    assert "nanx" not in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_the_reading_switches_the_notes_name_are_flags(tmp_path):
    """German monthly sales: the reader guesses day-first and thousands, says so, and the flags undo it."""
    path = tmp_path / "umsatz.csv"
    path.write_text("Datum;Umsatz\n" + "".join(f"01.{month:02d}.2024;1.0{month:02d}\n" for month in range(1, 13)))
    out = tmp_path / "f.csv"
    guessed = almanac("forecast", str(path), "--h", "1", "--model", "naive", "--out", str(out))
    assert guessed.returncode == 0, guessed.stderr
    assert "Pass dayfirst=False" in guessed.stderr and "Pass decimal='.'" in guessed.stderr
    assert pd.read_csv(out)["ds"].tolist() == ["2025-01-01"] and pd.read_csv(out)["naive"].tolist() == [1012.0]
    switched = almanac("forecast", str(path), "--h", "1", "--model", "naive", "--out", str(out),
                       "--dayfirst", "false", "--decimal", ".")
    assert switched.returncode == 0, switched.stderr
    assert pd.read_csv(out)["ds"].tolist() == ["2024-01-13"] and pd.read_csv(out)["naive"].tolist() == [1.012]
    assert "date_order" not in switched.stderr and "number_style" not in switched.stderr


def test_dates_with_offsets_are_converted_to_the_zone_asked_for(tmp_path):
    path = tmp_path / "dst.csv"
    path.write_text("ds,y\n2024-03-31T00:00:00+01:00,1\n2024-03-31T01:00:00+01:00,2\n2024-03-31T03:00:00+02:00,3\n"
                    "2024-03-31T04:00:00+02:00,4\n")
    out = tmp_path / "f.csv"
    run = almanac("forecast", str(path), "--h", "1", "--model", "naive", "--out", str(out), "--timezone", "Europe/Berlin")
    assert run.returncode == 0, run.stderr
    assert "Europe/Berlin" in run.stderr and pd.read_csv(out)["ds"].tolist() == ["2024-03-31 05:00:00"]
    bad = almanac("forecast", str(path), "--h", "1", "--timezone", "Mars/Olympus")
    assert bad.returncode == 2 and "Mars/Olympus" in bad.stderr and "Traceback" not in bad.stderr


def test_a_library_lends_its_series_and_the_analogues_are_written(tmp_path):
    """30 hours of a day's shape: the next four hours' shape is not in them, but in a library file of it.
    The analog model retrieves from the library, and --analogues writes what each forecast retrieved."""
    shape = [0, 1, 3, 2, 5, 4, 2, 1, 6, 8, 7, 9, 4, 3, 5, 2, 0, 1, 2, 6, 5, 3, 4, 2]
    own, library = tmp_path / "own.csv", tmp_path / "library.csv"
    own.write_text("ds,y\n" + "".join(f"{stamp:%Y-%m-%d %H:%M},{shape[i % 24]}\n" for i, stamp in
                                      enumerate(pd.date_range("2024-01-01", periods=30, freq="h"))))
    library.write_text("ds,load\n" + "".join(f"{stamp:%Y-%m-%d %H:%M},{10 * shape[i % 24] + 7}\n" for i, stamp in
                                            enumerate(pd.date_range("2020-01-01", periods=400, freq="h"))))
    out, analogues = tmp_path / "f.csv", tmp_path / "analogues.csv"
    run = almanac("forecast", str(own), "--h", "4", "--model", "analog", "--set", "analog.lookback=8",
                  "--set", "analog.k=3", "--library", str(library), "--out", str(out), "--analogues", str(analogues))
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(analogues)
    assert len(table) == 3 and table["series"].str.startswith("library:").all() and table["library"].all()
    assert pd.read_csv(out)["analog"].round(6).tolist() == [float(v) for v in shape[6:10]]
    refused = almanac("forecast", str(own), "--h", "4", "--model", "ets", "--library", str(library))
    assert refused.returncode == 2 and "--library lends its series to models that retrieve analogues" in refused.stderr


def test_forecast_without_a_model_runs_auto_and_says_why(tmp_path):
    out, compared = tmp_path / "f.csv", tmp_path / "compared.csv"
    run = almanac("forecast", str(REPO / "data" / "AirPassengers.csv"), "--h", "12", "--set",
                  'auto.candidates=["seasonal_naive", "naive", "linear"]', "--out", str(out), "--compared", str(compared))
    assert run.returncode == 0, run.stderr
    assert "auto chose " in run.stderr and "seasonal naive" in run.stderr
    assert "auto" in pd.read_csv(out).columns
    table = pd.read_csv(compared)
    assert {"seasonal_naive", "naive", "linear", "ensemble_median", "ensemble_weighted"} == set(table["option"])
    assert (table["status"] == "chosen").sum() == 1
    refused = almanac("forecast", "air_passengers", "--h", "12", "--model", "naive", "--out", str(out),
                      "--compared", str(compared))
    assert refused.returncode == 2 and "--compared needs the model auto" in refused.stderr

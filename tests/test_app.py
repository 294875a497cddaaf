"""The Streamlit app's logic, page by page, with AppTest (no browser): small data, fast models."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import forecasting as fc
import forecasting.api.auto as auto_module
from app.common import date_columns, plain

REPO = Path(__file__).resolve().parents[1]
MAIN = str(REPO / "app" / "main.py")
AIR = REPO / "data" / "AirPassengers.csv"
TIMEOUT = 120
FAST = ["seasonal_naive", "naive"]
XSS = "<script>alert(1)</script>"


def started() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT).run()
    assert not at.exception
    return at


def upload(at: AppTest, name: str, content: bytes, mime: str = "text/csv") -> AppTest:
    at.sidebar.radio(key="source_kind").set_value("Upload a file").run()
    at.sidebar.file_uploader(key="upload").upload(name, content, mime)
    return at.run()


def long_csv(ids: list[str], n: int = 36) -> bytes:
    """Monthly long table: unique_id, ds, y (a trend and a yearly cycle)."""
    lines = ["unique_id,ds,y"]
    for k, series_id in enumerate(ids):
        for i in range(n):
            year, month = 2020 + i // 12, i % 12 + 1
            lines.append(f'"{series_id}",{year}-{month:02d}-01,{100 + 10 * k + i + (i % 12) * 3}')
    return "\n".join(lines).encode()


def hourly_csv(lengths: dict[str, int]) -> bytes:
    """Hourly long table with a daily cycle, one series per id, of the given length."""
    lines = ["unique_id,ds,y"]
    for series_id, n in lengths.items():
        lines += [f"{series_id},{pd.Timestamp('2024-01-01') + pd.Timedelta(hours=i)},{20 + (i % 24) // 3}"
                  for i in range(n)]
    return "\n".join(lines).encode()


def forecast(at: AppTest, models: list[str], h: int) -> AppTest:
    at.multiselect(key="fc_models").set_value(models)
    horizon = next(widget for widget in at.number_input if widget.key.startswith("fc_h_"))
    horizon.set_value(h)
    next(button for button in at.button if button.label == "Forecast").click()
    return at.run()


def backtest(at: AppTest, models: list[str], h: int, windows: int) -> AppTest:
    at.switch_page("views/backtest.py").run()
    at.multiselect(key="bt_models").set_value(models)
    next(widget for widget in at.number_input if widget.key.startswith("bt_h_")).set_value(h)
    at.number_input(key="bt_windows").set_value(windows)
    at.button[0].click()
    return at.run()


def test_sample_dataset_loads_and_previews():
    at = started()
    assert "1 series, 144 rows, monthly (MS)" in at.sidebar.success[0].value
    at.switch_page("views/data.py").run()
    assert not at.exception
    summary = at.dataframe[0].value
    assert list(summary.columns) == ["unique_id", "start", "end", "observations", "filled", "freq"]
    assert summary["observations"].tolist() == [144]


def test_sample_resampled_through_the_frequency_override():
    at = started()
    at.sidebar.selectbox(key="ovr_freq").set_value("QS").run()
    assert not at.exception
    assert "48 rows, quarterly (QS-JAN)" in at.sidebar.success[0].value


def test_forecast_table_has_series_times_horizon_rows():
    at = started()
    assert at.number_input[0].value == 12  # one season of monthly data
    at = forecast(at, FAST, 12)
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 1 * 12
    assert {"seasonal_naive", "naive-lo-95", "naive-hi-80"} <= set(table.columns)
    assert at.get("plotly_chart")
    assert at.get("download_button")[0].proto.label == "Download forecast CSV"
    # A rerun (any widget change) shows the stored result without refitting.
    at.run()
    assert len(at.dataframe[0].value) == 12


def test_upload_of_a_long_file_forecasts_every_series():
    at = upload(started(), "shops.csv", long_csv(["north", "south", "east"]))
    assert not at.exception
    assert not at.error
    assert "3 series, 108 rows, monthly (MS)" in at.sidebar.success[0].value
    at = forecast(at, ["seasonal_naive"], 6)
    assert not at.exception
    assert len(at.dataframe[0].value) == 3 * 6


def test_upload_of_a_parquet_file():
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.read_csv(AIR, parse_dates=["ds"]).to_parquet(buffer, index=False)
    at = upload(started(), "air.parquet", buffer.getvalue(), "application/octet-stream")
    assert not at.exception and not at.error
    assert "1 series, 144 rows, monthly (MS)" in at.sidebar.success[0].value
    assert any("Parquet" in caption.value for caption in at.sidebar.caption)
    assert any("almanac forecast big/ --engine local:4" in caption.value for caption in at.sidebar.caption)


def test_format_override_rereads_the_file():
    semicolons = AIR.read_text().replace(",", ";").encode()
    at = upload(started(), "air.csv", semicolons)
    assert "144 rows" in at.sidebar.success[0].value
    at.sidebar.selectbox(key="ovr_sep").set_value("|").run()  # wrong on purpose: one column, no numbers
    assert not at.exception
    assert at.sidebar.error and at.main.error[0].value.startswith(plain("air.csv: no column holds dates"))


def test_bad_file_shows_the_data_error_not_a_traceback():
    rows = [f"2024-01-{day:02d},{day}" for day in range(1, 29)]
    rows[5] = "2024-01-06,abc"
    at = upload(started(), "bad.csv", ("ds,y\n" + "\n".join(rows)).encode())
    assert not at.exception
    with pytest.raises(fc.DataError) as expected:
        fc.read_table(__import__("io").BytesIO(("ds,y\n" + "\n".join(rows)).encode()))
    assert at.sidebar.error  # a short pointer there; the message in full on the page
    message = at.main.error[0].value
    # The DataError's own text (the file named as uploaded), Markdown-escaped so that it shows as typed.
    assert message == plain("bad.csv:" + str(expected.value).split(":", 1)[1])
    assert "not numbers" in message and "line 7\\: 'abc'" in message
    for page in ("views/forecast.py", "views/backtest.py"):
        at.switch_page(page).run()
        assert not at.exception and at.main.error[0].value == message


def test_backtest_shows_metrics_with_the_seasonal_naive_reference():
    at = started()
    at.switch_page("views/backtest.py").run()
    at.multiselect(key="bt_models").set_value(["naive"])
    at.number_input(key="bt_windows").set_value(2)
    at.button[0].click().run()
    assert not at.exception
    ranking, summary, per_series = (frame.value for frame in at.dataframe)
    assert {"seasonal_naive", "naive"} <= set(summary.columns)
    assert {"mase", "smape", "coverage-80", "coverage-95"} <= set(summary.index)
    assert set(ranking["model"]) == {"seasonal_naive", "naive"}
    # coverage stands beside MASE, labelled with its nominal level; levels it misses are said in words
    table = at.dataframe[0].proto
    assert list(table.column_order[:4]) == ["model", "mase", "coverage-80", "coverage-95"]
    assert json.loads(table.columns)["coverage-80"]["label"] == "coverage-80 (nominal 80%)"
    gaps = fc.metrics.coverage_gaps(summary)
    warnings = [warning.value for warning in at.main.warning if "nominal" in warning.value]
    assert len(warnings) == (1 if gaps else 0) and all(plain(gap) in warnings[0] for gap in gaps)
    verdict = (at.main.success or at.main.warning)[0].value
    assert "seasonal naive" in verdict
    assert per_series["cutoff"].nunique() == 2
    assert at.get("download_button")[0].proto.label == "Download report (HTML)"


def test_series_shorter_than_a_season_are_named_on_both_pages():
    at = upload(started(), "hours.csv", hourly_csv({"short": 10, "long": 48}))
    assert not at.exception and not at.error
    at = forecast(at, ["seasonal_naive"], 3)
    assert not at.exception
    note = plain("seasonal_naive used no season on 1 series shorter than one season (24 steps): short.")
    assert [info.value for info in at.info] == [note]
    short = at.dataframe[0].value.query("unique_id == 'short'")
    assert short["seasonal_naive"].tolist() == [20 + 9 // 3] * 3  # the last value, not a partial day repeated
    at = backtest(at, ["naive"], h=3, windows=1)
    assert not at.exception
    assert [info.value for info in at.info] == [note]


def test_series_id_with_markup_is_shown_as_text():
    at = upload(started(), "xss.csv", long_csv([XSS, "plain"]))
    assert not at.exception and not at.error
    at = forecast(at, ["seasonal_naive"], 3)
    assert not at.exception
    assert XSS in set(at.dataframe[0].value["unique_id"])
    assert XSS in at.multiselect(key="fc_series").options
    # Nothing on the page is rendered as raw HTML, and the chart spells the id escaped.
    for element in at.markdown:
        assert not element.proto.allow_html
    spec = at.get("plotly_chart")[0].proto.spec
    assert "<script>" not in spec and "&lt;script&gt;" in spec


def test_a_neural_model_trains_and_forecasts_from_the_app():
    at = started()
    at = forecast(at, ["dlinear", "seasonal_naive"], 12)
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 12 and {"dlinear", "dlinear-lo-95", "dlinear-hi-95"} <= set(table.columns)
    assert table["dlinear"].between(200, 800).all()  # air passengers' scale, not standardised units
    assert at.get("plotly_chart")


def test_the_bundled_pretrained_model_forecasts_the_upload_zero_shot():
    at = started()
    names = [option.split(":")[0] for option in at.multiselect(key="fc_models").options]
    assert "almanac_base" in names and "pretrained" not in names     # pretrained needs a checkpoint folder
    at = forecast(at, ["almanac_base", "seasonal_naive"], 12)
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 12 and {"almanac_base", "almanac_base-lo-80", "almanac_base-hi-95"} <= set(table.columns)
    assert table["almanac_base"].between(200, 900).all()
    assert any(note.value.startswith(r"almanac\_base\: zero\-shot") for note in at.info)   # escaped Markdown


def test_choosing_timellm_asks_what_the_data_is_and_the_model_carries_it():
    from app.common import build_models

    at = started()
    assert not at.text_input                                      # no prompt box without TimeLLM
    at.multiselect(key="fc_models").set_value(["timellm", "seasonal_naive"]).run()
    box = at.text_input(key="fc_description")
    assert "timellm prompt" in box.label and box.value == ""
    box.input("Monthly airline passengers, in thousands.").run()
    assert at.text_input(key="fc_description").value == "Monthly airline passengers, in thousands."
    models = build_models({"models": ["timellm", "seasonal_naive"], "description": "Monthly airline passengers."})
    assert models[0].name == "timellm" and models[0].description == "Monthly airline passengers."
    assert models[1] == "seasonal_naive"
    assert build_models({"models": ["timellm"], "description": ""}) == ["timellm"]    # derived from the data


GERMAN_MONTHLY = ("Datum;Umsatz\n" + "\n".join(f"01.{month:02d}.2024;{100 + month},5" for month in range(1, 13))).encode()


def test_an_ambiguous_date_order_is_shown_with_a_one_click_switch():
    """German monthly dates: both day orders read every date, so the sidebar says which was used, and
    one click re-reads them month first (12 consecutive January days)."""
    at = upload(started(), "umsatz.csv", GERMAN_MONTHLY)
    assert "12 series" not in at.sidebar.success[0].value and "monthly" in at.sidebar.success[0].value
    assert "Dates were read day first" in at.sidebar.warning[0].value
    at.sidebar.button(key="switch_dayfirst").click().run()
    assert not at.exception
    assert at.sidebar.selectbox(key="ovr_dayfirst").value == "month"
    assert "daily" in at.sidebar.success[0].value
    assert at.session_state["dataset"].frame["ds"].iloc[1] == pd.Timestamp("2024-01-02")
    assert not at.sidebar.warning  # chosen, no longer a guess


def test_the_data_page_lists_the_notes_on_how_the_file_was_read():
    at = upload(started(), "umsatz.csv", GERMAN_MONTHLY)
    assert any("1 note(s) on how the file was read" in caption.value for caption in at.sidebar.caption)
    at.switch_page("views/data.py").run()
    assert not at.exception
    notes = next(frame.value for frame in at.main.dataframe if "topic" in frame.value.columns)
    assert list(notes["topic"]) == ["date_order"] and "Pass dayfirst=False" in notes["detail"].iloc[0]


def test_an_ambiguous_number_style_is_shown_with_a_one_click_switch():
    """'1.001' reads as one (decimal point) or as a thousand (thousands dot): the sidebar says so, and one
    click reads it the other way."""
    text = "ds,y\n" + "\n".join(f"2024-01-{day:02d},1.{day:03d}" for day in range(1, 29))
    at = upload(started(), "thousands.csv", text.encode())
    assert at.session_state["dataset"].frame["y"].iloc[0] == 1.001
    assert "Numbers were read with the decimal point (.)" in at.sidebar.warning[0].value
    at.sidebar.button(key="switch_decimal").click().run()
    assert not at.exception and at.sidebar.selectbox(key="ovr_decimal").value == ","
    assert at.session_state["dataset"].frame["y"].iloc[0] == 1001


def test_backtest_on_data_that_repeats_exactly_says_why_mase_is_undefined():
    week = [20, 25, 29, 24, 17, 12, 14]
    days = pd.date_range("2024-01-01", periods=42, freq="D")
    at = upload(started(), "visits.csv", ("date,visits\n" + "".join(
        f"{day:%Y-%m-%d},{week[i % 7]}\n" for i, day in enumerate(days))).encode())
    at = backtest(at, ["naive"], h=7, windows=2)
    assert not at.exception
    verdict = at.main.warning[0].value
    assert verdict.startswith(plain("MASE is undefined on this data: series visits repeats exactly every 7 steps"))
    assert "nan" not in verdict and "inf" not in verdict
    assert any(caption.value.startswith("Lowest sMAPE first: MASE is undefined on this data") for caption in at.caption)
    assert at.dataframe[0].value["model"].tolist() == ["seasonal_naive", "naive"]


def test_the_upload_limit_is_stated_as_configured_in_one_unit():
    configured = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    stated = f"{configured} MB ({configured * 1000**2:,} bytes)"  # browsers count 1000² bytes to Streamlit's MB
    at = started()
    at.sidebar.radio(key="source_kind").set_value("Upload a file").run()
    uploader = at.sidebar.file_uploader(key="upload")
    assert uploader.proto.max_upload_size_mb == configured  # the limit Streamlit enforces, as this app runs it
    assert uploader.help.startswith(f"Up to {stated}.")
    assert [caption.value for caption in at.sidebar.caption if caption.value.startswith("Files up to")] == [
        f"Files up to {stated}: CSV/TSV (any delimiter, UTF-8 or Latin-1), gzipped CSV, Parquet."]
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"of up to {stated}" in readme and "MiB" not in readme


def test_timestamps_with_changing_utc_offsets_read_or_fail_with_a_message_about_the_file():
    """Local time across a daylight-saving change: pandas' own complaint about it never reaches the page."""
    stamps = pd.date_range("2024-03-25", periods=14, freq="D", tz="Europe/Paris")
    rows = [f"{stamp.isoformat()},{10 + i}" for i, stamp in enumerate(stamps)]  # +01:00, then +02:00
    at = upload(started(), "meter.csv", ("ds,y\n" + "\n".join(rows)).encode())
    assert not at.exception
    messages = [element.value for element in at.main.error]
    assert all(message.startswith("meter") for message in messages)
    assert not any("Tz-aware" in message or "utc=True" in message or "cannot be used" in message
                   for message in messages)


@pytest.mark.parametrize("failure", [OSError("[Errno 5] Input/output error"),
                                     pd.errors.ParserError("Error tokenizing data. C error: Expected 2 fields")])
def test_a_read_failure_the_reader_does_not_describe_names_the_file_and_the_fix(monkeypatch, failure):
    def read_table(source, **settings):
        raise failure

    monkeypatch.setattr(fc, "read_table", read_table)
    at = upload(started(), "sales.csv", b"ds;y\n2024-01-01;1\n")
    assert not at.exception
    assert at.main.error[0].value.startswith(plain("sales.csv could not be read with the settings detected."))
    at.sidebar.selectbox(key="ovr_sep").set_value(";").run()
    assert not at.exception
    assert at.sidebar.error
    message = at.main.error[0].value
    assert message == plain(
        "sales.csv could not be read with delimiter semicolon (;). Check that it is a table with a header row, a date "
        "column and numeric value columns; set the delimiter, decimal mark, encoding and date order under 'How the "
        "file was read' to match it, or save it again as a UTF-8 CSV and upload that.")
    assert str(failure) not in message


ANALOGUE_COLUMNS = ["rank", "series", "source", "start", "end", "similarity", "weight"]


def analogue_table(at: AppTest) -> pd.DataFrame:
    return next(frame.value for frame in at.dataframe if list(frame.value.columns) == ANALOGUE_COLUMNS)


def test_the_analog_model_shows_the_similar_past_periods_it_retrieved():
    data = hourly_csv({"a": 400, "b": 400})
    at = forecast(upload(started(), "hours.csv", data), ["seasonal_naive"], 24)
    assert not at.exception and "Similar past periods" not in [header.value for header in at.main.subheader]
    at = forecast(at, ["analog", "seasonal_naive"], 24)
    assert not at.exception
    assert [header.value for header in at.main.subheader] == ["Chart", "Similar past periods", "Table"]
    assert not [box for box in at.selectbox if box.key == "fc_analogue_model"]  # one model retrieves: no menu
    expected = fc.Forecaster(["analog"], h=24, level=[80, 95]).fit(
        fc.read_table(__import__("io").BytesIO(data))).analogues()
    k = int((expected["unique_id"] == "a").sum())            # as many as the model chose
    charted = min(k, fc.CHARTED_ANALOGUES)
    table = analogue_table(at)
    assert table["rank"].tolist() == list(range(1, k + 1))
    assert (table["source"] == "this data").all()
    pd.testing.assert_series_equal(table["similarity"], expected.query("unique_id == 'a'")["similarity"],
                                   check_index=False)
    assert table["weight"].sum() == pytest.approx(1.0)
    chart = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert chart["layout"]["title"]["text"] == "Similar past periods: a (analog)"
    assert [trace["name"] for trace in chart["data"]][::charted + 1] == ["history", "analog"]
    first = expected.iloc[0]
    assert chart["data"][1]["name"] == f"#1 {first.series}, {first.start:%Y-%m-%d %H:%M} to {first.end:%Y-%m-%d %H:%M}"
    weights = expected.query("unique_id == 'a'")["weight"]
    assert [trace["opacity"] for trace in chart["data"][1:charted + 1]] == pytest.approx(
        0.15 + 0.85 * weights.head(charted) / weights.head(charted).max())
    # charting both series offers both here; the table follows the one picked
    at.multiselect(key="fc_series").set_value(["a", "b"]).run()
    at.selectbox(key="fc_analogue_series").set_value("b").run()
    assert not at.exception
    pd.testing.assert_series_equal(analogue_table(at)["weight"], expected.query("unique_id == 'b'")["weight"],
                                   check_index=False)
    assert json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]["title"]["text"] == \
        "Similar past periods: b (analog)"


def test_networks_fuse_the_analogues_asked_for_and_a_menu_picks_whose_are_shown(monkeypatch):
    from app.common import build_models

    configs = []

    def quick_model(name: str, **settings):  # the network as the page asks for it, trained for two steps
        configs.append((name, settings))
        return fc.models.model(name, **settings, epochs=1, steps_per_epoch=2, retrain_on_all_rows=False)

    monkeypatch.setattr(fc, "model", quick_model)
    at = started()
    at.multiselect(key="fc_models").set_value(["analog", "seasonal_naive"]).run()
    assert "fc_retrieval" not in [box.key for box in at.number_input]      # asked only when a network is chosen
    at.multiselect(key="fc_models").set_value(["analog", "dlinear"]).run()
    k = at.number_input(key="fc_retrieval")
    assert k.label == "Analogues fused into the networks (k, 0 = none)" and k.value == 0
    k.set_value(3)
    at = forecast(at, ["analog", "dlinear"], 12)
    assert not at.exception
    assert configs == [("dlinear", {"retrieval": 3})]
    picker = at.selectbox(key="fc_analogue_model")
    assert picker.options == ["analog", "dlinear"] and picker.value == "analog"
    chosen = fc.Forecaster(["analog"], h=12, level=[80, 95]).fit(fc.datasets.load("air_passengers"))
    assert len(analogue_table(at)) == chosen.states[0][0].retriever.k           # as many as analog chose
    picker.set_value("dlinear").run()
    assert not at.exception
    assert analogue_table(at)["rank"].tolist() == [1, 2, 3]
    assert "(dlinear)" in json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]["title"]["text"]
    # k = 0 (the default) leaves the networks as they were
    monkeypatch.undo()
    assert build_models({"models": ["dlinear", "naive"], "retrieval": 0}) == ["dlinear", "naive"]
    assert [model.retrieval for model in build_models({"models": ["dlinear"], "retrieval": 2})] == [2]
    assert build_models({"models": ["naive"], "retrieval": 2}) == ["naive"]


def test_the_table_says_which_analogues_come_from_a_library():
    from app.similar_periods import listed
    from tests.test_analog import cycles

    own = cycles(1, 30, noise=0.0)          # too short to have seen its next hours' shape: the library has
    library = cycles(1, 500, noise=0.0, start="2010-01-01").assign(unique_id="reference")
    fitted = fc.Forecaster([fc.model("analog", k=4, lookback=8, library=library)], h=8).fit(own)
    table = listed(fitted.analogues())
    assert list(table.columns) == ANALOGUE_COLUMNS
    assert (table["source"] == "library").all() and (table["series"] == "library:reference").all()
    its_own = listed(fc.Forecaster([fc.model("analog", k=4, lookback=12)], h=12).fit(library).analogues())
    assert (its_own["source"] == "this data").all() and (its_own["series"] == "reference").all()


def events_csv(days: int = 120) -> bytes:
    """Two daily series with a sale (+3) on every ninth day, written in the text column 'event'."""
    lines = ["unique_id,ds,y,event"]
    for k, series_id in enumerate(["north", "south"]):
        for i in range(days):
            sale = i % 9 == 4
            lines.append(f"{series_id},{pd.Timestamp('2024-01-01') + pd.Timedelta(days=i):%Y-%m-%d},"
                         f"{10 + k + (i % 7) + 3 * sale},{'flash sale 30% off' if sale else ''}")
    return "\n".join(lines).encode()


def test_planned_text_is_typed_for_the_horizon_and_moves_arimas_forecast():
    at = upload(started(), "events.csv", events_csv())
    at.switch_page("views/forecast.py").run()
    assert at.multiselect(key=next(w.key for w in at.multiselect if w.key.startswith("fc_text_cols_"))).value == \
        ["event"]
    known = next(w for w in at.multiselect if w.key.startswith("fc_future_text_cols_"))
    known.set_value(["event"]).run()
    at.selectbox(key="fc_planned_series").set_value("All series")
    at.number_input(key="fc_planned_step").set_value(3)
    at.text_input(key="fc_planned_text_input").set_value("prices slashed for one day only").run()
    next(button for button in at.button if button.label == "Add planned text").click().run()
    assert "Nothing planned" not in [caption.value for caption in at.caption]
    at = forecast(at, ["arima"], 7)
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = next(frame.value for frame in at.dataframe if "regressor" in frame.value.columns)
    assert set(table["unique_id"]) == {"north", "south"}
    assert (table.loc[table["regressor"] == "event: has text", "effect"] > 1.5).all()


def test_tables_show_daily_dates_without_a_time_of_day():
    daily = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=3, freq="D"), "y": [1.0, 2.0, 3.0]})
    hourly = daily.assign(ds=pd.date_range("2024-01-01", periods=3, freq="h"))
    assert daily.ds.dtype.kind == "M" and list(date_columns(daily)) == ["ds"]
    assert date_columns(daily)["ds"]["type_config"]["format"] == "YYYY-MM-DD"
    assert date_columns(hourly) == {}   # hours keep their time of day


def test_auto_is_the_default_and_says_what_it_chose():
    at = started()
    assert at.multiselect(key="fc_models").value == ["auto", "seasonal_naive"]
    next(button for button in at.button if button.label == "Forecast").click()
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    assert {"auto", "auto-lo-80", "seasonal_naive"} <= set(table.columns) and len(table) == 12
    notes = [info.value for info in at.info]
    assert any(note.startswith("auto chose ") and "seasonal naive" in note for note in notes), notes
    compared = next(frame.value for frame in at.dataframe if "option" in frame.value.columns)
    assert {"seasonal_naive", "theta", "ets", "linear"} <= set(compared["option"])
    assert (compared["status"] == "chosen").sum() == 1 and compared["score"].notna().sum() >= 4


def test_auto_takes_a_time_budget_from_the_page(monkeypatch):
    """Asked only when auto is chosen; a budget reaches auto's config, and a spent budget is reported per skipped
    candidate in the table of what auto compared."""
    from app.common import build_models
    at = started()
    at.multiselect(key="fc_models").set_value(["naive", "seasonal_naive"]).run()
    assert "fc_auto_budget" not in [box.key for box in at.number_input]
    at.multiselect(key="fc_models").set_value(["auto"]).run()
    budget = at.number_input(key="fc_auto_budget")
    assert budget.label == "Time auto may take (s, 0 = no limit)" and budget.value == 0
    assert build_models({"models": ["auto", "naive"], "auto_budget": 0}) == ["auto", "naive"]
    assert [config.time_budget for config in build_models({"models": ["auto"], "auto_budget": 30})] == [30]
    budget.set_value(30)
    at.run()
    clock = iter(range(0, 10_000, 60))                # auto's clock reads a minute later each time
    monkeypatch.setattr(auto_module, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    next(button for button in at.button if button.label == "Forecast").click()
    at.run()
    assert not at.exception
    compared = next(frame.value for frame in at.dataframe if "option" in frame.value.columns).set_index("option")
    assert compared.loc["seasonal_naive", "status"] in ("chosen", "scored")
    assert compared.loc["mstl", "status"] == "skipped" and "time budget of 30 s" in compared.loc["mstl", "detail"]


def test_each_model_is_fitted_once_per_data_and_settings(monkeypatch):
    """Running again, switching pages and coming back, or adding a model refits only what is new (counted)."""
    fitted = []
    original = fc.Forecaster.fit

    def counting(self, data, **kwargs):
        fitted.append([model.name for model in self.models])
        return original(self, data, **kwargs)

    monkeypatch.setattr(fc.Forecaster, "fit", counting)
    at = forecast(started(), ["naive", "seasonal_naive"], 12)
    assert not at.exception and sorted(fitted) == [["naive"], ["seasonal_naive"]]
    next(button for button in at.button if button.label == "Forecast").click()
    at.run()
    at.switch_page("views/backtest.py").run()
    at.switch_page("views/forecast.py").run()
    assert len(fitted) == 2 and {"naive", "seasonal_naive"} <= set(at.dataframe[0].value.columns)
    at = forecast(at, ["naive", "seasonal_naive", "drift"], 12)
    assert fitted[2:] == [["drift"]] and "drift" in at.dataframe[0].value.columns
    at = forecast(at, ["naive", "seasonal_naive", "drift"], 6)        # another horizon: every model again
    assert len(fitted) == 6 and len(at.dataframe[0].value) == 6


def test_models_run_fastest_first():
    from app.common import run_order
    assert run_order(["dlinear", "auto", "arima", "seasonal_naive", "linear"]) == \
        ["seasonal_naive", "linear", "arima", "auto", "dlinear"]

"""End to end: a real `streamlit run` server driven by Debian's chromium through Playwright.

Upload ETTh1, forecast with one model, download the CSV; backtest two windows, download the report.
Forecast with the analog model and find the similar past periods it drew on.
Screenshots go to out/screenshots/.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ETTH1 = Path(__file__).resolve().parents[2] / "shared" / "data" / "ETTh1.csv"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "out" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 90
STEP_MS = 60_000       # one rerun of the app (reading a file, drawing a page)
COMPUTE_MS = 240_000   # a fit or backtest on ETTh1 (17k rows x 7 series) on a small machine
ETTH1_SERIES = 7
RECONNECT_WINDOW_S = 10  # server.disconnectedSessionTTL for the session-end test: a closed tab's session is closed sooner
SETTLE_S = 60            # generous: how long a closed tab's work and memory may take to go
RSS_MARGIN_MB = 20       # the server's memory returns within this of its size before the session's upload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(*options: str) -> Iterator[str]:
    """`streamlit run app/main.py [options]` on a free local port; yields its URL, and always stops it."""
    with streamlit_process(*options) as (url, _):
        yield url


@contextlib.contextmanager
def streamlit_process(*options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`streamlit run app/main.py [options]` on a free local port; yields its URL and process, and always stops it."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "streamlit"), "run", "app/main.py",
               "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", *options]
    log = (REPO / "out" / f"streamlit-{port}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as sink:
        server = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
                                  env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
                                       "MALLOC_ARENA_MAX": "2"})  # as `make run` and the Docker image
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"streamlit exited with {server.returncode}: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.read().strip() == b"ok":
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not answer within {START_TIMEOUT_S}s: {log.read_text()[-2000:]}")
                time.sleep(0.25)
            yield url, server
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)
    log.unlink(missing_ok=True)


@contextlib.contextmanager
def chromium_page(accept_downloads: bool = True):
    """A Playwright page in Debian's chromium (headless, no network side channels)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=accept_downloads)
            yield context.new_page()
        finally:
            browser.close()


def wait_idle(page, timeout_ms: int = COMPUTE_MS) -> None:
    """Until the app has finished its rerun (Streamlit shows a status widget while running)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout_ms)


def upload(page, path: Path) -> None:
    """Choose 'Upload a file' in the sidebar and give the uploader `path`."""
    page.get_by_text("Upload a file", exact=True).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))


def keep_models(page, label: str, models: list[str]) -> None:
    """Replace the selection of the multiselect `label` by `models`."""
    select = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label).first
    box = select.locator("input")
    box.click()
    for _ in range(10):  # Backspace removes the last chosen model
        box.press("Backspace")
    for model in models:
        box.fill(model)
        page.get_by_role("option", name=model, exact=False).first.click()
    page.keyboard.press("Escape")
    wait_idle(page, STEP_MS)


def upload_and_forecast(page, server: str, path: Path, summary: str, models: list[str]) -> None:
    """Open the app, upload `path` (the sidebar then reads `summary`), keep `models` and press Forecast."""
    page.set_default_timeout(STEP_MS)
    page.goto(server)
    page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
    upload(page, path)
    page.get_by_text(summary).wait_for(state="visible")
    wait_idle(page, STEP_MS)
    keep_models(page, "Models", models)
    page.get_by_role("button", name="Forecast", exact=True).click()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    if not ETTH1.exists():
        pytest.skip(f"{ETTH1} is absent")
    with streamlit_server() as url:
        yield url


def test_upload_forecast_and_backtest_in_a_browser(server):
    import pandas as pd

    with chromium_page() as page:
        page.set_default_timeout(STEP_MS)
        page.goto(server)
        page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
        shot(page, "01-start-sample")

        upload(page, ETTH1)
        page.get_by_text(f"{ETTH1_SERIES} series, 121,940 rows, hourly (h)").wait_for(state="visible")
        wait_idle(page, STEP_MS)
        page.set_viewport_size({"width": 1440, "height": 1500})  # the sidebar scrolls on its own
        page.get_by_text("How the file was read").click()
        page.get_by_text("Value column(s), comma-separated").wait_for(state="visible")
        page.wait_for_timeout(500)
        shot(page, "02-uploaded")
        page.get_by_text("How the file was read").click()
        page.set_viewport_size({"width": 1440, "height": 1000})

        # Forecast with one fast model, the default horizon (24 hours: one season).
        keep_models(page, "Models", ["seasonal_naive"])
        page.get_by_role("button", name="Forecast", exact=True).click()
        chart = page.locator(".js-plotly-plot").first
        chart.wait_for(state="visible", timeout=COMPUTE_MS)
        wait_idle(page)
        shot(page, "03-forecast")
        with page.expect_download(timeout=STEP_MS) as download:
            page.get_by_role("button", name="Download forecast CSV").click()
        forecasts = pd.read_csv(download.value.path())
        assert len(forecasts) == ETTH1_SERIES * 24
        assert forecasts["unique_id"].nunique() == ETTH1_SERIES
        assert {"seasonal_naive", "seasonal_naive-lo-95", "seasonal_naive-hi-95"} <= set(forecasts.columns)

        # The Data page previews the file.
        page.get_by_role("link", name="Data").click()
        page.get_by_role("heading", name="Series").wait_for(state="visible")
        wait_idle(page, STEP_MS)
        shot(page, "04-data")

        # Backtest: two windows, drift against the seasonal-naive reference.
        page.get_by_role("link", name="Backtest").click()
        page.get_by_role("button", name="Run backtest", exact=True).wait_for(state="visible")
        keep_models(page, "Models", ["drift"])
        windows = page.get_by_label("Windows", exact=True)
        windows.fill("2")
        windows.press("Enter")
        wait_idle(page, STEP_MS)
        page.get_by_role("button", name="Run backtest", exact=True).click()
        report_button = page.get_by_role("button", name="Download report (HTML)")
        report_button.wait_for(state="visible", timeout=COMPUTE_MS)
        wait_idle(page)
        verdict = page.locator('[data-testid="stMain"]').locator(
            '[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentWarning"]').first.locator(
            '[data-testid="stMarkdownContainer"]')
        verdict_text = verdict.inner_text().strip()
        assert "seasonal naive" in verdict_text
        shot(page, "05-backtest")
        page.get_by_role("heading", name="Forecasts against actuals").scroll_into_view_if_needed()
        chart = page.locator(".js-plotly-plot").nth(1)  # after the ranking bars
        chart.wait_for(state="visible")
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        chart.screenshot(path=str(SCREENSHOTS / "06-backtest-chart.png"))
        with page.expect_download(timeout=STEP_MS) as download:
            report_button.click()
        html = Path(download.value.path()).read_text(encoding="utf-8")
        assert html.lstrip().lower().startswith("<!doctype html")
        assert verdict_text in html
        assert "drift" in html and "seasonal_naive" in html


def test_series_ids_with_markup_show_as_text(server, tmp_path):
    """Ids are data: an id that is a script tag is shown as those characters and never runs."""
    ids = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]
    lines = ["unique_id,ds,y"] + [f'"{series_id}",2024-01-{day:02d},{10 * k + day % 7}'
                                   for k, series_id in enumerate(ids) for day in range(1, 29)]
    path = tmp_path / "markup.csv"
    path.write_text("\n".join(lines) + "\n")
    dialogs = []
    with chromium_page() as page:
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        upload_and_forecast(page, server, path, "2 series, 56 rows, daily (D)", ["seasonal_naive"])
        page.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=COMPUTE_MS)
        wait_idle(page)
        first = min(ids)  # series are ordered by id
        page.locator('[data-testid="stMultiSelect"]').filter(has_text="Series to chart").get_by_text(
            first, exact=True).first.wait_for(state="visible")
        page.locator(".js-plotly-plot .gtitle").filter(has_text=f"Forecast: {first}").wait_for(state="visible")
        shot(page, "07-markup-ids")

        # A DataError quoting a cell that is markup: the callout shows the characters.
        bad = tmp_path / "bad_$cells$.csv"
        cells = [f"2024-01-{day:02d},{day}" for day in range(1, 29)]
        cells[3] = "2024-01-04,<img src=x onerror=alert(3)>"
        bad.write_text("ds,y\n" + "\n".join(cells) + "\n")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
        callout = page.locator('[data-testid="stMain"] [data-testid="stAlertContentError"]')
        callout.wait_for(state="visible")
        wait_idle(page, STEP_MS)
        message = callout.inner_text()
        assert "bad_$cells$.csv: column 'y' has 1 value(s) that are not numbers" in message
        assert "line 5: '<img src=x onerror=alert(3)>'" in message
        shot(page, "08-data-error")
        assert page.locator("main script").count() == 0
        assert page.locator("img[src='x']").count() == 0
    assert dialogs == []


def test_the_analog_forecast_shows_the_similar_past_periods_it_drew_on(server, tmp_path):
    """Two shops with the same (noisy) daily shape: the analog model's forecast lists the past days most like
    each shop's latest two (as many as it chose) and charts the first of them."""
    import numpy as np
    import pandas as pd

    import forecasting as fc

    rng = np.random.default_rng(0)
    day = np.r_[np.linspace(0, 1, 12), np.linspace(1, -0.5, 8), np.linspace(-0.5, 0, 4)]
    ds = pd.date_range("2024-01-01", periods=400, freq="h")
    path = tmp_path / "shops.csv"
    pd.concat([pd.DataFrame({"unique_id": f"shop{i}", "ds": ds,
                             "y": np.round(50 * i + (1 + i) * np.resize(day, 400) + rng.normal(0, 0.1, 400), 3)})
               for i in range(2)]).to_csv(path, index=False)
    # the app's defaults: h = 24, levels 80 and 95
    k = fc.Forecaster(["analog"], h=24, level=[80, 95]).fit(fc.read_table(path)).states[0][0].retriever.k
    charted = min(k, fc.CHARTED_ANALOGUES)
    with chromium_page() as page:
        upload_and_forecast(page, server, path, "2 series, 800 rows, hourly (h)", ["analog"])
        page.get_by_role("heading", name="Similar past periods").wait_for(state="visible", timeout=COMPUTE_MS)
        chart = page.locator(".js-plotly-plot").nth(1)  # after the forecast's
        chart.wait_for(state="visible")
        wait_idle(page)
        assert chart.locator(".gtitle").text_content() == "Similar past periods: shop0 (analog)"
        legend = chart.locator(".legendtext").all_text_contents()
        assert len(legend) == 1 + charted + 1 and legend[0] == "history" and legend[-1] == "analog"
        assert legend[1].startswith("#1 shop") and " to 2024-01-" in legend[1]
        table = page.locator('[data-testid="stDataFrame"] table').filter(has_text="similarity")
        assert table.get_attribute("aria-rowcount") == str(1 + k)        # the header and the k analogues
        shown = min(k, 10)
        column = {name: [table.get_by_test_id(f"glide-cell-{index}-{row}").text_content() for row in range(shown)]
                  for index, name in enumerate(["rank", "series", "source"])}
        assert column["rank"] == [str(rank) for rank in range(1, shown + 1)]
        assert set(column["series"]) <= {"shop0", "shop1"} and set(column["source"]) == {"this data"}
        page.set_viewport_size({"width": 1440, "height": 2600})  # the page scrolls inside: all of it in one shot
        page.wait_for_timeout(500)
        shot(page, "09-similar-past-periods")


def test_a_file_one_byte_over_the_stated_upload_limit_is_refused(server, tmp_path):
    """The sidebar's limit is the one the browser keeps: a file one byte larger never reaches the app."""
    with chromium_page() as page:
        page.set_default_timeout(STEP_MS)
        page.goto(server)
        page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
        page.get_by_text("Upload a file", exact=True).click()
        caption = page.locator('[data-testid="stSidebar"]').get_by_text("Files up to")
        stated = int(re.search(r"\(([\d,]+) bytes\)", caption.inner_text()).group(1).replace(",", ""))
        big = tmp_path / "big.csv"
        with open(big, "wb") as sparse:  # no data written: the browser looks at the size only
            sparse.truncate(stated + 1)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(big))
        page.get_by_text(f"File must be {stated / 1000**2:.1f}MB or smaller.").wait_for(state="visible")
        wait_idle(page, STEP_MS)
        page.get_by_text("Upload a file to start, or pick a sample dataset.").wait_for(state="visible")


def long_table(path: Path, n_series: int = 20, hours: int = 40_000) -> Path:
    """A long CSV of hourly series with a daily cycle (25 MB): a session that reads it holds well over 100 MB."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    ds = pd.date_range("2020-01-01", periods=hours, freq="h")
    cycle = 100 + 10 * np.sin(2 * np.pi * np.arange(hours) / 24)
    pd.concat([pd.DataFrame({"unique_id": f"shop{i:02d}", "ds": ds, "y": np.round(cycle + rng.normal(0, 1, hours), 3)})
               for i in range(n_series)]).to_csv(path, index=False)
    return path


def settle(condition, what: str | Callable[[], str]) -> None:
    """Until `condition()` holds, for at most SETTLE_S seconds; `what` it waits for (a callable: said as it ends)."""
    deadline = time.monotonic() + SETTLE_S
    while not condition():
        assert time.monotonic() < deadline, f"after {SETTLE_S}s, still not: {what() if callable(what) else what}"
        time.sleep(0.5)


def test_closing_the_tab_mid_forecast_stops_the_work_and_returns_the_memory(tmp_path):
    """A forecast left running when its tab closes: the workers stop, the server goes idle, and once the
    reconnect window has passed the server's memory is back near what it was before the upload."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    shops = long_table(tmp_path / "shops.csv")
    with streamlit_process("--server.disconnectedSessionTTL", str(RECONNECT_WINDOW_S)) as (url, server):
        process = psutil.Process(server.pid)

        def rss_mb() -> float:
            return process.memory_info().rss / 2**20

        def cpu_s() -> float:  # the server's and its live workers'
            return sum(p.cpu_times().user + p.cpu_times().system for p in [process, *process.children(recursive=True)])

        with chromium_page() as page:
            page.set_default_timeout(STEP_MS)
            page.goto(url)
            page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
            wait_idle(page, STEP_MS)
            baseline = rss_mb()
            upload(page, shops)
            page.get_by_text("20 series, 800,000 rows, hourly (h)").wait_for(state="visible")
            wait_idle(page, STEP_MS)
            keep_models(page, "Models", ["arima", "ets"])  # 40 fits of a minute or so: work for many minutes
            page.get_by_role("button", name="Forecast", exact=True).click()
            page.locator('[data-testid="stProgress"]').wait_for(state="visible")
            settle(lambda: process.children(recursive=True), "workers started")
            workers = process.children(recursive=True)
            held = rss_mb()
        # the tab is closed
        settle(lambda: not any(worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE for worker in workers),
               "the forecast's workers ended")

        def idle() -> bool:
            before = cpu_s()
            time.sleep(2)
            return cpu_s() - before < 0.5

        settle(idle, "the server idle")
        settle(lambda: rss_mb() < baseline + RSS_MARGIN_MB,
               lambda: f"memory back within {RSS_MARGIN_MB} MB of {baseline:.0f} MB (it held {held:.0f} MB, now {rss_mb():.0f} MB)")
        assert held > baseline + 2 * RSS_MARGIN_MB  # the session did hold memory worth returning (twice the margin)


def test_text_columns_planned_text_and_hover_in_a_browser(server, tmp_path):
    """Two shops with a flash sale on every ninth day, written in the text column 'event': the Forecast page
    reads it, takes a text typed in for the third step ahead, shows what that text does in ARIMA, and the
    chart's text marks show each timestamp's text on hover, the history's and the planned one."""
    import pandas as pd

    from tests.test_app import events_csv

    planned, past = "prices slashed for one day only", "flash sale 30% off"
    path = tmp_path / "events.csv"
    path.write_bytes(events_csv())
    last = pd.Timestamp("2024-01-01") + pd.Timedelta(days=119)
    with chromium_page() as page:
        page.set_default_timeout(STEP_MS)
        page.goto(server)
        page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
        upload(page, path)
        page.get_by_text("2 series, 240 rows, daily (D)").wait_for(state="visible")
        wait_idle(page, STEP_MS)
        keep_models(page, "Models", ["arima"])
        assert page.get_by_label("Horizon (steps)", exact=True).input_value() == "7"

        # The expander reads the text column, and the text planned at step 3 of every series.
        expander = page.locator('[data-testid="stExpander"]').filter(has_text="Text covariates")
        read = expander.locator('[data-testid="stMultiSelect"]').filter(has_text="Text columns the models read")
        read.locator(".react-aria-ComboBox [data-tag]").first.wait_for(state="visible")   # drawn after the page
        assert read.locator(".react-aria-ComboBox [data-tag]").all_inner_texts() == ["event"]
        keep_models(page, "Known in advance (planned, e.g. promotions)", ["event"])
        known = expander.locator('[data-testid="stMultiSelect"]').filter(has_text="Known in advance")
        known.locator(".react-aria-ComboBox [data-tag]").first.wait_for(state="visible")
        assert known.locator(".react-aria-ComboBox [data-tag]").all_inner_texts() == ["event"]
        expander.get_by_text("Nothing planned: the horizon carries no text.").wait_for(state="visible")
        assert expander.get_by_label("Series", exact=True).input_value() == "All series"
        step = expander.get_by_label("Step ahead", exact=True)
        step.fill("3")
        step.press("Enter")
        wait_idle(page, STEP_MS)
        text = expander.get_by_label("Text", exact=True)
        text.fill(planned)
        text.press("Enter")
        wait_idle(page, STEP_MS)
        expander.get_by_role("button", name="Add planned text").click()
        wait_idle(page, STEP_MS)
        table = expander.locator('[data-testid="stDataFrame"] table')
        table.wait_for(state="attached")
        assert table.get_attribute("aria-rowcount") == "3"   # the header and one row per series
        rows = [[table.get_by_test_id(f"glide-cell-{column}-{row}").text_content() for column in range(3)]
                for row in range(2)]
        horizon = last + pd.Timedelta(days=3)
        assert [row[0] for row in rows] == ["north", "south"]
        # (the grid's accessible cells hold the raw timestamp; the shown date format is tested in test_app.py)
        assert all(row[1].startswith(f"{horizon:%Y-%m-%d}") and row[2] == planned for row in rows), rows
        assert expander.get_by_text("Nothing planned").count() == 0
        shot(page, "10-planned-text")

        # Forecast: ARIMA reads the text, and says what the planned text does.
        page.get_by_role("button", name="Forecast", exact=True).click()
        page.get_by_role("heading", name="What the planned text does (ARIMA)").wait_for(
            state="visible", timeout=COMPUTE_MS)
        wait_idle(page)
        main = page.locator('[data-testid="stMain"]')
        assert main.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count() == 0

        # The chart marks the timestamps with text (north's): hovering a mark shows its text.
        chart = page.locator('[data-testid="stPlotlyChart"]').first.locator(".js-plotly-plot")
        chart.wait_for(state="visible")
        assert chart.locator(".gtitle").text_content() == "Forecast: north"
        assert "text" in chart.locator(".legendtext").all_text_contents()
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        marks = chart.locator(".scatterlayer .trace").last.locator("path.point")
        assert marks.count() == len(range(4, 120, 9)) + 1    # the sale days, and the planned step
        boxes = sorted((marks.nth(index).bounding_box() for index in range(marks.count())), key=lambda box: box["x"])
        hover = chart.locator(".hoverlayer")

        def hovered(box: dict, day: pd.Timestamp) -> str:
            """The hover label at the centre of a mark, once it is the label of `day`."""
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            hover.get_by_text(f"{day:%b %-d, %Y}", exact=True).wait_for(state="visible")
            return hover.text_content()

        label = hovered(boxes[-1], horizon)    # the rightmost mark: on the forecast, after the history's last day
        assert label.startswith(f"{horizon:%b %-d, %Y}") and label.endswith(f"text : event: {planned}"), label
        assert "arima : " in label and past not in label, label
        shot(page, "11-planned-text-hover")
        sale = pd.Timestamp("2024-01-01") + pd.Timedelta(days=max(i for i in range(120) if i % 9 == 4))
        label = hovered(boxes[-2], sale)       # the last sale day of the history
        assert label.startswith(f"{sale:%b %-d, %Y}") and label.endswith(f"text : event: {past}"), label
        assert planned not in label, label
        shot(page, "12-history-text-hover")


def test_the_fast_model_is_drawn_while_auto_works_and_stop_keeps_it(server):
    """The default models (auto and seasonal naive) on ETTh1: seasonal naive's chart is drawn while auto still
    compares models; Stop ends the run, keeps that chart and its table, and the page goes on working."""
    import pandas as pd

    with chromium_page() as page:
        page.set_default_timeout(STEP_MS)
        page.goto(server)
        page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
        upload(page, ETTH1)
        page.get_by_text(f"{ETTH1_SERIES} series, 121,940 rows, hourly (h)").wait_for(state="visible")
        wait_idle(page, STEP_MS)
        page.get_by_role("button", name="Forecast", exact=True).click()
        page.get_by_text("Ready: seasonal_naive; still running: auto.").wait_for(state="visible", timeout=COMPUTE_MS)
        page.locator(".js-plotly-plot").first.wait_for(state="visible")
        page.get_by_text("Fitting auto (2 of 2)", exact=False).first.wait_for(state="visible")   # still running
        shot(page, "11-first-chart-while-auto-runs")
        page.get_by_role("button", name="Stop").click()
        page.get_by_text("Stopped: the models that finished are kept").wait_for(state="visible")
        wait_idle(page, STEP_MS)
        page.get_by_text("Not run yet: auto.").wait_for(state="visible")
        page.locator(".js-plotly-plot").first.wait_for(state="visible")
        with page.expect_download(timeout=STEP_MS) as download:
            page.get_by_role("button", name="Download forecast CSV").click()
        kept = pd.read_csv(download.value.path())
        assert "seasonal_naive" in kept.columns and "auto" not in kept.columns and len(kept) == ETTH1_SERIES * 24
        # the page still works: another model forecasts, the kept one is not fitted again
        keep_models(page, "Models", ["seasonal_naive", "naive"])
        page.get_by_role("button", name="Forecast", exact=True).click()
        page.get_by_text("models seasonal_naive, naive.", exact=False).wait_for(state="visible", timeout=COMPUTE_MS)
        wait_idle(page, COMPUTE_MS)
        main = page.locator('[data-testid="stMain"]')
        assert main.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count() == 0
        assert page.get_by_text("Not run yet").count() == 0
        shot(page, "12-after-stop")

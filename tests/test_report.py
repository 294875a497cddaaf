import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs

from forecasting.api.forecaster import Forecaster
from forecasting.data.reading import read_table
from forecasting.evaluation.backtest import run_backtest
from forecasting.evaluation.plotting import backtest_figure, forecast_figure
from forecasting.evaluation.report import backtest_report, render_report
from forecasting.models import Naive
from tests.conftest import REPO

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PLOTLY_JS = get_plotlyjs()
PLOTLY_MARKER = PLOTLY_JS[:200]  # its licence header, with the version: appears once per copy
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class TaggedNaive(Naive):
    """Naive under a name that is markup: model names are data too."""

    name = "<i>naive</i>"


def weekly_frame(ids: list[str], days: int = 56, seed: int = 0) -> pd.DataFrame:
    """Daily series with a strong weekly cycle, each noisier than the one before."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=days, freq="D")
    week = np.tile([0.0, 5, 9, 4, -3, -8, -6], days // 7 + 1)[:days]
    return pd.concat([pd.DataFrame({"unique_id": series_id, "ds": ds,
                                    "y": 50 + week + rng.normal(0, 0.2 + 0.1 * i, days)})
                      for i, series_id in enumerate(ids)], ignore_index=True)


@pytest.fixture(scope="module")
def report() -> str:
    frame = weekly_frame([XSS, "a&b", "plain"])
    backtest = run_backtest(frame, ["naive", TaggedNaive()], h=7, n_windows=2, level=[80], n_jobs=1)
    return render_report(backtest, title="Weekly <b>visits</b>")


def outside_plotly_js(html: str) -> str:
    return html.replace(PLOTLY_JS, "")


def test_one_html_document_with_one_copy_of_plotly_js(report):
    assert report.startswith("<!DOCTYPE html>") and report.count("<html") == 1 and report.count("</html>") == 1
    assert report.count(PLOTLY_MARKER) == 1 and report.count("plotly.js v") == 1
    assert report.count('class="plotly-graph-div"') == 1 + 3  # the MASE bars and one chart per series
    assert "cdn.plot.ly" not in outside_plotly_js(report) and 'src="http' not in report


def test_ranking_and_verdict_name_the_reference_and_who_does_not_beat_it(report):
    verdict = ("Seasonal naive (the reference) has the lowest MASE; "
               "naive and &lt;i&gt;naive&lt;/i&gt; do not beat seasonal naive.")
    assert f'<p class="verdict">{verdict}</p>' in report
    ranking = report[report.index('<table class="ranking">'):]
    ranking = ranking[:ranking.index("</table>")]
    rows = re.findall(r'<tr class="([^"]*)">\s*<td>([^<]*)', ranking)
    assert rows[0] == ("reference best", "seasonal_naive")  # highlighted, and first
    assert {name for _, name in rows[1:]} == {"naive", "&lt;i&gt;naive&lt;/i&gt;"}
    assert ranking.count("<td>no</td>") == 2


def test_coverage_stands_beside_mase_with_its_nominal_level_and_is_marked_when_off(report):
    ranking = report[report.index('<table class="ranking">'):]
    ranking = ranking[:ranking.index("</table>")]
    headers = re.findall(r"<th>([^<]*)</th>", ranking)
    assert headers[:3] == ["model", "mase", "coverage-80 (nominal 0.80)"]
    column = headers.index("coverage-80 (nominal 0.80)")
    for row in re.findall(r"<tr class=[^>]*>(.*?)</tr>", ranking, flags=re.S):
        cells = re.findall(r"<td( class=\"off\")?>([^<]*)", row)
        marked, coverage = cells[column]
        assert bool(marked) == (abs(float(coverage) - 0.80) > 0.05 + 1e-9)
        listed = f"{cells[0][1]}: coverage-80 {float(coverage):.2f} (nominal 0.80)" in report
        assert listed == bool(marked)


def test_series_ids_model_names_and_the_title_only_appear_escaped(report):
    page = outside_plotly_js(report)
    for raw in (XSS, "<i>naive</i>", "<b>visits</b>"):
        assert raw not in page
    assert page.count(f"<td>{XSS_ESCAPED}</td>") == 2  # the data table and the per-series table
    assert "<td>a&amp;b</td>" in page and "<title>Weekly &lt;b&gt;visits&lt;/b&gt;</title>" in page
    assert '<th class="">&lt;i&gt;naive&lt;/i&gt;</th>' in page
    # inside the figures, plotly text is html-escaped before plotly's JSON escaping of < > /
    assert "Backtest: &lt;script&gt;alert(1)&lt;\\u002fscript&gt;" in page
    assert '"name":"&lt;i&gt;naive&lt;\\u002fi&gt;"' in page


def test_backtest_figure_draws_each_window_apart_with_the_chosen_band():
    frame = weekly_frame([XSS], days=42)
    forecasts = Forecaster(["naive", "seasonal_naive"], h=7, level=[80, 95], n_jobs=1).cross_validation(frame, 2)
    figure = backtest_figure(frame, forecasts, XSS, level=95, context=10)
    names = [trace.name for trace in figure.data]
    assert names == ["actual", "naive 95%", "naive", "seasonal_naive 95%", "seasonal_naive"]
    assert len(figure.data[0].x) == 10 + 14  # context before the first cutoff, then both windows
    line = figure.data[2]
    assert len(line.x) == 2 * (7 + 1) and line.x[7] is None and line.y[15] is None  # one gap after each window
    assert list(line.y[:7]) == forecasts["naive"].iloc[:7].tolist()
    band = figure.data[1]
    assert list(band.y[:7]) == forecasts["naive-hi-95"].iloc[:7].tolist()
    assert figure.layout.title.text == "Backtest: &lt;script&gt;alert(1)&lt;/script&gt; (2 cutoffs, dotted)"
    assert [trace.name for trace in backtest_figure(frame, forecasts, XSS).data][1] == "naive 80%"
    with pytest.raises(ValueError, match="no backtest forecasts for series 'nope'"):
        backtest_figure(frame, forecasts, "nope")


def test_forecast_figure_escapes_titles_menu_labels_and_trace_names():
    frame = weekly_frame([XSS, "a&b"], days=28)
    forecasts = Forecaster([TaggedNaive()], h=7, n_jobs=1).fit(frame).predict()
    figure = forecast_figure(frame, forecasts)
    assert figure.layout.title.text == f"Forecast: {XSS_ESCAPED}"
    assert [button.label for button in figure.layout.updatemenus[0].buttons] == [XSS_ESCAPED, "a&amp;b"]
    assert {trace.name for trace in figure.data} == {"history", "&lt;i&gt;naive&lt;/i&gt;"}


def test_many_series_show_the_fifty_worst_and_say_so(tmp_path):
    # The same weekly series 55 times, each shifted up by more than the last in its final week:
    # the best model's MASE grows with the series number.
    days = 28
    base = weekly_frame(["base"], days=days)["y"].to_numpy()
    shift = np.r_[np.zeros(days - 7), np.ones(7)]
    frame = pd.concat([pd.DataFrame({"unique_id": f"s{i:02d}", "ds": pd.date_range("2024-01-01", periods=days),
                                     "y": base + (1 + 0.1 * i) * shift}) for i in range(55)], ignore_index=True)
    path = tmp_path / "deep" / "report.html"
    html = backtest_report(frame, ["naive"], h=7, n_windows=1, path=path, n_jobs=1)
    assert path.read_text(encoding="utf-8") == html
    assert "Showing the 50 worst of 55 series." in html and "The first 50 of 55 series." in html
    per_series = html[html.index('<table class="per-series">'):]
    assert re.findall(r"<tr><td>(s\d\d)</td>", per_series) == [f"s{i:02d}" for i in range(54, 4, -1)]
    assert html.count('class="plotly-graph-div"') == 1 + 6


def test_what_reading_decided_is_in_the_report(tmp_path):
    days = pd.date_range("2024-01-01", periods=28)
    values = ["-" if day in (10, 17) else str(50 + day % 7) for day in range(28)]
    path = tmp_path / "visits.csv"
    path.write_text("ds,<b>visits</b>\n" + "".join(f"{d.date()},{v}\n" for d, v in zip(days, values)))
    html = backtest_report(read_table(path), ["naive"], h=7, n_windows=1, n_jobs=1)
    notes = html[html.index("How the file was read:"):html.index("Repairs made to the data:")]
    assert "column &#39;&lt;b&gt;visits&lt;/b&gt;&#39;: 2 cell(s) written &#39;-&#39;" in notes


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_report_renders_offline_in_chromium_without_running_the_script_id(report, tmp_path):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(report, encoding="utf-8")
    figures = report.count('class="plotly-graph-div"')
    requests, dialogs, errors = [], [], []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            requests.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.route("**/*", only_files)
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(path.as_uri())
            page.wait_for_function("n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
                                   arg=figures)
            rendered = page.locator(".js-plotly-plot:has(.main-svg)").count()
            id_cells = page.get_by_role("cell", name=XSS, exact=True).count()
            titles = page.locator(".gtitle").all_text_contents()
            screenshots = REPO / "out" / "screenshots"
            screenshots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshots / "report.png"), full_page=True)
        finally:
            browser.close()
    assert rendered == figures == 4
    assert requests == [] and dialogs == [] and errors == []
    assert id_cells == 2  # the id shows as text in the data and per-series tables
    assert f"Backtest: {XSS} (2 cutoffs, dotted)" in titles and "Backtest: a&b (2 cutoffs, dotted)" in titles


def test_where_seasonal_naive_is_exact_the_report_ranks_on_smape_and_shows_no_undefined_numbers():
    ds = pd.date_range("2024-01-01", periods=42, freq="D")
    frame = pd.DataFrame({"unique_id": "exact", "ds": ds, "y": np.tile([20.0, 25, 29, 24, 17, 12, 14], 6)})
    backtest = run_backtest(frame, ["naive"], h=7, n_windows=2, n_jobs=1)
    html = render_report(backtest)
    page = outside_plotly_js(html)
    assert f'<p class="verdict">{backtest.verdict}</p>' in page.replace("&#39;", "'")
    assert backtest.verdict.startswith("MASE is undefined on this data: series exact repeats exactly every 7 steps")
    assert "Models ordered by sMAPE (lower is better)" in page
    ranking = page[page.index('<table class="ranking">'):]
    ranking = ranking[:ranking.index("</table>")]
    assert not re.search(r"\bnan|\binf", ranking, flags=re.I)
    rows = re.findall(r'<tr class="[^"]*">(.*?)</tr>', ranking, flags=re.S)
    assert [re.findall(r"<td[^>]*>([^<]*)", row)[1] for row in rows] == ["–", "–"]  # MASE, undefined
    assert "sMAPE per model (lower is better" in page

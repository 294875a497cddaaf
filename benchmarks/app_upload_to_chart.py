"""Browser time from upload to chart: a file into the running app, default models (auto and seasonal naive).

A real `streamlit run app/main.py` server and Debian's chromium (Playwright), as in
tests/test_e2e_browser.py. The clock starts when the file is set on the uploader; the split shows reading
(upload until the sidebar reports the data), the first chart (pressing Forecast with the default models and
horizon until a forecast chart is drawn: the fastest model's, while the others run) and auto's result (until the
run has finished and auto's choice is shown).

    .venv/bin/python benchmarks/app_upload_to_chart.py [--repeat N] [--file PATH | --m4-hourly] [--auto-budget S]

--m4-hourly writes M4 Hourly's 414 training series as one long file (unique_id, ds, y; hours from 2000-01-01)
and uploads that.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.common import DEFAULT_MODELS  # noqa: E402
from tests.test_e2e_browser import ETTH1, chromium_page, streamlit_server, wait_idle  # noqa: E402

TIMEOUT_MS = 900_000


def one_run(url: str, path: Path, auto_budget: int) -> tuple[float, float, float, float]:
    """(upload to data read, data read to first chart, upload to first chart, upload to auto's result) in
    seconds, in a fresh browser session."""
    with chromium_page() as page:
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
        page.get_by_text("Upload a file", exact=True).click()
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        uploader.wait_for(state="attached")
        wait_idle(page, TIMEOUT_MS)
        start = time.perf_counter()
        uploader.set_input_files(str(path))
        page.get_by_text(f"{path.name}:", exact=False).first.wait_for(state="visible")  # the page caption
        wait_idle(page, TIMEOUT_MS)
        read = time.perf_counter()
        if auto_budget:
            budget = page.get_by_role("spinbutton", name="Time auto may take (s, 0 = no limit)")
            budget.fill(str(auto_budget))
            budget.press("Enter")
            wait_idle(page, TIMEOUT_MS)
        page.get_by_role("button", name="Forecast", exact=True).click()
        page.locator(".js-plotly-plot").first.wait_for(state="visible")
        first = time.perf_counter()
        page.get_by_text("auto chose ", exact=False).first.wait_for(state="visible")
        wait_idle(page, TIMEOUT_MS)
        done = time.perf_counter()
    return read - start, first - read, first - start, done - start


def m4_hourly_file() -> Path:
    """M4 Hourly's training series as one long CSV in out/ (made once)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from m4 import load_m4
    path = REPO / "out" / "m4_hourly_long.csv"
    if not path.exists():
        frame = load_m4("train", None)
        frame["ds"] = pd.Timestamp("2000-01-01") + pd.to_timedelta(frame.pop("step"), unit="h")
        path.parent.mkdir(exist_ok=True)
        frame[["unique_id", "ds", "y"]].to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--file", type=Path, default=ETTH1)
    parser.add_argument("--m4-hourly", action="store_true")
    parser.add_argument("--auto-budget", type=int, default=0, help="auto's time budget set on the page (s; 0: none, "
                        "the default); the time to set it counts in 'data read -> first chart'")
    args = parser.parse_args()
    if args.m4_hourly:
        args.file = m4_hourly_file()
    if not args.file.exists():
        raise SystemExit(f"{args.file} is absent")
    with streamlit_server() as url:
        runs = [one_run(url, args.file, args.auto_budget) for _ in range(args.repeat)]
    command = "python benchmarks/app_upload_to_chart.py" + (f" --repeat {args.repeat}" if args.repeat > 1 else "") \
        + (" --m4-hourly" if args.m4_hourly else "") \
        + (f" --auto-budget {args.auto_budget}" if args.auto_budget else "")
    rows = [
        ("command", command),
        ("machine", f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} cores"),
        ("date (UTC)", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")),
        ("data", f"{args.file.name} ({args.file.stat().st_size / 1e6:.1f} MB)"),
        ("models (app defaults)", ", ".join(DEFAULT_MODELS) + "; horizon one season; levels 80, 95"
         + (f"; auto's time budget {args.auto_budget} s" if args.auto_budget else "")),
        ("runs", str(len(runs))),
    ]
    for name, index in (("upload -> data read (s)", 0), ("data read -> first chart (s)", 1),
                        ("upload -> first chart (s)", 2), ("upload -> auto's result (s)", 3)):
        values = [run[index] for run in runs]
        shown = f"{statistics.median(values):.1f}"
        if len(values) > 1:
            shown += f" (min {min(values):.1f}, max {max(values):.1f})"
        rows.append((name, shown))
    width = max(len(name) for name, _ in rows)
    print(f"| {'':{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:{width}} | {value} |")


if __name__ == "__main__":
    main()

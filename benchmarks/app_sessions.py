"""Five browser sessions at once against one alone: each uploads ETTh1 and forecasts it, on one server.

A real `streamlit run app/main.py` server (started as tests/test_e2e_browser.py does, MALLOC_ARENA_MAX=2
as `make run`) and Debian's chromium through Playwright, one browser context per session. Each session
opens the app, uploads ETTh1 (17,420 hours x 7 series) and presses Forecast with the app's default
models; its time runs from setting the file on the uploader until the forecast chart is drawn. First one
session alone, then five together. The server's resident memory is sampled throughout: before the
sessions (the app loaded once), at its peak (the server process; its forecasting workers apart), and
after every session has ended and been closed (the reconnect window, server.disconnectedSessionTTL,
passed).

    .venv/bin/python benchmarks/app_sessions.py [--sessions 5] [--file PATH] [--reconnect-window 120]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, ETTH1, streamlit_process  # noqa: E402

TIMEOUT_MS = 1_800_000
SAMPLE_S = 0.25
SETTLE_AFTER_S = 30  # past the reconnect window, for the closes to run and the memory to be returned


class MemorySampler(threading.Thread):
    """The server's RSS and its workers' every SAMPLE_S seconds; keeps the peaks."""

    def __init__(self, process: psutil.Process):
        super().__init__(daemon=True)
        self.process, self.peak_server, self.peak_workers = process, 0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_S):
            self.peak_server = max(self.peak_server, rss(self.process))
            workers = 0
            for child in self.process.children(recursive=True):
                try:
                    workers += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak_workers = max(self.peak_workers, workers)


def rss(process: psutil.Process) -> int:
    return process.memory_info().rss


async def wait_idle(page) -> None:
    """Until the app has finished its rerun (Streamlit shows a status widget while running)."""
    await page.wait_for_timeout(300)
    await page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=TIMEOUT_MS)


async def open_app(browser, url: str):
    context = await browser.new_context(viewport={"width": 1440, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(url)
    await page.get_by_role("button", name="Forecast", exact=True).wait_for(state="visible")
    await wait_idle(page)
    return context, page


async def one_session(browser, url: str, path: Path) -> float:
    """Seconds from setting `path` on the uploader until the forecast chart is drawn, in a new session."""
    context, page = await open_app(browser, url)
    try:
        await page.get_by_text("Upload a file", exact=True).click()
        uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        await uploader.wait_for(state="attached")
        await wait_idle(page)
        start = time.perf_counter()
        await uploader.set_input_files(str(path))
        await page.get_by_text(f"{path.name}:", exact=False).first.wait_for(state="visible")  # the page caption
        await wait_idle(page)
        await page.get_by_role("button", name="Forecast", exact=True).click()
        await page.locator(".js-plotly-plot").first.wait_for(state="visible")
        return time.perf_counter() - start
    finally:
        await context.close()  # the session ends: its memory goes when the reconnect window has passed


async def measure(url: str, process: psutil.Process, path: Path, sessions: int) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context, _ = await open_app(browser, url)  # the app's modules loaded once, as on a warm server
            await context.close()
            before = rss(process)
            sampler = MemorySampler(process)
            sampler.start()
            alone = await one_session(browser, url, path)
            together = await asyncio.gather(*[one_session(browser, url, path) for _ in range(sessions)])
            sampler.stopped.set()
        finally:
            await browser.close()
    return {"before": before, "alone": alone, "together": together, "peak_server": sampler.peak_server,
            "peak_workers": sampler.peak_workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--file", type=Path, default=ETTH1)
    parser.add_argument("--reconnect-window", type=int, default=120,
                        help="server.disconnectedSessionTTL in seconds (Streamlit's default: 120)")
    args = parser.parse_args()
    if not args.file.exists():
        raise SystemExit(f"{args.file} is absent")
    with streamlit_process("--server.disconnectedSessionTTL", str(args.reconnect_window)) as (url, server):
        process = psutil.Process(server.pid)
        result = asyncio.run(measure(url, process, args.file, args.sessions))
        ended = time.monotonic()
        time.sleep(args.reconnect_window + SETTLE_AFTER_S)
        after = rss(process)
        waited = time.monotonic() - ended

    mb = 2**20
    together = result["together"]
    print(f"Command: python benchmarks/app_sessions.py --sessions {args.sessions} --file {args.file.name} "
          f"--reconnect-window {args.reconnect_window}")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB "
          f"memory, no GPU used; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print()
    print("| sessions | upload -> chart, each (s) | mean (s) | vs one alone |")
    print("|---|---|---|---|")
    print(f"| 1 | {result['alone']:.1f} | {result['alone']:.1f} | 1.00x |")
    print(f"| {args.sessions} at once | {', '.join(f'{t:.1f}' for t in sorted(together))} | "
          f"{statistics.mean(together):.1f} | {statistics.mean(together) / result['alone']:.2f}x |")
    print()
    print("| server memory (RSS) | MB |")
    print("|---|---|")
    print(f"| before (app loaded once) | {result['before'] / mb:.0f} |")
    print(f"| peak, server process | {result['peak_server'] / mb:.0f} |")
    print(f"| peak, its forecasting workers together | {result['peak_workers'] / mb:.0f} |")
    print(f"| after every session ended ({waited:.0f} s later) | {after / mb:.0f} |")


if __name__ == "__main__":
    main()

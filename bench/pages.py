"""How soon the dashboard's pages are interactive, measured in a real browser (headless Chromium).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialmetrics_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/pages.py [--runs 5] [--json bench/results/pages.json]

Serves the product with gunicorn (production settings, static files collected and served by
whitenoise) on a free loopback port and opens, in Debian's Chromium driven by Playwright:
- the overview (`/`): interactive when the summary cards show their figures, the per-platform
  table has its rows and the account list its first page;
- an account page: interactive when the followers chart is drawn and the table of the latest
  snapshots is filled.
Each page is timed from navigation start (the browser's own clock) with the server's response
cache emptied first ("cold": every API call is built from the database) and then again with it
warm (what the second person of the morning sees). The target is 1.5 s on the 10,000-account data
set. Prints a table and, with --json, writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import configure_environment, free_port, stop_process  # noqa: E402
from tests.e2e.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402  (the browser tests' Chromium)

TARGET_SECONDS = 1.5
OVERVIEW_READY = """() => {
  const cards = document.querySelector('#totals[aria-busy="false"] .card[data-metric="followers"]');
  const platforms = document.querySelectorAll('#by-platform tbody tr').length;
  const rows = document.querySelectorAll('#accounts .account-row a').length;
  return cards && platforms > 0 && rows > 0 ? performance.now() : false;
}"""
ACCOUNT_READY = """() => {
  const canvas = document.getElementById('followers-chart');
  const chart = window.Chart && canvas && Chart.getChart(canvas);
  const rows = document.querySelectorAll('#snapshots-table tbody tr').length;
  return chart && rows > 0 ? performance.now() : false;
}"""


def start_server(tmp: Path) -> tuple[str, subprocess.Popen]:
    env = {**os.environ}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    port = free_port()
    log = (tmp / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "socialmetrics.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                return url, process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process(process, group=True)
    raise RuntimeError("gunicorn did not start")


def clear_server_cache() -> None:
    from socialmetrics.cache import clear_responses

    clear_responses()


def measure(page, url: str, ready: str) -> float:
    page.goto(url, wait_until="commit")
    handle = page.wait_for_function(ready, timeout=60_000)
    return handle.json_value() / 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time to interactive of the dashboard's pages.")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    configure_environment()
    import django

    django.setup()
    from playwright.sync_api import sync_playwright

    from snapshots.models import AccountLatest

    sample = AccountLatest.objects.select_related("account").order_by("-followers").first()
    if sample is None:
        print("No data: generate the benchmark data set first (bench/generate.py).", file=sys.stderr)
        return 1
    account_path = f"/accounts/{sample.account.platform}/{sample.account.handle}/"
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url, server = start_server(Path(tmp))
        try:
            with sync_playwright() as p:
                executable = chromium_path()
                if executable is None:
                    print("No Chromium here: install Debian's chromium package.", file=sys.stderr)
                    return 1
                browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                try:
                    for name, path, ready in (
                        ("overview", "/", OVERVIEW_READY),
                        ("account page", account_path, ACCOUNT_READY),
                    ):
                        for state in ("cold", "warm"):
                            times = []
                            for _ in range(args.runs):
                                if state == "cold":
                                    clear_server_cache()
                                context = browser.new_context(viewport={"width": 1366, "height": 768})
                                page = context.new_page()
                                if state == "warm":
                                    measure(page, url + path, ready)  # fills the server's cache
                                times.append(measure(page, url + path, ready))
                                context.close()
                            results[f"{name} ({state})"] = {
                                "path": path,
                                "p50_s": round(statistics.median(times), 3),
                                "max_s": round(max(times), 3),
                                "runs": len(times),
                                "target_s": TARGET_SECONDS,
                                "met": statistics.median(times) <= TARGET_SECONDS,
                            }
                finally:
                    browser.close()
        finally:
            stop_process(server, group=True)
    print(f"{'page':<24} {'p50':>8} {'max':>8}  target {TARGET_SECONDS} s")
    for name, figure in results.items():
        mark = "PASS" if figure["met"] else "MISS"
        print(f"{name:<24} {figure['p50_s']:>7.3f}s {figure['max_s']:>7.3f}s  {mark}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"pages": results, "account": account_path}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

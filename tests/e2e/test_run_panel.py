"""The overview's collection panel in Chromium: staff pick the platforms of a run, follow its
progress and skip reasons, and cancel it; every open overview (another staff tab, a reader's)
shows the latest run, whoever started it, the command line included."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from scraping import runner
from scraping.collectors.simulated import SimulatedCollector
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect

from .browser import number, screenshot, sign_in

pytestmark = pytest.mark.e2e


class SlowSimulated(SimulatedCollector):
    """The simulated collector at about 3 accounts a second: a run to watch and to cancel."""

    batch_size = 1

    def collect(self, accounts):
        time.sleep(0.3)
        return super().collect(accounts)


@pytest.fixture
def slow_runs(monkeypatch):
    """Simulated runs of the live server (a thread of this process) at a pace a person can follow."""
    monkeypatch.setattr(runner, "SimulatedCollector", SlowSimulated)
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.3)


def test_staff_pick_the_platforms_of_a_run(pages, staff_user):
    page = pages.new()
    sign_in(page, "editor")
    form = page.locator("#run-form")
    form.get_by_label("X", exact=True).check()
    form.get_by_label("Instagram").check()
    page.get_by_role("button", name="Run collection").click()
    page.wait_for_selector('#run-progress[data-status="completed"]', timeout=60_000)
    run = CollectionRun.objects.get()
    assert sorted(run.options["platforms"]) == ["instagram", "x"]
    assert run.accounts_total == 18  # the demo's 12 X and 6 Instagram accounts, not its 12 on Facebook
    assert page.locator("#run-fraction").inner_text() == f"{number(page, 18)} / {number(page, 18)}"
    assert "X, Instagram" in page.locator("#run-about").inner_text()
    assert page.get_by_role("button", name="Run collection").is_enabled()


def test_skip_reasons_are_shown_grouped_with_their_counts(pages, staff_user, settings):
    settings.X_BEARER_TOKEN = settings.META_ACCESS_TOKEN = ""  # real mode without credentials: no request
    page = pages.new()
    sign_in(page, "editor")
    page.select_option("#run-mode", "real")
    page.get_by_role("button", name="Run collection").click()
    page.wait_for_selector('#run-progress[data-status="failed"]', timeout=60_000)  # nothing collected
    page.wait_for_selector("#run-skips:not([hidden])")
    items = page.locator("#run-skip-reasons li")
    assert items.count() == 3
    first = items.nth(0)
    assert first.get_attribute("data-platform") in ("x", "facebook")
    assert first.locator(".skip-count").inner_text() == f"{number(page, 12)} skipped"
    texts = page.locator("#run-skip-reasons").inner_text()
    assert "X_BEARER_TOKEN is not set" in texts
    assert "META_ACCESS_TOKEN is not set" in texts
    assert page.locator("#run-skipped").inner_text() == number(page, 30)
    screenshot(page, "run-skip-reasons")


def test_staff_cancel_a_run_and_keep_what_it_collected(pages, staff_user, slow_runs):
    page = pages.new()
    sign_in(page, "editor")
    page.get_by_role("button", name="Run collection").click()
    page.wait_for_selector('#run-progress[data-status="running"]')
    page.wait_for_function("() => document.getElementById('run-bar').value > 0")  # some written
    assert page.get_by_role("button", name="Running…").is_disabled()
    assert page.locator("#run-eta").inner_text() != "—"
    assert page.locator("#run-platforms-table tbody tr").count() >= 1  # per platform, while it runs
    screenshot(page, "run-progress")
    page.get_by_role("button", name="Cancel run").click()
    page.wait_for_selector('#run-progress[data-status="cancelled"]', timeout=30_000)
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.CANCELLED
    assert 0 < run.accounts_done < 30
    assert (
        page.locator("#run-status")
        .inner_text()
        .startswith("The run was cancelled by editor: cancelled after")
    )
    assert (
        f"the {number(page, run.accounts_done)} accounts it collected are kept"
        in page.locator("#run-message").inner_text()
    )
    assert page.get_by_role("button", name="Cancel run").is_hidden()
    assert page.get_by_role("button", name="Run collection").is_enabled()
    screenshot(page, "run-cancelled")


def test_every_open_overview_shows_the_latest_run_whoever_started_it(pages, staff_user, slow_runs):
    starter, other_tab = pages.new(), pages.new()
    sign_in(starter, "editor")
    sign_in(other_tab, "editor")
    reader = pages.new()
    reader.goto("/")  # anonymous: the run, read only
    reader.wait_for_selector("#run-none:not([hidden])")
    assert reader.locator("#run-form, #run-cancel").count() == 0

    starter.get_by_role("button", name="Run collection").click()
    starter.wait_for_selector('#run-progress[data-status="running"]')
    job = starter.locator("#run-progress").get_attribute("data-job-id")
    for page in (other_tab, reader):  # within their idle look (5 s)
        page.wait_for_selector(f'#run-progress[data-job-id="{job}"][data-status="running"]', timeout=15_000)
        assert page.locator("#run-status").inner_text().startswith("Collecting")
    other_tab.get_by_role("button", name="Cancel run").click()  # cancelled from another tab
    for page in (starter, reader):
        page.wait_for_selector('#run-progress[data-status="cancelled"]', timeout=15_000)
    assert "by editor" in starter.locator("#run-status").inner_text()
    assert "by editor" not in reader.locator("#run-status").inner_text()  # readers are not told who
    screenshot(reader, "run-seen-by-a-reader")

    # A run from the command line (here: its function, on a thread) shows in the open pages too.
    done = threading.Event()

    def from_the_command_line():
        try:
            collect(options=RunOptions())
        finally:
            connection.close()
            done.set()

    threading.Thread(target=from_the_command_line, daemon=True).start()
    for page in (starter, reader):
        page.wait_for_selector(
            f'#run-progress:not([data-job-id="{job}"])[data-status="running"]', timeout=15_000
        )
    assert done.wait(60)
    reader.wait_for_selector('#run-progress[data-status="completed"]', timeout=15_000)
    assert reader.locator("#run-fraction").inner_text() == f"{number(reader, 30)} / {number(reader, 30)}"

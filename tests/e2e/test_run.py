"""Staff start a simulated collection run and watch it to the end; the overview then refreshes."""

from __future__ import annotations

import pytest

from .browser import screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_staff_start_a_simulated_run_and_watch_it_finish(pages, staff_user):
    page = pages.new()
    sign_in(page, "editor")
    page.wait_for_function("() => document.body.dataset.refreshedAt")
    before = page.evaluate("document.body.dataset.refreshedAt")

    page.select_option("#run-mode", "simulated")
    page.get_by_role("button", name="Run collection").click()
    page.wait_for_selector("#run-progress:not([hidden])")
    page.wait_for_selector('#run-progress[data-status="completed"]', timeout=90_000)
    assert page.locator("#run-fraction").inner_text() == "30 / 30"
    assert page.locator("#run-bar").evaluate("bar => bar.value === bar.max")
    assert page.locator("#run-status").inner_text().startswith("Completed")
    assert page.locator("#run-failed").inner_text() == "0"
    # The overview refreshed.
    page.wait_for_function(f"() => document.body.dataset.refreshedAt !== '{before}'")
    assert page.get_by_role("button", name="Run collection").is_enabled()
    screenshot(page, "run-finished")


def test_a_refused_start_follows_the_run_that_is_going(pages, staff_user):
    from scraping.runner import RunOptions, run_start

    page = pages.new()
    sign_in(page, "editor")
    page.wait_for_selector("#run-none:not([hidden])")  # the panel has looked: no run yet
    going, lock = run_start(options=RunOptions())  # then another run starts, before its next look
    try:
        # Submitted as the button does (should the panel look meanwhile, it disables the button).
        page.locator("#run-form").evaluate("form => form.requestSubmit()")
        page.wait_for_selector(f'#run-progress[data-job-id="{going.pk}"]')
        assert f"Following run {going.pk}" in page.locator("#run-message").inner_text()
        assert page.locator("#run-status").inner_text().startswith("Collecting")
        assert page.get_by_role("button", name="Running…").is_disabled()
    finally:
        lock.release()

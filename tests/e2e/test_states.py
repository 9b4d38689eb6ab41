"""Loading, empty and error states: never a blank panel."""

from __future__ import annotations

import json

import pytest

from .browser import screenshot

pytestmark = pytest.mark.e2e


def test_an_empty_site_says_how_to_add_accounts(empty_pages):
    page = empty_pages.new()
    page.goto("/")
    empty = page.wait_for_selector("#empty-state:not([hidden])")
    text = empty.inner_text()
    assert "No accounts are tracked yet" in text
    assert "seed_demo" in text
    assert "import_accounts" in text
    screenshot(page, "overview-empty")


def test_a_failing_call_says_what_failed_and_offers_a_retry(pages):
    page = pages.new()
    failing = {"on": True}

    def totals(route):
        if failing["on"]:
            body = {
                "error": {
                    "code": "SERVER_ERROR",
                    "message": "The server failed to answer; the error was logged.",
                }
            }
            route.fulfill(status=500, content_type="application/json", body=json.dumps(body))
        else:
            route.continue_()

    page.route("**/api/summary/totals*", totals)
    page.route("**/api/history/**", lambda route: route.abort("connectionrefused"))
    page.goto("/")
    alert = page.wait_for_selector("#totals .alert-error")
    assert "Could not load the totals." in alert.inner_text()
    assert "The server failed to answer" in alert.inner_text()
    # The other panels are not held back by the failing one.
    page.wait_for_selector("#accounts .account-row a")
    screenshot(page, "overview-error")

    failing["on"] = False
    page.locator("#totals").get_by_role("button", name="Retry").click()
    page.wait_for_selector('#totals .card[data-metric="followers"]')

    page.goto("/accounts/x/healthdept/")
    chart_error = page.wait_for_selector("#followers-box .alert-error")
    assert "Could not load the followers history." in chart_error.inner_text()
    assert "could not be reached" in chart_error.inner_text()
    assert chart_error.query_selector("button")
    screenshot(page, "account-error")


ABORT_WHILE_READING = """async () => {
  const { request } = await import('/static/js/api.js');
  const realFetch = window.fetch;
  // A JSON answer whose body is still arriving when the reader moves on (a new range picked).
  window.fetch = async (url, options) => new Response(new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"dates": ['));
      options.signal.addEventListener('abort', () => controller.error(new TypeError('Failed to fetch')));
    },
  }), { headers: { 'Content-Type': 'application/json' } });
  const aborter = new AbortController();
  try {
    const pending = request('/api/history/x/healthdept', { signal: aborter.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    aborter.abort();
    return `resolved with ${JSON.stringify(await pending)}`;
  } catch (error) {
    return error.name;
  } finally {
    window.fetch = realFetch;
  }
}"""


def test_a_request_aborted_while_its_body_arrives_is_dropped_not_read_as_empty(pages):
    """A panel whose request is replaced mid-answer ignores the old one instead of drawing nothing."""
    page = pages.new()
    page.goto("/accounts/x/healthdept/")
    page.wait_for_function("() => document.getElementById('main').dataset.chartRange === '90'")
    assert page.evaluate(ABORT_WHILE_READING) == "AbortError"

"""Date ranges on the account and compare pages: From/To pickers beside the preset buttons, kept in
the address (a reload or a shared link shows the same range; Back returns to the range before), the
charts and the range's figures following it, and other panels told by a "socialmetrics:range" event."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import Max

from snapshots.models import Snapshot

from .browser import api, screenshot

pytestmark = pytest.mark.e2e

LABELS = "(selector) => Chart.getChart(document.querySelector(selector)).data.labels"
RECORD_EVENTS = """() => {
  window.rangeEvents = [];
  document.addEventListener('socialmetrics:range', (event) => window.rangeEvents.push(event.detail));
}"""


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def pick(page, prefix: str, start: dt.date, end: dt.date) -> None:
    """Type both days into the pickers, as a reader does (each change applies at once)."""
    page.fill(f"#{prefix}-to", end.isoformat())
    page.fill(f"#{prefix}-from", start.isoformat())


def wait_for_range(page, key: str) -> None:
    page.wait_for_function("(key) => document.getElementById('main').dataset.chartRange === key", arg=key)


def range_figures(history: dict) -> tuple[int | None, int | None]:
    """(followers on the range's last day with a count, their change since its first such day)."""
    known = [v for v in history["followers"] if v is not None]
    return (known[-1] if known else None), (known[-1] - known[0] if len(known) > 1 else None)


def test_the_account_page_follows_from_and_to_in_the_address(pages):
    latest = Snapshot.objects.filter(account__platform="x", account__handle="healthdept").aggregate(
        day=Max("date")
    )["day"]
    start, end = latest - dt.timedelta(days=20), latest - dt.timedelta(days=10)
    page = pages.new()
    page.goto("/accounts/x/healthdept/")
    wait_for_range(page, "90")
    page.evaluate(RECORD_EVENTS)
    # The preset's days show in the pickers.
    assert page.input_value("#range-from") == (latest - dt.timedelta(days=89)).isoformat()
    assert page.input_value("#range-to") == latest.isoformat()
    default_change = page.locator("#range-change").get_attribute("value")

    pick(page, "range", start, end)
    key = f"{start}/{end}"
    wait_for_range(page, key)
    assert query(page) == {"from": [start.isoformat()], "to": [end.isoformat()]}
    assert page.locator('#range-buttons [aria-pressed="true"]').count() == 0
    history = api(page, f"/api/history/x/healthdept?from={start}&to={end}")
    assert page.evaluate(LABELS, "#followers-chart") == history["dates"]
    assert (history["dates"][0], history["dates"][-1]) == (start.isoformat(), end.isoformat())
    followers, change = range_figures(history)
    assert page.locator("#range-followers").get_attribute("value") == str(followers)
    assert page.locator("#range-change").get_attribute("value") == str(change)
    assert page.locator("#range-change").get_attribute("value") != default_change
    events = page.evaluate("() => window.rangeEvents")
    assert events[-1] == {"range": "custom", "from": start.isoformat(), "to": end.isoformat()}
    screenshot(page, "account-range-1366x768")

    # Reload: the same range, from the address alone.
    page.reload()
    wait_for_range(page, key)
    assert page.input_value("#range-from") == start.isoformat()
    assert page.input_value("#range-to") == end.isoformat()
    assert page.evaluate(LABELS, "#followers-chart") == history["dates"]

    # Back: the 90 days before the pickers were touched (both days picked were one step).
    page.go_back()
    wait_for_range(page, "90")
    assert query(page) == {}
    assert page.locator('#range-buttons [data-range="90"]').get_attribute("aria-pressed") == "true"
    assert page.input_value("#range-from") == (latest - dt.timedelta(days=89)).isoformat()
    page.go_forward()
    wait_for_range(page, key)

    # A preset is a step of its own, in the address too.
    page.locator('#range-buttons [data-range="30"]').click()
    wait_for_range(page, "30")
    assert query(page) == {"range": ["30"]}
    assert len(page.evaluate(LABELS, "#followers-chart")) == 30
    page.go_back()
    wait_for_range(page, key)


def test_a_range_that_cannot_be_is_refused_beside_the_pickers(pages):
    page = pages.new()
    page.goto("/accounts/x/healthdept/")
    wait_for_range(page, "90")
    to = page.input_value("#range-to")
    later = (dt.date.fromisoformat(to) + dt.timedelta(days=5)).isoformat()
    requests = []
    page.on("request", lambda request: "/api/history/" in request.url and requests.append(request.url))
    page.fill("#range-from", later)
    problem = page.locator("#range-problem")
    problem.wait_for()
    assert problem.inner_text() == "From must not be after To."
    assert page.get_attribute("#range-from", "aria-invalid") == "true"
    assert requests == []
    assert query(page) == {}
    assert page.evaluate("() => document.getElementById('main').dataset.chartRange") == "90"


def test_the_compare_page_follows_from_and_to_in_the_address(pages):
    newest = Snapshot.objects.aggregate(day=Max("date"))["day"]  # where the compare page's presets end
    start, end = newest - dt.timedelta(days=40), newest - dt.timedelta(days=25)
    page = pages.new()
    page.goto("/compare/?a=x:healthdept&a=facebook:healthdept")
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.range === '90'")

    pick(page, "compare", start, end)
    key = f"{start}/{end}"
    page.wait_for_function("(key) => document.getElementById('compare-chart').dataset.range === key", arg=key)
    assert query(page) == {
        "a": ["x:healthdept", "facebook:healthdept"],
        "from": [start.isoformat()],
        "to": [end.isoformat()],
    }
    labels = page.evaluate(LABELS, "#compare-chart")
    assert (labels[0], labels[-1]) == (start.isoformat(), end.isoformat())
    for key_, (platform, handle) in {
        "x:healthdept": ("x", "healthdept"),
        "facebook:healthdept": ("facebook", "healthdept"),
    }.items():
        history = api(page, f"/api/history/{platform}/{handle}?from={start}&to={end}")
        followers, change = range_figures(history)
        item = page.locator(f'#compare-changes li[data-key="{key_}"]')
        assert item.get_attribute("data-followers") == str(followers)
        assert item.get_attribute("data-change") == str(change)
    screenshot(page, "compare-range-1366x768")

    page.reload()
    page.wait_for_function("(key) => document.getElementById('compare-chart').dataset.range === key", arg=key)
    assert page.input_value("#compare-from") == start.isoformat()
    assert page.evaluate(LABELS, "#compare-chart") == labels

    page.go_back()
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.range === '90'")
    assert query(page) == {"a": ["x:healthdept", "facebook:healthdept"]}
    assert page.locator('#compare-range [data-range="90"]').get_attribute("aria-pressed") == "true"

"""The overview: totals that match the API, and the account list's search and filters."""

from __future__ import annotations

import re

import pytest

from .browser import DESKTOP, PHONE, api, compact, day_text, number, screenshot

pytestmark = pytest.mark.e2e


def card_value(page, metric: str) -> str:
    return page.locator(f'#totals .card[data-metric="{metric}"]').get_attribute("data-value")


def test_overview_totals_match_the_api(pages):
    page = pages.new(viewport=DESKTOP)
    page.goto("/")
    page.wait_for_selector('#totals[aria-busy="false"] .card[data-metric="followers"]')
    totals = api(page, "/api/summary/totals")["total"]

    assert int(card_value(page, "accounts")) == totals["accounts"] == 30
    assert int(card_value(page, "followers")) == totals["followers"]
    assert int(card_value(page, "engagement")) == totals["engagement"]
    for period in (1, 7, 30):
        assert int(card_value(page, f"growth-{period}d")) == totals[f"followers_change_{period}d"]
    # Exact number on hover, compact on the card, both in the browser's locale.
    followers = page.locator('#totals .card[data-metric="followers"] .card-value data')
    assert followers.get_attribute("title") == number(page, totals["followers"])
    assert followers.inner_text() == compact(page, totals["followers"])
    if page.evaluate("navigator.language") == "en-US":
        assert followers.get_attribute("title") == f"{totals['followers']:,}"
        assert re.fullmatch(r"[\d.]+[KMB]", followers.inner_text())

    platforms = api(page, "/api/summary/totals")["platforms"]
    assert page.locator("#by-platform tbody tr").count() == len(platforms)
    latest = api(page, "/api/grid?per_page=1")["data"][0][3]
    assert page.locator("#as-of-date").get_attribute("datetime") == latest
    assert page.locator("#as-of-date").inner_text() == day_text(page, latest)
    page.wait_for_function("() => document.getElementById('refreshed-ago').textContent.includes('refreshed')")
    schedule = api(page, "/api/schedule")
    page.wait_for_function(
        "() => document.getElementById('schedule').textContent.startsWith('Daily collection')"
    )
    line = page.locator("#schedule").inner_text()
    assert line.startswith(f"Daily collection: {schedule['description']}")
    assert ("next " in line) == bool(schedule["next_run_at"])
    screenshot(page, "overview-1366x768")

    phone = pages.new(viewport=PHONE)
    phone.goto("/")
    phone.wait_for_selector('#totals[aria-busy="false"] .card')
    phone.wait_for_selector("#accounts .account-row a")
    screenshot(phone, "overview-390x844")


def test_searching_narrows_the_list(pages):
    page = pages.new()
    page.goto("/")
    page.wait_for_selector("#accounts .account-row a")
    assert page.locator("#accounts-count").inner_text() == "30 accounts"
    assert page.locator("#accounts .account-row").count() == 20  # the first page of 30

    searches = []
    page.on(
        "request",
        lambda r: searches.append(r.url) if "/api/accounts?" in r.url and "search=" in r.url else None,
    )
    page.locator("#account-search").press_sequentially("health", delay=40)
    page.wait_for_function("() => document.getElementById('accounts-count').textContent.includes('match')")
    expected = api(page, "/api/accounts?search=health")
    rows = page.locator("#accounts .account-row")
    assert rows.count() == expected["pagination"]["total"] < 30
    handles = [h.removeprefix("@") for h in page.locator("#accounts .handle-text").all_inner_texts()]
    assert set(handles) <= {a["handle"] for a in expected["data"]}
    assert len(searches) == 1, f"the search was not debounced: {searches}"
    assert "search=health" in page.url  # kept in the address

    page.select_option("#account-platform", "x")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#accounts .account-row .badge')]"
        ".every(b => b.textContent === 'X')"
    )
    both = api(page, "/api/accounts?search=health&platform=x")["pagination"]["total"]
    page.wait_for_function(f"() => document.querySelectorAll('#accounts .account-row').length === {both}")
    screenshot(page, "overview-search")


def test_the_overview_works_from_the_keyboard(pages):
    page = pages.new()
    page.goto("/")
    page.wait_for_selector("#accounts .account-row a")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    reached = []
    for _ in range(80):  # the top movers' controls and links come before the account list
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if reached[-1] == "account-link":
            break
    for control in ("refresh", "account-search", "account-platform", "account-organization", "account-core"):
        assert control in reached, f"{control} is not reachable with Tab: {reached}"
    href = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{href}")

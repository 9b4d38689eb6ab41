"""Growth rankings and the engagement rate on the pages: the overview's top gainers and losers (7 and
30 days, in followers and in percent) as /api/movers ranks them, the engagement rate in the grid
(a column to sort by), on the account page (the latest day's, a chart and the range's average) and on
the compare page (a mode of the chart and each account's average)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Max

from accounts.models import Account
from snapshots.models import Snapshot

from .browser import PHONE, api, screenshot

pytestmark = pytest.mark.e2e

MOVERS = """(list) => [...document.querySelectorAll(`#${list} .mover`)].map(li => li.dataset.key)"""


def keys(movers: list[dict]) -> list[str]:
    return [f"{m['platform']}:{m['handle'].lower()}" for m in movers]


def wait_for_movers(page, *, days: str, measure: str):
    page.wait_for_selector(f'#movers[data-days="{days}"][data-measure="{measure}"]')
    page.wait_for_selector('#movers-lists[aria-busy="false"]')


def test_the_overview_shows_the_top_gainers_and_losers(pages):
    page = pages.new()
    page.goto("/")
    wait_for_movers(page, days="7", measure="change")
    week = api(page, "/api/movers?days=7&limit=5")
    assert week["gainers"], "the demo data has gainers"
    assert week["losers"], "the demo data has losers"
    assert page.evaluate(MOVERS, "movers-gainers") == keys(week["gainers"])
    assert page.evaluate(MOVERS, "movers-losers") == keys(week["losers"])
    first = page.locator("#movers-gainers .mover").first
    assert first.get_attribute("data-change") == str(week["gainers"][0]["change"])
    assert first.locator(".change-up").count() == 1
    assert page.locator("#movers-losers .mover .change-down").count() == len(week["losers"])
    screenshot(page, "movers-overview-1366x768")

    page.get_by_role("button", name="Percent").click()
    wait_for_movers(page, days="7", measure="pct")
    assert page.evaluate(MOVERS, "movers-gainers") == keys(week["gainers_pct"])
    assert page.evaluate(MOVERS, "movers-losers") == keys(week["losers_pct"])

    page.get_by_role("button", name="30 days").click()
    wait_for_movers(page, days="30", measure="pct")
    month = api(page, "/api/movers?days=30&limit=5")
    assert page.evaluate(MOVERS, "movers-gainers") == keys(month["gainers_pct"])
    assert page.evaluate(MOVERS, "movers-losers") == keys(month["losers_pct"])
    assert "30 days" in page.locator("#movers-note").inner_text()

    top = month["gainers_pct"][0]
    page.locator("#movers-gainers .mover a").first.click()
    page.wait_for_url(f"**/accounts/{top['platform']}/{top['handle']}/")


def test_the_movers_fit_a_phone(pages):
    page = pages.new(viewport=PHONE)
    page.goto("/")
    wait_for_movers(page, days="7", measure="change")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "movers-overview-390x844")


def test_the_grid_shows_and_sorts_by_the_engagement_rate(pages):
    page = pages.new()
    page.goto("/grid/")
    page.wait_for_selector('#grid-table[data-page="1"]')
    page.wait_for_selector('#grid-body[aria-busy="false"]')
    headings = page.locator("#grid-table thead th").evaluate_all("ths => ths.map(th => th.dataset.column)")
    column = headings.index("engagement_rate")
    rows = api(page, "/api/grid?rows=objects&per_page=50")["data"]
    shown = page.locator("#grid-body tr").evaluate_all(
        f"rows => rows.map(r => r.querySelectorAll('td')[{column}].textContent)"
    )
    assert len(shown) == len(rows)
    for text, row in zip(shown, rows, strict=True):
        if row["engagement_rate"] is None:
            assert text == "—"
        else:
            assert text.endswith("%"), text

    page.locator('th[data-column="engagement_rate"] button').click()
    page.wait_for_selector('#grid-table[data-ordering="-engagement_rate"]')
    page.wait_for_selector('#grid-body[aria-busy="false"]')
    top = api(page, "/api/grid?rows=objects&ordering=-engagement_rate&per_page=1")["data"][0]
    first = page.locator("#grid-body tr").first.locator("td")
    assert first.nth(1).inner_text().removeprefix("@") == top["handle"]
    assert page.locator('th[data-column="engagement_rate"]').get_attribute("aria-sort") == "descending"
    screenshot(page, "grid-engagement-rate-1366x768")


def test_the_account_page_shows_the_engagement_rate(pages):
    account = Account.objects.get(platform="x", handle="healthdept")
    latest = account.latest.date
    page = pages.new()
    page.goto("/accounts/x/healthdept/")
    page.wait_for_selector("#latest-engagement-rate")
    listed = api(page, "/api/accounts?platform=x&handle=healthdept")["data"][0]["latest"]
    assert listed["engagement_rate"] > 0
    card = page.locator("#latest-engagement-rate")
    assert float(card.get_attribute("value")) == listed["engagement_rate"]
    assert card.inner_text().endswith("%")

    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('rate-chart'))")
    history = api(page, f"/api/history/x/healthdept?from={latest - dt.timedelta(days=89)}&to={latest}")
    series = page.evaluate(
        "() => Chart.getChart(document.getElementById('rate-chart')).data.datasets[0].data"
    )
    assert series == history["engagement_rate"]
    average = page.locator("#range-engagement-rate")
    assert float(average.get_attribute("value")) == history["engagement_rate_avg"]

    # Another range: the average follows it.
    page.locator('#range-buttons button[data-range="30"]').click()
    page.wait_for_selector('#main[data-chart-range="30"]')
    month = api(page, f"/api/history/x/healthdept?from={latest - dt.timedelta(days=29)}&to={latest}")
    page.wait_for_function(
        "(value) => document.getElementById('range-engagement-rate').getAttribute('value') === value",
        arg=str(month["engagement_rate_avg"]),
    )
    screenshot(page, "account-engagement-rate-1366x768")


def test_the_compare_page_charts_and_averages_the_engagement_rate(pages):
    page = pages.new()
    page.goto("/compare/?a=x:healthdept&a=facebook:healthdept&mode=rate&range=30")
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.series === '2'")
    assert page.locator("#compare-title").inner_text() == "Engagement rate"
    assert page.locator('#mode-buttons button[data-mode="rate"]').get_attribute("aria-pressed") == "true"
    chart = page.evaluate("() => Chart.getChart(document.getElementById('compare-chart')).data")
    averages = page.locator("#compare-rates .compare-rate")
    assert averages.count() == 2
    newest = Snapshot.objects.aggregate(newest=Max("date"))["newest"]  # where the page's range ends
    for i, key in enumerate(["x:healthdept", "facebook:healthdept"]):
        platform, handle = key.split(":")
        history = api(
            page, f"/api/history/{platform}/{handle}?from={newest - dt.timedelta(days=29)}&to={newest}"
        )
        by_date = dict(zip(history["dates"], history["engagement_rate"], strict=True))
        assert [by_date.get(d) for d in chart["labels"]] == chart["datasets"][i]["data"]
        item = averages.nth(i)
        assert item.get_attribute("data-key") == key
        assert float(item.locator(".rate-value").get_attribute("value")) == history["engagement_rate_avg"]
    screenshot(page, "compare-engagement-rate-1366x768")

"""An account's page: reached by clicking it, a followers chart with a point per day and a gap on a
missing day, the engagement chart, the range buttons, the latest snapshots and the profile link."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account
from snapshots.models import Snapshot
from snapshots.services import snapshot_delete_many

from .browser import PHONE, api, screenshot

pytestmark = pytest.mark.e2e

CHART_DATA = """(selector) => {
  const chart = Chart.getChart(document.querySelector(selector));
  return chart ? {labels: chart.data.labels, series: chart.data.datasets.map(d => d.data)} : null;
}"""


def test_clicking_an_account_draws_its_charts_with_a_gap_on_a_missing_day(pages):
    account = Account.objects.get(platform="x", handle="healthdept")
    latest = account.latest.date
    # A day missing in the middle of the default 90-day range (the demo data has 60 days).
    missing = latest - dt.timedelta(days=10)
    assert snapshot_delete_many(snapshots=Snapshot.objects.filter(account=account, date=missing)) == 1

    page = pages.new()
    page.goto("/?platform=x")
    page.locator('#accounts a[href="/accounts/x/healthdept/"]').click()
    page.wait_for_url("**/accounts/x/healthdept/")
    page.wait_for_selector("#followers-chart[data-points]")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('followers-chart'))")

    history = api(page, f"/api/history/x/healthdept?from={latest - dt.timedelta(days=89)}&to={latest}")
    chart = page.evaluate(CHART_DATA, "#followers-chart")
    assert chart["labels"] == history["dates"]
    assert len(chart["series"][0]) == len(history["dates"]) == 60
    gap = history["dates"].index(missing.isoformat())
    assert chart["series"][0][gap] is None  # a gap, not a zero or a joined line
    assert chart["series"][0][gap - 1] is not None
    assert (
        page.evaluate("Chart.getChart(document.getElementById('followers-chart')).data.datasets[0].spanGaps")
        is False
    )
    assert chart["series"][0] == history["followers"]

    engagement = page.evaluate(CHART_DATA, "#engagement-chart")
    assert engagement["series"] == [history["likes"], history["comments"], history["shares"]]
    assert engagement["series"][0][gap] is None

    # The latest 30 snapshots, newest first, without the missing day.
    dates = page.locator("#snapshots-table tbody th time").evaluate_all("times => times.map(t => t.dateTime)")
    assert len(dates) == 30
    assert dates[0] == latest.isoformat()
    assert missing.isoformat() not in dates
    assert page.locator("#profile-link").get_attribute("href") == account.profile_url
    screenshot(page, "account-1366x768")

    page.get_by_role("button", name="30 d").click()
    page.wait_for_function("() => document.getElementById('main').dataset.chartRange === '30'")
    chart = page.evaluate(CHART_DATA, "#followers-chart")
    assert len(chart["labels"]) == 30
    assert chart["labels"][-1] == latest.isoformat()

    phone = pages.new(viewport=PHONE)
    phone.goto("/accounts/x/healthdept/")
    phone.wait_for_function(
        "() => window.Chart && Chart.getChart(document.getElementById('followers-chart'))"
    )
    # Charts below the fold are drawn only when they come into view.
    assert phone.evaluate("Chart.getChart(document.getElementById('engagement-chart'))") is None
    phone.locator("#engagement-chart").scroll_into_view_if_needed()
    phone.wait_for_function("() => Chart.getChart(document.getElementById('engagement-chart'))")
    screenshot(phone, "account-390x844")


def test_an_unknown_account_says_so(pages):
    page = pages.new()
    page.goto("/accounts/x/nobody-here/")
    page.wait_for_selector("#account-cards .alert-error")
    assert "no x account @nobody-here" in page.locator("#account-cards").inner_text().lower()

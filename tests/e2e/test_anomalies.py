"""Anomalies on the pages: the overview's panel lists the recent ones with links to their accounts,
the account page marks the day on its chart (the reason in the tooltip) and lists it, the grid marks
the row. A wrong follower count is written the way a platform glitch would bring it."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account
from snapshots.models import Snapshot
from snapshots.services import SnapshotRow, snapshot_upsert_many

from .browser import PHONE, api, number, screenshot

pytestmark = pytest.mark.e2e

CHART = "Chart.getChart(document.getElementById('followers-chart'))"


@pytest.fixture
def glitch(pages):
    """x:healthdept's count five days before its latest day, read as a tenth of the real one."""
    account = Account.objects.get(platform="x", handle="healthdept")
    day = account.latest.date - dt.timedelta(days=5)
    real = Snapshot.objects.get(account=account, date=day).followers
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=day, followers=real // 10)])
    reason = Snapshot.objects.get(account=account, date=day).anomaly_reason
    assert reason.startswith("followers fell ")
    return day, reason


def test_the_overview_lists_recent_anomalies_with_links(pages, glitch):
    day, reason = glitch
    page = pages.new()
    page.goto("/")
    page.wait_for_selector('#anomalies[aria-busy="false"] .anomaly-item')
    listed = api(page, "/api/anomalies?per_page=10")
    items = page.locator("#anomaly-list .anomaly-item")
    assert items.count() == len(listed["data"])
    keys = [(a["platform"] + ":" + a["handle"], a["date"]) for a in listed["data"]]
    assert [(i.get_attribute("data-key"), i.get_attribute("data-date")) for i in items.all()] == keys
    total = listed["pagination"]["total"]
    assert page.locator("#anomalies-count").inner_text().startswith(f"{total} day")
    ours = page.locator(f'#anomaly-list .anomaly-item[data-key="x:healthdept"][data-date="{day}"]')
    assert ours.locator(".anomaly-reason").inner_text() == reason
    assert ours.locator(".anomaly-mark").get_attribute("title") == f"Anomaly: {reason}"
    screenshot(page, "anomalies-overview-1366x768")
    ours.locator("a").click()
    page.wait_for_url("**/accounts/x/healthdept/")
    page.wait_for_selector("#followers-chart[data-anomalies]")


def test_the_account_chart_marks_the_day_with_its_reason(pages, glitch):
    day, reason = glitch
    page = pages.new()
    page.goto("/accounts/x/healthdept/")
    page.wait_for_function(f"() => window.Chart && {CHART}")
    history = api(page, f"/api/history/x/healthdept?from={day - dt.timedelta(days=60)}")
    index = page.evaluate(f"{CHART}.data.labels.indexOf('{day}')")
    assert index >= 0
    point = page.evaluate(
        f"""(i) => {{
          const chart = {CHART};
          const meta = chart.getDatasetMeta(0);
          return {{
            reason: chart.data.datasets[0].anomalies[i],
            value: chart.data.datasets[0].data[i],
            style: meta.data[i].options.pointStyle,
            radius: meta.data[i].options.radius,
            color: meta.data[i].options.backgroundColor,
            plain: meta.data[i - 2].options.radius,
          }};
        }}""",
        index,
    )
    stored = history["followers"][history["dates"].index(day.isoformat())]
    assert point == {
        "reason": reason,
        "value": stored,  # the value as stored, marked, never smoothed over
        "style": "triangle",
        "radius": 5,
        "color": "#b91c1c",
        "plain": 0,
    }
    tooltip = page.evaluate(
        f"""(i) => {{
          const chart = {CHART};
          const element = chart.getDatasetMeta(0).data[i];
          chart.tooltip.setActiveElements([{{datasetIndex: 0, index: i}}], {{x: element.x, y: element.y}});
          chart.update();
          return chart.tooltip.body.map((b) => [...b.lines, ...b.after].join(" "));
        }}""",
        index,
    )
    text = " ".join(tooltip)
    what, *rest = reason.split(", ")
    assert f"Followers: {number(page, stored)}" in text
    assert f"⚠ Anomaly: {what}" in text
    assert all(part in text for part in rest)
    assert "anomal" in page.locator("#followers-note").inner_text()
    listed = page.locator(f'#account-anomaly-list .anomaly-item[data-date="{day}"]')
    assert listed.locator(".anomaly-reason").inner_text() == reason
    flagged_rows = page.locator("#snapshots-table tbody tr.is-anomaly th time").evaluate_all(
        "times => times.map(t => t.dateTime)"
    )
    assert {day.isoformat(), (day + dt.timedelta(days=1)).isoformat()} <= set(flagged_rows)  # and the return
    row = page.locator("#snapshots-table tbody tr.is-anomaly").nth(flagged_rows.index(day.isoformat()))
    assert row.locator(".anomaly-cell").get_attribute("title") == f"Anomaly: {reason}"
    screenshot(page, "anomalies-account-1366x768")

    phone = pages.new(viewport=PHONE)
    phone.goto("/accounts/x/healthdept/")
    phone.wait_for_selector('#account-anomalies[aria-busy="false"] .anomaly-item')
    screenshot(phone, "anomalies-account-390x844")


def test_the_grid_marks_the_row(pages, glitch):
    day, reason = glitch
    page = pages.new()
    page.goto(f"/grid/?platform=x&handle=healthdept&from={day - dt.timedelta(days=1)}&to={day}")
    page.wait_for_selector('#grid-body[aria-busy="false"] tr')
    rows = page.locator("#grid-body tr")
    assert rows.count() == 2
    flagged = page.locator("#grid-body tr.is-anomaly")
    assert flagged.count() == 1
    assert flagged.get_attribute("title") == f"Anomaly: {reason}"
    assert flagged.locator("td").nth(3).locator("time").get_attribute("datetime") == day.isoformat()
    assert flagged.locator(".anomaly-mark").count() == 1
    assert page.locator("#grid-body tr:not(.is-anomaly) .anomaly-mark").count() == 0
    assert page.locator("#grid-table thead th").count() == rows.first.locator("td").count()  # no extra cells

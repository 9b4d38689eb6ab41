"""Compare: up to 6 accounts' followers on one chart, absolute or indexed to 100."""

from __future__ import annotations

import pytest

from .browser import PHONE, screenshot

pytestmark = pytest.mark.e2e

CHART = "Chart.getChart(document.getElementById('compare-chart'))"
DATASETS = f"() => {CHART}.data.datasets.map(d => d.data)"
FIRST_INDEXED = f"() => {CHART}.data.datasets[0].data.find(v => v !== null) === 100"


def test_compare_accounts_absolute_and_indexed(pages):
    page = pages.new()
    page.goto("/compare/")
    page.locator("#compare-search").fill("health")
    page.get_by_role("button", name="Add X @healthdept").click()
    page.get_by_role("button", name="Add Facebook @healthdept").click()
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.series === '2'")
    series = page.evaluate(DATASETS)
    assert len(series) == 2
    assert all(any(v is not None and v > 100 for v in values) for values in series)
    assert "a=x%3Ahealthdept" in page.url

    page.get_by_role("button", name="Indexed (start = 100)").click()
    page.wait_for_function(FIRST_INDEXED)
    for values in page.evaluate(DATASETS):
        assert next(v for v in values if v is not None) == 100
    screenshot(page, "compare-1366x768")

    # At most 6.
    page.locator("#compare-search").fill("a")
    page.wait_for_selector("#compare-results button.result")
    while page.locator("#picked .chip").count() < 6:
        page.locator("#compare-results button.result:not([disabled])").first.click()
    assert page.locator("#compare-search").is_disabled()
    page.wait_for_function("() => document.getElementById('compare-chart').dataset.series === '6'")

    phone = pages.new(viewport=PHONE)
    phone.goto(page.url.replace(pages.base_url, ""))
    phone.wait_for_function("() => document.getElementById('compare-chart').dataset.series === '6'")
    screenshot(phone, "compare-390x844")

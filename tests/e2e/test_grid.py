"""The data grid pages, sorts and filters on the server, and downloads exactly what is filtered."""

from __future__ import annotations

import csv
import io

import pytest
from django.db.models import Max, Min

from snapshots.models import Snapshot

from .browser import PHONE, api, number, parse_number, screenshot

pytestmark = pytest.mark.e2e


# A cell's text, or the ISO day of a date cell (shown in the browser's locale, kept in <time>).
CELLS = "cells => cells.map(c => c.querySelector('time') ? c.querySelector('time').dateTime : c.innerText)"


def shown_rows(page) -> list[list[str]]:
    return [
        [cell.strip().removeprefix("@") for cell in row.locator("td").evaluate_all(CELLS)]
        for row in page.locator("#grid-body tr").all()
    ]


def api_rows(page, query: str) -> list[list[str]]:
    data = api(page, f"/api/grid?{query}")["data"]
    return [[row[1], row[3]] for row in data]


def wait_for_grid(page, *, page_number: int, ordering: str = ""):
    page.wait_for_selector(f'#grid-table[data-page="{page_number}"][data-ordering="{ordering}"]')
    page.wait_for_selector('#grid-body[aria-busy="false"]')


def test_the_grid_pages_and_sorts_on_the_server(pages):
    page = pages.new()
    page.goto("/grid/")
    wait_for_grid(page, page_number=1)
    total = Snapshot.objects.count()
    first = api(page, "/api/grid?page=1&per_page=50")
    assert first["pagination"]["total"] == total
    assert page.locator("#grid-status").inner_text().startswith(f"{number(page, total)} rows")
    assert [[r[1], r[3]] for r in shown_rows(page)] == api_rows(page, "page=1&per_page=50")
    screenshot(page, "grid-1366x768")

    page.locator('#grid-pager [data-page="next"]').click()
    wait_for_grid(page, page_number=2)
    assert [[r[1], r[3]] for r in shown_rows(page)] == api_rows(page, "page=2&per_page=50")
    assert "page=2" in page.url

    # Sorting covers every row, not only the page in the browser.
    page.locator('th[data-column="followers"] button').click()
    wait_for_grid(page, page_number=1, ordering="-followers")
    assert page.locator('th[data-column="followers"]').get_attribute("aria-sort") == "descending"
    top = parse_number(page, shown_rows(page)[0][4])
    assert top == Snapshot.objects.aggregate(m=Max("followers"))["m"]
    assert [[r[1], r[3]] for r in shown_rows(page)] == api_rows(page, "ordering=-followers&per_page=50")

    page.locator('th[data-column="followers"] button').click()
    wait_for_grid(page, page_number=1, ordering="followers")
    assert page.locator('th[data-column="followers"]').get_attribute("aria-sort") == "ascending"
    assert parse_number(page, shown_rows(page)[0][4]) == Snapshot.objects.aggregate(m=Min("followers"))["m"]

    # Filtered: the grid and the download hold exactly the same rows.
    page.select_option("#grid-platform", "instagram")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#grid-body .badge')].every(b => b.textContent === 'Instagram')"
    )
    wait_for_grid(page, page_number=1, ordering="followers")
    expected = Snapshot.objects.filter(account__platform="instagram").count()
    assert page.locator("#grid-status").inner_text().startswith(f"{number(page, expected)} rows")
    href = page.locator("#download").get_attribute("href")
    assert href.startswith("/api/download?")
    assert "platform=instagram" in href
    assert "ordering=followers" in href
    response = page.request.get(href)
    assert response.ok
    lines = list(csv.reader(io.StringIO(response.text())))
    assert len(lines) - 1 == expected
    assert lines[1][1] == shown_rows(page)[0][1]  # same order as on screen

    # Dates filter on the server too.
    latest = Snapshot.objects.aggregate(d=Max("date"))["d"]
    page.fill("#grid-from", latest.isoformat())
    on_latest = Snapshot.objects.filter(account__platform="instagram", date=latest).count()
    page.wait_for_function(
        f"() => document.getElementById('grid-status').textContent.startsWith('{on_latest} row')"
    )
    assert set(page.locator("#grid-body td:nth-child(4)").evaluate_all(CELLS)) == {latest.isoformat()}
    assert f"from={latest.isoformat()}" in page.locator("#download").get_attribute("href")

    phone = pages.new(viewport=PHONE)
    phone.goto("/grid/")
    wait_for_grid(phone, page_number=1)
    screenshot(phone, "grid-390x844")

"""Uploading a CSV (staff): the report with every skipped line, and the new data on the pages."""

from __future__ import annotations

import pytest

from accounts.models import Account
from socialmetrics.dates import local_today

from .browser import api, number, screenshot, sign_in

pytestmark = pytest.mark.e2e


def test_uploading_a_csv_shows_its_report_and_the_new_account(pages, staff_user):
    today = local_today()
    page = pages.new()
    sign_in(page, "editor")
    page.wait_for_selector('#totals[aria-busy="false"] .card')  # the server has cached the overview
    assert api(page, "/api/summary/totals")["total"]["accounts"] == 30

    page.get_by_role("link", name="Upload").click()
    page.wait_for_url("**/upload")
    rows = [
        "Platform,Handle,Date,Followers,Likes",
        f"X,brandnewaccount,{today},4321,10",
        f"X,brandnewaccount,{today.replace(day=1) if today.day > 1 else today},4300,5",
        "X,brokenrow,not-a-date,12,",
        f"Nowhere,someone,{today},1,",
    ]
    page.set_input_files(
        "#upload-file",
        files=[{"name": "new-account.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}],
    )
    page.get_by_role("button", name="Upload").click()
    report = page.wait_for_selector("#upload-report")
    counts = {
        key: int(page.locator(f'.count[data-key="{key}"]').get_attribute("data-value"))
        for key in ("created", "updated", "unchanged", "skipped")
    }
    assert counts == {"created": 2 if today.day > 1 else 1, "updated": 0, "unchanged": 0, "skipped": 2}
    skipped = page.locator("#skipped-lines tbody tr")
    assert skipped.count() == 2
    assert skipped.nth(0).locator("td").nth(0).inner_text() == "4"
    assert skipped.nth(1).locator("td").nth(0).inner_text() == "5"
    assert "Nowhere" in skipped.nth(1).inner_text()
    assert "1 new account" in report.inner_text()
    assert Account.objects.filter(platform="x", handle="brandnewaccount").exists()
    screenshot(page, "upload-report")

    # The overview shows it at once: no stale browser or server cache.
    page.locator("#upload-report").get_by_role("link", name="overview").click()
    page.wait_for_selector('#totals[aria-busy="false"] .card')
    assert page.locator('#totals .card[data-metric="accounts"]').get_attribute("data-value") == "31"
    page.locator("#account-search").fill("brandnew")
    page.wait_for_function(
        "() => document.getElementById('accounts-count').textContent === '1 account match'"
    )
    row = page.locator("#accounts .account-row")
    assert row.get_attribute("data-key") == "x:brandnewaccount"
    assert row.locator(".account-followers").get_attribute("title") == number(page, 4321)


def test_a_file_that_is_not_csv_is_refused_with_the_reason(pages, staff_user):
    page = pages.new()
    sign_in(page, "editor", next_path="/upload")
    page.set_input_files(
        "#upload-file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    page.get_by_role("button", name="Upload").click()
    alert = page.wait_for_selector("#upload-result .alert-error")
    assert "not a .csv file" in alert.inner_text()
    assert alert.query_selector("button")  # offers to try again

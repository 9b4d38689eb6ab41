"""What people who are not staff see: no staff controls (and the server refuses them anyway);
names are always shown as text."""

from __future__ import annotations

import pytest

from accounts.models import Account, Organization
from snapshots.services import SnapshotRow, snapshot_upsert_many

from .browser import PHONE, screenshot, sign_in

pytestmark = pytest.mark.e2e

STAFF_SELECTORS = ("#run-panel", "#upload-form", "[data-staff-only]")


def assert_no_staff_controls(page):
    for selector in STAFF_SELECTORS:
        assert page.locator(selector).count() == 0, selector
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Upload").count() == 0
    assert nav.get_by_role("link", name="Admin").count() == 0


@pytest.mark.parametrize("who", ["anonymous", "signed-in reader"])
def test_people_who_are_not_staff_see_no_staff_controls(pages, plain_user, who):
    page = pages.new()
    if who == "anonymous":
        page.goto("/")
    else:
        sign_in(page, "reader")
        assert page.get_by_role("button", name="Sign out").is_visible()
    page.wait_for_selector('#totals[aria-busy="false"] .card')
    assert_no_staff_controls(page)
    page.goto("/upload")
    assert_no_staff_controls(page)
    assert "needs a staff account" in page.locator("main").inner_text()
    screenshot(page, f"upload-{who.replace(' ', '-')}")

    # The server refuses them regardless of what the page shows.
    token = page.evaluate("document.querySelector('meta[name=csrf-token]').content")
    headers = {"X-CSRFToken": token, "Referer": page.url}
    upload = page.request.post(
        "/upload",
        multipart={
            "file": {"name": "a.csv", "mimeType": "text/csv", "buffer": b"Platform,Handle,Organization\n"}
        },
        headers=headers,
    )
    assert upload.status in (401, 403)
    run = page.request.post("/api/run-scraper", data={"mode": "simulated"}, headers=headers)
    assert run.status in (401, 403)


def test_the_sign_in_page(pages):
    page = pages.new()
    page.goto("/login/")
    page.get_by_label("Username").fill("nobody")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(".alert-error")
    screenshot(page, "login-1366x768")
    phone = pages.new(viewport=PHONE)
    phone.goto("/login/")
    screenshot(phone, "login-390x844")


def test_names_are_shown_as_text_never_as_html(pages):
    organization = Organization.objects.create(name="<b>Bold</b> & Co")
    account = Account.objects.create(
        platform="x",
        handle="<img src=x onerror=alert(1)>",
        display_name="<script>alert('x')</script>",
        organization=organization,
    )
    day = Account.objects.get(handle="healthdept", platform="x").latest.date
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=day, followers=5)])
    page = pages.new()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/?search=onerror")
    row = page.wait_for_selector(".account-row .handle-text")
    assert row.inner_text() == "@<img src=x onerror=alert(1)>"
    assert "<script>alert('x')</script>" in page.locator("#accounts").inner_text()
    page.wait_for_selector('#by-organization[aria-busy="false"]')
    assert "<b>Bold</b> & Co" in page.locator("#by-organization").inner_text()
    assert page.locator("img[src=x], #accounts script, #by-organization b").count() == 0

    page.locator(".account-row a").click()
    page.wait_for_selector('#account-cards[aria-busy="false"] .card')
    assert page.locator("#account-title").inner_text() == "<script>alert('x')</script>"
    assert page.locator("main img").count() == 0
    page.goto("/grid/?handle=onerror")
    page.wait_for_selector('#grid-table[data-page="1"]')
    assert page.locator("#grid-body td").nth(1).inner_text() == "@<img src=x onerror=alert(1)>"
    assert dialogs == []

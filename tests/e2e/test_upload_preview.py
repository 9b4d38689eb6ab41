"""The upload preview (staff): choosing a file shows what it would create, update and refuse, the new
accounts apart with "did you mean", and a report of the refused lines to download; nothing is written
until Upload, which then imports exactly what was shown."""

from __future__ import annotations

import csv

import pytest

from accounts.models import Account
from snapshots.models import Snapshot
from socialmetrics.dates import local_today

from .browser import DESKTOP, PHONE, screenshot, sign_in

pytestmark = pytest.mark.e2e


def counts(page, scope: str) -> dict[str, int]:
    return {
        key: int(page.locator(f'{scope} .count[data-key="{key}"]').get_attribute("data-value"))
        for key in ("created", "updated", "unchanged", "skipped")
    }


def the_file() -> bytes:
    today = local_today()
    stored = Snapshot.objects.get(account__platform="x", account__handle="healthdept", date=today)
    rows = [
        "Platform,Handle,Date,Followers,Organization",
        f"X,healthdept,{today},{stored.followers + 1},",  # 2: an update of a stored day
        f"Twitter,healthdep,{today},4321,Health",  # 3: a new account, one letter off x/healthdept
        f"X,zzbrandnew,{today},10,",  # 4: a new account like no other
        "X,healthdept,31/12/2025,12,",  # 5: refused: not a day
        f"=HYPERLINK(1),x,{today},1,",  # 6: refused: no such platform
    ]
    return ("\n".join(rows) + "\n").encode()


def choose(page, data: bytes) -> None:
    page.set_input_files(
        "#upload-file", files=[{"name": "history.csv", "mimeType": "text/csv", "buffer": data}]
    )


def test_preview_then_upload(pages, staff_user):
    data = the_file()
    snapshots_before = Snapshot.objects.count()
    page = pages.new()
    sign_in(page, "editor", next_path="/upload")
    choose(page, data)
    preview = page.wait_for_selector("#upload-preview")
    assert "nothing has been written yet" in preview.inner_text()
    assert counts(page, "#upload-preview") == {"created": 2, "updated": 1, "unchanged": 0, "skipped": 2}

    # The new accounts, apart, one of them close to an existing account.
    rows = page.locator("#preview-new-accounts tbody tr")
    assert rows.count() == 2
    doubtful = page.locator('#preview-new-accounts tr[data-key="x:healthdep"]')
    assert "is-doubtful" in doubtful.get_attribute("class")
    meant = doubtful.locator(".did-you-mean a")
    assert meant.inner_text() == "X @healthdept"
    assert meant.get_attribute("href") == "/accounts/x/healthdept/"
    assert page.locator('#preview-new-accounts tr[data-key="x:zzbrandnew"] .did-you-mean a').count() == 0
    assert page.locator("#preview-refused tbody tr td:first-child").all_inner_texts() == ["5", "6"]

    # The refused lines as a file: line, column, reason and the line itself.
    with page.expect_download() as download:
        page.locator("#refused-download").click()
    assert download.value.suggested_filename == "history-refused.csv"
    with open(download.value.path(), encoding="utf-8", newline="") as file:
        report = list(csv.reader(file))
    assert report[0] == ["Line", "Column", "Reason", "Original line"]
    assert [(row[0], row[1], row[3]) for row in report[1:]] == [
        ("5", "Date", "X,healthdept,31/12/2025,12,"),
        ("6", "Platform", f"'=HYPERLINK(1),x,{local_today()},1,"),
    ]

    # Nothing was written by the preview.
    assert not Account.objects.filter(handle__in=["healthdep", "zzbrandnew"]).exists()
    assert Snapshot.objects.count() == snapshots_before
    screenshot(page, "upload-preview")

    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_selector("#upload-report")
    assert counts(page, "#upload-report") == {"created": 2, "updated": 1, "unchanged": 0, "skipped": 2}
    assert page.locator("#new-accounts tbody tr").count() == 2
    assert page.locator("#skipped-lines tbody tr").count() == 2
    assert page.locator("#upload-preview").count() == 0
    assert Account.objects.filter(platform="x", handle__in=["healthdep", "zzbrandnew"]).count() == 2
    assert Snapshot.objects.count() == snapshots_before + 2


def test_a_file_that_cannot_be_imported_is_refused_by_its_preview(pages, staff_user):
    page = pages.new()
    sign_in(page, "editor", next_path="/upload")
    posted = []
    page.on("request", lambda request: request.method == "POST" and posted.append(request.url))
    choose(page, b"Name,Email\nbob,bob@example.org\n")
    alert = page.wait_for_selector("#upload-result .alert-error")
    assert "cannot be imported" in alert.inner_text()
    assert "header" in alert.inner_text()
    assert [url.rpartition("/")[2] for url in posted] == ["upload?dry_run=true"]  # only the preview
    assert page.locator("#upload-result button", has_text="Try again").count() == 1
    assert not page.locator("#upload-submit").is_disabled()


@pytest.mark.parametrize(
    ("viewport", "scheme"),
    [(DESKTOP, "light"), (DESKTOP, "dark"), (PHONE, "light"), (PHONE, "dark")],
    ids=["desktop-light", "desktop-dark", "phone-light", "phone-dark"],
)
def test_the_preview_fits_phone_and_desktop_in_light_and_dark(pages, staff_user, viewport, scheme):
    page = pages.new(viewport=viewport, color_scheme=scheme)
    sign_in(page, "editor", next_path="/upload")
    choose(page, the_file())
    page.wait_for_selector("#upload-preview #preview-new-accounts")
    # Nothing wider than the window: wide tables scroll inside their card.
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"upload-preview-{viewport['width']}-{scheme}")

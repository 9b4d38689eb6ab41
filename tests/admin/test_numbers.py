"""The admin as a curator reads it: counts with separators, no internal fields, rows named by what
they are."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from scraping.models import CollectionRun
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.admin_tools import grouped, json_summary, percent, seconds, signed
from socialmetrics.dates import local_today
from tests.admin.conftest import page_text
from tests.factories import AccountFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def big_account():
    account = AccountFactory(handle="bigone")
    today = local_today()
    snapshot_upsert_many(
        rows=[
            SnapshotRow(
                account_id=account.pk,
                date=today - dt.timedelta(days=offset),
                followers=24_724_674 - 1_234 * offset,
                following=1_500,
                posts=12_345,
                likes=987_654,
                comments=4_321,
                shares=2_468,
                views=123_456_789,
            )
            for offset in range(8)
        ]
    )
    return account


def test_the_formatting_helpers():
    assert grouped(24724674) == "24,724,674"
    assert grouped(None) is None
    assert signed(8638) == "+8,638"
    assert signed(-1234) == "\u22121,234"
    assert signed(0) == "0"
    assert percent(0.0349) == "+0.03\u00a0%"
    assert percent(-12.5) == "\u221212.50\u00a0%"
    assert seconds(1.94) == "1.9\u00a0s"
    assert seconds(1234.4) == "1,234\u00a0s"
    assert json_summary({"succeeded": 1200, "failed": 3}) == "failed: 3, succeeded: 1,200"
    assert (
        json_summary({"platforms": ["x", "bluesky"], "dry_run": False})
        == "dry_run: no, platforms: x, bluesky"
    )
    assert json_summary({}) is None


def test_the_snapshot_list_shows_counts_with_separators(staff_client, big_account):
    text = page_text(staff_client.get(reverse("admin:snapshots_snapshot_changelist")))
    assert "24,724,674" in text
    assert "12,345" in text
    assert "24724674" not in text
    # and the columns still sort by the stored numbers
    ordered = staff_client.get(reverse("admin:snapshots_snapshot_changelist"), {"o": "3"})
    assert ordered.status_code == 200
    followers = [row.followers for row in ordered.context["cl"].result_list]
    assert followers == sorted(followers)


def test_the_account_page_shows_latest_values_and_growth_readably_and_no_internal_field(
    staff_client, big_account
):
    response = staff_client.get(reverse("admin:accounts_account_change", args=[big_account.pk]))
    text = page_text(response)
    assert "Latest values" in text
    assert "Followers: 24,724,674" in text
    assert "Views: 123,456,789" in text
    assert "7-day growth: +8,638 (+0.03 %)" in text
    assert "1-day growth: +1,234" in text
    for internal in ("Summary json", "summary_json", '"followers":'):
        assert internal not in response.content.decode()
    # The recent snapshots: the date says which row is which, with no "<id> on <date>" title.
    assert not re.search(rf"\b{big_account.pk} on \d{{4}}-\d\d-\d\d", text)
    assert "24,724,674" in text.split("Snapshots of the last 30 days", 1)[1]


def test_a_new_account_form_has_no_latest_values(staff_client):
    response = staff_client.get(reverse("admin:accounts_account_add"))
    assert response.status_code == 200
    assert "Latest values" not in page_text(response)


def test_the_account_list_shows_latest_followers_and_sorts_by_them(staff_client, big_account):
    AccountFactory(handle="nosnapshots")
    response = staff_client.get(reverse("admin:accounts_account_changelist"))
    assert "24,724,674" in page_text(response)
    by_followers = staff_client.get(reverse("admin:accounts_account_changelist"), {"o": "-7"})
    assert by_followers.status_code == 200


def test_organization_account_counts_have_separators(staff_client):
    organization = OrganizationFactory(name="Big Org")
    AccountFactory.create_batch(3, organization=organization)
    text = page_text(staff_client.get(reverse("admin:accounts_organization_changelist")))
    assert re.search(r"Big Org .*? 3 ", text)


def test_a_snapshot_page_is_titled_by_its_account_and_day(staff_client, big_account):
    snapshot = big_account.snapshots.order_by("-date").first()
    response = staff_client.get(reverse("admin:snapshots_snapshot_change", args=[snapshot.pk]))
    text = page_text(response)
    assert f"X @bigone on {snapshot.date:%b}" in text
    assert f"{big_account.pk} on {snapshot.date.isoformat()}" not in text
    assert "Engagement: 994,443" in text  # the read-only engagement, with separators


def test_the_run_list_and_page_show_counts_and_no_internal_field(staff_client):
    run = CollectionRun.objects.create(
        accounts_total=12_345,
        accounts_succeeded=12_000,
        accounts_failed=345,
        duration_seconds=1.94,
        lock_token="secret-token",
        options={"platforms": ["x"], "workers": 5},
        planned={"x": {"accounts": 12_345, "requests": 124}},
    )
    listing = page_text(staff_client.get(reverse("admin:scraping_collectionrun_changelist")))
    assert "12,345" in listing
    assert "1.9 s" in listing
    page = staff_client.get(reverse("admin:scraping_collectionrun_change", args=[run.pk]))
    text = page_text(page)
    assert "Accounts: 12,345" in text
    assert "Options: platforms: x, workers: 5" in text
    assert "Speed: 6,363.4 accounts/s" in text  # (12,000 + 345) / 1.94 s
    content = page.content.decode()
    for internal in ("secret-token", "Lock token", "Planned", "By platform"):
        assert internal not in content

"""Missing days: `manage.py find_gaps`, GET /api/gaps and the admin's "Missing days" page list the
active accounts without a snapshot on some day of the window; --fill fills what can be filled."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import Platform
from scraping.selectors import account_gaps
from snapshots.models import Snapshot
from socialmetrics.dates import day_ranges, local_today
from tests.factories import AccountFactory, SnapshotFactory

pytestmark = pytest.mark.django_db


def days_ago(n: int) -> dt.date:
    return local_today() - dt.timedelta(days=n)


@pytest.fixture
def tracked():
    """Three accounts tracked for ten days: one complete, one missing two days, one missing today;
    an inactive one missing everything, and one added today with today's snapshot."""
    added = dt.datetime.combine(days_ago(10), dt.time(12), tzinfo=dt.UTC)
    complete = AccountFactory(handle="complete", platform=Platform.X)
    holes = AccountFactory(handle="holes.bsky.social", platform=Platform.BLUESKY)
    late = AccountFactory(handle="late", platform=Platform.X)
    AccountFactory(handle="retired", platform=Platform.X, is_active=False)
    new = AccountFactory(handle="newcomer", platform=Platform.X)
    for account in (complete, holes, late, new):
        type(account).objects.filter(pk=account.pk).update(created_at=added)
    type(new).objects.filter(pk=new.pk).update(created_at=dt.datetime.now(dt.UTC))
    for n in range(10):
        SnapshotFactory(account=complete, date=days_ago(n))
        if n not in (3, 4):
            SnapshotFactory(account=holes, date=days_ago(n))
        if n != 0:
            SnapshotFactory(account=late, date=days_ago(n))
    SnapshotFactory(account=new, date=days_ago(0))
    return {"complete": complete, "holes": holes, "late": late, "new": new}


def test_the_selector_lists_exactly_the_missing_days_of_active_accounts(
    tracked, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):
        gaps = account_gaps(days=7)
    assert [(g.handle, g.missing) for g in gaps] == [
        ("holes.bsky.social", [days_ago(4), days_ago(3)]),
        ("late", [days_ago(0)]),
    ]
    assert [g.handle for g in account_gaps(days=7, platform=Platform.X)] == ["late"]
    assert account_gaps(days=3)[0].handle == "late"  # days 3 and 4 are outside a 3-day window


def test_day_ranges_join_consecutive_days():
    days = [dt.date(2026, 11, 28), dt.date(2026, 11, 30), dt.date(2026, 11, 29), dt.date(2026, 12, 2)]
    assert day_ranges(days) == "2026-11-28..2026-11-30, 2026-12-02"


def run(*args):
    out = StringIO()
    try:
        call_command("find_gaps", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue()


def test_the_command_lists_them_and_exits_1_while_days_are_missing(tracked):
    code, out = run("--days", "7")
    assert code == 1
    assert f"holes.bsky.social                   2  {days_ago(4)}..{days_ago(3)}" in out
    assert "2 active accounts miss 3 account-days of the last 7 days." in out
    assert run("--days", "7", "-v", "0") == (1, "")


def test_fill_in_simulated_mode_writes_every_missing_day_once(tracked):
    code, out = run("--days", "7", "--fill")
    assert code == 0, out
    assert "After filling: no active account misses a day of the last 7 days." in out
    assert account_gaps(days=7) == []
    assert Snapshot.objects.filter(account=tracked["holes"], date__gte=days_ago(6)).count() == 7
    assert run("--days", "7", "--fill")[0] == 0  # nothing left: nothing written again


def test_fill_in_real_mode_collects_today_and_says_past_days_stay_missing(tracked, settings, httpserver):
    from tests.scraping.test_collectors_bluesky import profile

    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_json(
        {"profiles": [profile("holes.bsky.social")]}
    )
    httpserver.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_json({"feed": []})
    settings.SOCIALMETRICS_API_BASE_URLS = {"bluesky": httpserver.url_for("").rstrip("/")}
    Snapshot.objects.filter(account=tracked["holes"], date=days_ago(0)).delete()
    code, out = run("--days", "7", "--fill", "--mode", "real")
    assert "2 past account-days cannot be filled: the platforms only give today's numbers" in out
    assert Snapshot.objects.filter(account=tracked["holes"], date=days_ago(0)).exists()
    assert code == 1  # the past days are still missing, and the X account has no credential
    assert [g.missing for g in account_gaps(days=7) if g.handle == "holes.bsky.social"] == [
        [days_ago(4), days_ago(3)]
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be between 1 and 366"),
        (["--platform", "myspace"], "unknown --platform"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(Exception, match=message) as refused:
        call_command("find_gaps", *args)
    assert refused.value.returncode == 2


def test_the_api_lists_them_paged(tracked):
    body = APIClient().get("/api/gaps?days=7").json()
    assert body["pagination"] == {"page": 1, "per_page": 100, "total": 2, "pages": 1, "days": 7}
    assert body["data"][0] == {
        "account_id": tracked["holes"].pk,
        "platform": "bluesky",
        "handle": "holes.bsky.social",
        "missing_count": 2,
        "missing_days": [days_ago(4).isoformat(), days_ago(3).isoformat()],
    }
    assert APIClient().get("/api/gaps?days=7&platform=x&per_page=1&page=2").json()["data"] == []
    for bad in ("days=0", "days=400", "platform=myspace", "page=0"):
        assert APIClient().get(f"/api/gaps?{bad}").status_code == 400


def test_the_admin_page_lists_them(tracked, admin_client):
    listing = admin_client.get("/admin/scraping/collectionrun/")
    assert "/admin/scraping/collectionrun/gaps/" in listing.content.decode()
    page = admin_client.get("/admin/scraping/collectionrun/gaps/?days=7").content.decode()
    assert "2 active accounts miss 3 account-days of the last 7 days." in page
    assert f"{days_ago(4)}..{days_ago(3)}" in page
    assert "holes.bsky.social" in page
    assert (
        "No active account misses"
        in admin_client.get("/admin/scraping/collectionrun/gaps/?days=1&platform=bluesky").content.decode()
    )

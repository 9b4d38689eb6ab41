"""`manage.py seed_demo`: realistic, deterministic demo data written through the upsert service."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min

from accounts.models import Account, Organization
from scraping.simulation import simulate_day
from snapshots.models import AccountLatest, Snapshot

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def table():
    return sorted(
        Snapshot.objects.values_list(
            "account__platform", "account__handle", "date", "followers", "following", "posts",
            "likes", "comments", "shares", "views", "precision",
        )
    )  # fmt: skip


def test_default_demo_has_about_a_hundred_accounts_across_platforms():
    seed("--days", "3")
    assert Account.objects.count() == 100
    assert Account.objects.values("platform").distinct().count() >= 8
    assert Organization.objects.count() >= 10
    assert Account.objects.filter(is_core=True).exists()


def test_seeding_is_deterministic_and_rerunning_writes_nothing():
    seed("--accounts", "30", "--days", "40")
    first = table()
    out = seed("--accounts", "30", "--days", "40")
    assert "0 created, 0 updated" in out
    assert table() == first

    Snapshot.objects.all().delete()
    Account.objects.all().delete()
    seed("--accounts", "30", "--days", "40")
    assert table() == first


def test_history_is_realistic():
    seed("--accounts", "140", "--days", "60")
    sizes = AccountLatest.objects.aggregate(low=Min("followers"), high=Max("followers"))
    assert sizes["low"] < 5_000 < 100_000 < sizes["high"]  # small and large accounts
    per_account = Snapshot.objects.values("account").annotate(n=Count("id")).values_list("n", flat=True)
    assert min(per_account) < 60  # a few missing days
    assert sum(per_account) > 140 * 60 * 0.95  # ... only a few
    growth = list(AccountLatest.objects.values_list("followers_change_30d", flat=True))
    assert any(g and g > 0 for g in growth)
    assert Snapshot.objects.filter(
        likes__isnull=True, account__platform="github"
    ).exists()  # unknown stays null
    youtube = Snapshot.objects.filter(account__platform="youtube").first()
    assert youtube.precision == "rounded"


def test_weekly_rhythm_shows_in_engagement():
    key, monday = "x:rhythm", dt.date(2026, 6, 1)
    weeks = [monday + dt.timedelta(days=7 * w) for w in range(20)]
    weekday = sum(simulate_day(key, "x", d)["likes"] for d in weeks)
    sunday = sum(simulate_day(key, "x", d + dt.timedelta(days=6))["likes"] for d in weeks)
    assert weekday > sunday


def test_simulation_is_the_same_for_the_same_account_and_day():
    day = dt.date(2026, 11, 1)
    assert simulate_day("x:nasa", "x", day) == simulate_day("x:nasa", "x", day)
    assert simulate_day("x:nasa", "x", day) != simulate_day("x:esa", "x", day)


@pytest.mark.parametrize(
    "day", [dt.date(1, 1, 1), dt.date(1999, 12, 31), dt.date(2099, 12, 30), dt.date(9999, 12, 31)]
)
def test_any_date_gives_values_the_database_stores(day):
    """Growth levels off far from today: no --date makes a number too large for a bigint."""
    for i in range(200):
        values = simulate_day(f"x:account{i}", "youtube" if i % 2 else "x", day)
        for name in ("followers", "following", "posts", "likes", "comments", "shares", "views"):
            assert values[name] is None or 0 <= values[name] < 2**63, (i, name, values[name])

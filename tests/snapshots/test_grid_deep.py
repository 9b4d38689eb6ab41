"""The snapshots per (date, platform) kept by database triggers (`SnapshotPlatformCount`), and the deep
grid pages and platform-filtered totals they place.

Every way snapshots or an account's platform change must leave the counts equal to a plain GROUP BY
(date, platform); every page of the grid, filtered by platform and date or not, must equal a plain
OFFSET query's rows, and a grid filtered by platform and date must never count its snapshots.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection, transaction
from django.db.models import Count, F
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Platform
from snapshots import selectors
from snapshots.models import Snapshot, SnapshotPlatformCount, SnapshotPlatformCountChange
from snapshots.selectors import (
    GRID_COLUMNS,
    GridCursor,
    _counted_filters,
    _CountedFilters,
    grid_page,
    grid_platform_counts,
    grid_queryset,
    grid_rows_after,
)
from snapshots.services import SnapshotRow, snapshot_delete_many, snapshot_save, snapshot_upsert_many
from tests.factories import AccountFactory

START = dt.date(2026, 1, 1)
PLATFORMS = [Platform.X, Platform.YOUTUBE, Platform.MASTODON, Platform.BLUESKY, Platform.TRUTH_SOCIAL]


class _RolledBack(Exception):
    pass


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def naive_counts() -> list[tuple[dt.date, str, int]]:
    rows = (
        Snapshot.objects.order_by()
        .values("date", "account__platform")
        .annotate(n=Count("*"))
        .order_by("-date", "account__platform")
        .values_list("date", "account__platform", "n")
    )
    return list(rows)


def assert_exact() -> None:
    assert grid_platform_counts() == naive_counts()


@pytest.mark.django_db
def test_every_write_path_keeps_the_platform_counts_exact():
    rng = random.Random(20261203)
    accounts = [AccountFactory(platform=rng.choice(PLATFORMS).value) for _ in range(20)]
    ids = [a.pk for a in accounts]
    assert_exact()

    # The upsert service: one transaction, large enough for COPY on PostgreSQL; then small batches.
    rows = [
        SnapshotRow(account_id=a, date=day(d), followers=rng.randrange(1000))
        for a in ids
        for d in range(220)
        if rng.random() < 0.95
    ]
    snapshot_upsert_many(rows=rows, per_batch=False)
    assert_exact()
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=rng.choice(ids), date=day(rng.randrange(200, 240)), likes=1)
            for _ in range(200)
        ],
        batch_size=40,
    )
    assert_exact()

    # Deletes: the service's bulk delete, a queryset delete, one row.
    snapshot_delete_many(snapshots=Snapshot.objects.filter(date__in=[day(d) for d in range(0, 200, 9)]))
    Snapshot.objects.filter(account_id=ids[0], date__gte=day(100)).delete()
    Snapshot.objects.filter(account_id=ids[1]).order_by("-date").first().delete()
    assert_exact()

    # A snapshot moved to another day, then to another account (on another platform).
    other = AccountFactory(platform=Platform.GITHUB)
    moved = Snapshot.objects.filter(account_id=ids[2]).order_by("date").first()
    moved.date = day(-41)
    moved.save()
    assert_exact()
    moved.account_id = other.pk
    snapshot_save(snapshot=moved)
    assert_exact()
    Snapshot.objects.filter(account_id=ids[3], date__lt=day(50)).update(
        date=F("date") - dt.timedelta(days=999)
    )
    assert_exact()

    # An account moved to another platform takes its snapshots with it; one changed in bulk too.
    account = Account.objects.get(pk=ids[4])
    account.platform = Platform.FLICKR if account.platform != Platform.FLICKR else Platform.X
    account.save()
    assert_exact()
    Account.objects.filter(pk__in=ids[5:8]).update(platform=Platform.REDDIT)
    Account.objects.filter(pk=ids[8]).update(handle="renamed")  # the platform untouched
    assert_exact()

    # Deleting an account deletes its snapshots (cascade).
    Account.objects.get(pk=ids[9]).delete()
    assert_exact()

    # A savepoint rolled back takes its counts with it.
    try:
        with transaction.atomic():
            snapshot_upsert_many(rows=[SnapshotRow(account_id=ids[10], date=day(500), followers=1)])
            assert grid_platform_counts()[0] == (day(500), accounts[10].platform, 1)
            raise _RolledBack
    except _RolledBack:
        pass
    assert_exact()

    Snapshot.objects.all().delete()
    assert grid_platform_counts() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_commits_fold_the_changes_and_a_transaction_sees_its_own():
    accounts = [AccountFactory(platform=PLATFORMS[n % 3]) for n in range(6)]
    for round_ in range(2):
        snapshot_upsert_many(
            rows=[
                SnapshotRow(account_id=a.pk, date=day(d), followers=round_)
                for a in accounts
                for d in range(20)
            ],
            batch_size=25,
            per_batch=False,
        )
        Snapshot.objects.filter(date=day(round_)).delete()
    assert_exact()
    assert not SnapshotPlatformCountChange.objects.exists()
    assert SnapshotPlatformCount.objects.count() == 20 * 3
    with transaction.atomic():
        Account.objects.filter(pk=accounts[0].pk).update(platform=Platform.GITHUB)
        assert_exact()  # not committed: the transaction's own changes are added
        other = connection.copy()  # what another request sees meanwhile
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM snapshots_snapshotplatformcount WHERE platform = 'github'"
                )
                assert cursor.fetchone() == (0,)
        finally:
            other.close()
    assert_exact()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE snapshots_snapshot")
    assert grid_platform_counts() == []


@pytest.fixture
def uneven_grid():
    """60 accounts on 5 platforms over 10 days, each day missing a random quarter of them."""
    rng = random.Random(11)
    accounts = [
        AccountFactory(platform=PLATFORMS[n % 5], handle=f"h{rng.randrange(10**6):06d}") for n in range(60)
    ]
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=day(d), followers=rng.randrange(100))
            for d in range(10)
            for a in accounts
            if rng.random() < 0.75
        ]
    )
    return accounts


@pytest.mark.django_db
@pytest.mark.parametrize("pick_from", [0, 4, 30])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"account__platform": Platform.X},
        {"account__platform__in": [Platform.YOUTUBE, Platform.TRUTH_SOCIAL, Platform.BLUESKY]},
        {"date__gte": day(2), "date__lte": day(7)},
        {"account__platform__in": [Platform.X, Platform.MASTODON], "date__lt": day(6), "date__gt": day(1)},
        {"account__platform__in": [Platform.X], "date": day(4)},
        {"account__handle__icontains": "1"},  # not counted: the rows are counted instead
    ],
)
def test_every_deep_page_equals_the_plain_offset_query(uneven_grid, monkeypatch, pick_from, filters):
    # A small pick_from makes these small days take the path deep pages take on large ones.
    monkeypatch.setattr(selectors, "_PICK_ACCOUNTS_FROM", pick_from)
    monkeypatch.setattr(selectors, "_PROBE_FROM", pick_from)
    queryset = grid_queryset().filter(**filters)
    expected = list(queryset.values_list(*GRID_COLUMNS))
    for per_page in (1, 6, 17, 50):
        for offset in range(0, len(expected) + per_page, per_page):
            page = grid_page(queryset=queryset, offset=offset, limit=per_page)
            assert page.rows == expected[offset : offset + per_page], (per_page, offset)
            assert page.total.count == len(expected)


@pytest.mark.django_db
def test_a_platform_and_date_filtered_grid_never_counts_its_snapshots(uneven_grid, monkeypatch):
    monkeypatch.setattr(selectors, "_PICK_ACCOUNTS_FROM", 0)
    monkeypatch.setattr(selectors, "_PROBE_FROM", 0)
    queryset = grid_queryset().filter(account__platform__in=[Platform.X, Platform.BLUESKY], date__gte=day(3))
    expected = list(queryset.values_list(*GRID_COLUMNS))
    with CaptureQueriesContext(connection) as captured:
        page = grid_page(queryset=queryset, offset=len(expected) // 2, limit=5)
    assert page.rows == expected[len(expected) // 2 :][:5]
    assert page.total.count == len(expected)
    counting = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert counting == []


@pytest.mark.django_db
def test_only_platform_and_date_filters_are_answered_by_the_counts():
    base = grid_queryset()
    assert _counted_filters(base) == _CountedFilters(platforms=None, dates=())
    assert _counted_filters(base.filter(account__platform="x", date__gte=day(1))) == _CountedFilters(
        platforms=("x",), dates=(("gte", day(1)),)
    )
    both = base.filter(account__platform__in=["x", "youtube"]).filter(account__platform__in=["youtube"])
    assert _counted_filters(both).platforms == ("youtube",)
    for other in (
        base.filter(account__organization__name__iexact="Alpha"),
        base.filter(account__handle__icontains="a"),
        base.filter(account__is_core=True),
        base.exclude(account__platform="x"),
        base.filter(account__platform__in=Account.objects.values("platform")),
        base.filter(followers__gt=3),
    ):
        assert _counted_filters(other) is None


@pytest.mark.django_db
@pytest.mark.parametrize("filters", [{}, {"account__platform__in": [Platform.X, Platform.TRUTH_SOCIAL]}])
def test_cursor_pages_walk_every_row_once(uneven_grid, filters):
    queryset = grid_queryset().filter(**filters)
    expected = list(queryset.values_list(*GRID_COLUMNS))
    seen, after = [], None
    while True:
        rows = grid_rows_after(queryset=queryset, after=after, limit=7)
        seen += rows
        if len(rows) < 7:
            break
        last = rows[-1]
        after = GridCursor(date=last[3], platform=last[0], handle=last[1])
    assert seen == expected

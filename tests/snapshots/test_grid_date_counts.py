"""The snapshots per date kept by database triggers (`SnapshotDateCount`), and the grid pages they place.

Every way snapshots change must leave the counts equal to a plain GROUP BY date; the grid's pages
must equal a plain OFFSET query's rows at any depth, and its total must be exact.
"""

from __future__ import annotations

import datetime as dt
import io
import random

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, F

from accounts.models import Account, Platform
from snapshots import selectors
from snapshots.models import (
    Snapshot,
    SnapshotDateCount,
    SnapshotDateCountChange,
    SnapshotPlatformCount,
    SnapshotPlatformCountChange,
)
from snapshots.selectors import GRID_COLUMNS, grid_date_counts, grid_page, grid_queryset
from snapshots.services import SnapshotRow, snapshot_delete_many, snapshot_save, snapshot_upsert_many
from tests.factories import AccountFactory

START = dt.date(2026, 1, 1)


class _RolledBack(Exception):
    pass


def naive_counts() -> list[tuple[dt.date, int]]:
    rows = Snapshot.objects.order_by().values("date").annotate(n=Count("*")).values_list("date", "n")
    return sorted(rows, reverse=True)


def assert_exact() -> None:
    assert grid_date_counts() == naive_counts()


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


@pytest.mark.django_db
def test_every_write_path_keeps_the_counts_exact():
    rng = random.Random(20261128)
    accounts = [AccountFactory(platform=rng.choice(list(Platform)).value) for _ in range(25)]
    ids = [a.pk for a in accounts]
    assert_exact()

    # The upsert service: per batch, and one transaction; large enough for COPY on PostgreSQL.
    rows = [
        SnapshotRow(account_id=a, date=day(d), followers=rng.randrange(1000))
        for a in ids
        for d in range(200)
        if rng.random() < 0.9
    ]
    assert len(rows) > 4000
    snapshot_upsert_many(rows=rows, per_batch=False)
    assert_exact()
    for _ in range(3):  # new, changed and unchanged rows mixed, in small batches
        snapshot_upsert_many(
            rows=[
                SnapshotRow(
                    account_id=rng.choice(ids), date=day(rng.randrange(190, 230)), likes=rng.randrange(9)
                )
                for _ in range(300)
            ],
            batch_size=50,
        )
        assert_exact()

    # Bulk delete (one raw DELETE), and a queryset delete.
    snapshot_delete_many(snapshots=Snapshot.objects.filter(date__in=[day(d) for d in range(0, 200, 7)]))
    assert_exact()
    Snapshot.objects.filter(account_id=ids[0], date__gte=day(100)).delete()
    assert_exact()

    # Single saves (the admin, a shell): a new row, a row moved to another day or account, a delete
    # (on days before START, where nothing is yet: snapshot_save refuses a day in the future).
    snapshot_save(snapshot=Snapshot(account_id=ids[1], date=day(-40), followers=1))
    assert_exact()
    moved = Snapshot.objects.filter(account_id=ids[2]).order_by("date").first()
    moved.date = day(-41)
    moved.save()
    assert_exact()
    moved.account_id = ids[0]
    moved.date = day(-42)
    snapshot_save(snapshot=moved)
    assert_exact()
    Snapshot.objects.filter(account_id=ids[3]).order_by("-date").first().delete()
    assert_exact()
    Snapshot.objects.filter(account_id=ids[4], date__lt=day(50)).update(
        date=F("date") - dt.timedelta(days=999)
    )
    Snapshot.objects.filter(account_id=ids[5]).update(followers=5)  # the date untouched
    assert_exact()

    # Deleting an account deletes its snapshots (cascade).
    Account.objects.get(pk=ids[6]).delete()
    assert_exact()

    # CSV import, including a day already there.
    handle = accounts[7].handle
    text = "Platform,Handle,Date,Followers\n" + "".join(
        f"{accounts[7].platform},{handle},{day(d).isoformat()},{d}\n" for d in range(195, 260)
    )
    from snapshots.csv_import import csv_import

    csv_import(lines=io.StringIO(text, newline=""))
    assert_exact()

    # A savepoint rolled back takes its counts with it.
    try:
        with transaction.atomic():
            snapshot_upsert_many(rows=[SnapshotRow(account_id=ids[8], date=day(500), followers=1)])
            assert grid_date_counts()[0] == (day(500), 1)
            raise _RolledBack
    except _RolledBack:
        pass
    assert_exact()
    assert Snapshot.objects.filter(date=day(500)).count() == 0

    # Everything deleted at once.
    Snapshot.objects.all().delete()
    assert grid_date_counts() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_commits_fold_the_changes_into_one_row_per_date():
    accounts = [AccountFactory() for _ in range(5)]
    for round_ in range(3):
        snapshot_upsert_many(
            rows=[
                SnapshotRow(account_id=a.pk, date=day(d), followers=round_)
                for a in accounts
                for d in range(30)
            ],
            batch_size=20,
            per_batch=False,
        )
        Snapshot.objects.filter(date=day(round_)).delete()
    assert_exact()
    # Committed: only settled rows (one per date) remain, and no transaction is left open.
    assert not SnapshotDateCountChange.objects.exists()
    assert SnapshotDateCount.objects.count() == 30
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM snapshots_snapshotdatecount_open")
        assert cursor.fetchone()[0] == 0
        cursor.execute("TRUNCATE snapshots_snapshot")
    assert grid_date_counts() == []
    snapshot_upsert_many(rows=[SnapshotRow(account_id=accounts[0].pk, date=day(1), followers=1)])
    assert grid_date_counts() == [(day(1), 1)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_an_uncommitted_write_is_seen_only_by_its_own_transaction():
    account = AccountFactory()
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=day(0), followers=1)])
    with transaction.atomic():
        snapshot_upsert_many(
            rows=[SnapshotRow(account_id=account.pk, date=day(1), followers=1)], per_batch=False
        )
        assert grid_date_counts() == [(day(1), 1), (day(0), 1)]
        assert SnapshotDateCountChange.objects.count() == 1  # waiting for the commit
        other = connection.copy()  # a second connection: what another request sees meanwhile
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT date, snapshot_count FROM snapshots_snapshotdatecount ORDER BY date")
                assert cursor.fetchall() == [(day(0), 1)]
                cursor.execute("SELECT count(*) FROM snapshots_snapshotdatecountchange")
                assert cursor.fetchone() == (0,)
        finally:
            other.close()
    assert grid_date_counts() == [(day(1), 1), (day(0), 1)]


@pytest.fixture
def uneven_grid():
    """40 accounts on 4 platforms over 12 days, each day missing a random third of them."""
    rng = random.Random(7)
    platforms = [Platform.X, Platform.YOUTUBE, Platform.MASTODON, Platform.BLUESKY]
    accounts = [
        AccountFactory(platform=platforms[n % 4], handle=f"h{rng.randrange(10**6):06d}") for n in range(40)
    ]
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=day(d), followers=rng.randrange(100))
            for d in range(12)
            for a in accounts
            if rng.random() < 0.66
        ]
    )
    return accounts


@pytest.mark.django_db
@pytest.mark.parametrize("pick_from", [0, 3, 1000])
def test_every_page_equals_the_plain_offset_query(uneven_grid, monkeypatch, pick_from):
    # pick_from 0 and 3 make small days take the path that deep pages take on large ones.
    monkeypatch.setattr(selectors, "_PICK_ACCOUNTS_FROM", pick_from)
    queryset = grid_queryset()
    expected = list(queryset.values_list(*GRID_COLUMNS))
    total = Snapshot.objects.count()
    assert len(expected) == total
    for per_page in (1, 7, 13, 50):
        for offset in range(0, total + per_page, per_page):
            page = grid_page(queryset=queryset, offset=offset, limit=per_page)
            assert page.rows == expected[offset : offset + per_page], (per_page, offset)
            assert page.total.count == total
            assert page.total.estimated is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "ordering"),
    [
        ({"account__platform": Platform.X}, None),
        ({"date__gte": day(3), "date__lte": day(8)}, None),
        ({}, ("-followers", "-date", "account__platform", "account__handle")),
        ({"account__platform": Platform.MASTODON}, ("account__handle", "-date")),
    ],
)
def test_filtered_and_reordered_grids_keep_their_own_counts(uneven_grid, monkeypatch, filters, ordering):
    monkeypatch.setattr(selectors, "_PICK_ACCOUNTS_FROM", 2)
    queryset = grid_queryset().filter(**filters)
    if ordering:
        queryset = queryset.order_by(*ordering)
    expected = list(queryset.values_list(*GRID_COLUMNS))
    for offset in range(0, len(expected) + 5, 5):
        page = grid_page(queryset=queryset, offset=offset, limit=5)
        assert page.rows == expected[offset : offset + 5]
        assert page.total.count == len(expected)


@pytest.mark.django_db
def test_a_page_right_after_a_write_shows_it(uneven_grid, django_assert_num_queries):
    queryset = grid_queryset()
    before = grid_page(queryset=queryset, offset=0, limit=5)
    snapshot_upsert_many(rows=[SnapshotRow(account_id=uneven_grid[0].pk, date=day(30), followers=1)])
    with django_assert_num_queries(2):  # the maintained counts, the page's rows
        after = grid_page(queryset=queryset, offset=0, limit=1)
    assert after.total.count == before.total.count + 1
    assert after.rows[0][3] == day(30)


@pytest.mark.django_db
def test_the_rebuild_command_restores_counts_the_triggers_did_not_see(uneven_grid):
    SnapshotDateCount.objects.filter(date=day(3)).delete()
    SnapshotDateCountChange.objects.filter(date=day(3)).delete()  # PostgreSQL, not committed yet
    SnapshotDateCount.objects.create(date=day(99), snapshot_count=4)
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert "2 dates differ" in out.getvalue()
    assert f"{day(99).isoformat()}: 4 counted, 0 snapshots" in out.getvalue()
    assert grid_date_counts() != naive_counts()  # a dry run changes nothing

    call_command("rebuild_grid_counts", stdout=io.StringIO())
    assert_exact()
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert "Every date's count is right." in out.getvalue()


@pytest.mark.django_db
def test_the_rebuild_command_restores_the_per_platform_counts_too(uneven_grid):
    def per_platform() -> dict:
        return {(d, p): n for d, p, n in selectors.grid_platform_counts()}

    right = per_platform()
    SnapshotPlatformCount.objects.filter(date=day(5), platform=Platform.X).delete()
    SnapshotPlatformCountChange.objects.filter(date=day(5), platform=Platform.X).delete()  # PostgreSQL
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert f"{day(5).isoformat()} x: 0 counted, {right[(day(5), Platform.X)]} snapshots" in out.getvalue()
    assert "1 dates differ" in out.getvalue()

    call_command("rebuild_grid_counts", stdout=io.StringIO())
    assert per_platform() == right
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert "Every date's count is right." in out.getvalue()

"""Buckets of accounts in handle order (`snapshots.grid_buckets`), the snapshots per (date, platform,
bucket) the triggers of migration 0010 keep, and the deep grid pages they place.

Every write must leave the counts equal to a plain count of each account's snapshots in the bucket
its handle falls in; splitting must add boundaries only where a bucket grew, and never change what
a page shows; every page must equal a plain OFFSET query's rows; and a deep page must walk at most
half a bucket of accounts.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import random
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Platform
from scraping.models import RunMode
from scraping.runner import RunOptions, collect
from snapshots import selectors
from snapshots.grid_buckets import grid_buckets_split
from snapshots.models import GridBucket, Snapshot, SnapshotBucketCount, SnapshotBucketCountChange
from snapshots.selectors import GRID_COLUMNS, grid_bucket_counts, grid_page, grid_queryset
from snapshots.services import SnapshotRow, snapshot_delete_many, snapshot_save, snapshot_upsert_many
from tests.factories import AccountFactory

START = dt.date(2026, 1, 1)
PLATFORMS = [Platform.X, Platform.YOUTUBE, Platform.MASTODON]


class _RolledBack(Exception):
    pass


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def boundaries() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for platform, first in GridBucket.objects.order_by("platform", "first_handle").values_list(
        "platform", "first_handle"
    ):
        found.setdefault(platform, []).append(first)
    return found


def naive_counts() -> list[tuple[dt.date, str, str, int]]:
    """Each snapshot counted in its account's bucket, worked out here (the handles are ASCII, whose
    order both databases' collations share with Python's)."""
    bounds = boundaries()
    counts: Counter = Counter()
    for date, platform, handle in Snapshot.objects.values_list(
        "date", "account__platform", "account__handle"
    ):
        firsts = bounds.get(platform, [])
        at = bisect.bisect_right(firsts, handle)
        counts[date, platform, firsts[at - 1] if at else ""] += 1
    return sorted((date, platform, bucket, n) for (date, platform, bucket), n in counts.items())


def assert_exact() -> None:
    assert grid_bucket_counts() == naive_counts()


def handles(n: int, rng: random.Random) -> list[str]:
    return [f"h{value:06d}" for value in rng.sample(range(10**6), n)]


@pytest.mark.django_db
def test_every_write_path_keeps_the_bucket_counts_exact():
    rng = random.Random(20261204)
    accounts = [
        AccountFactory(platform=PLATFORMS[n % 3], handle=handle) for n, handle in enumerate(handles(30, rng))
    ]
    ids = [a.pk for a in accounts]
    assert grid_buckets_split(size=2) > 0  # 10 accounts per platform: buckets of 2 (or 3, the last)
    assert all(len(firsts) >= 3 for firsts in boundaries().values())

    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a, date=day(d), followers=rng.randrange(1000))
            for a in ids
            for d in range(40)
            if rng.random() < 0.9
        ],
        per_batch=False,
    )
    assert_exact()
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=rng.choice(ids), date=day(rng.randrange(30, 60)), likes=1)
            for _ in range(80)
        ],
        batch_size=20,
    )
    assert_exact()

    # Deletes: the service's bulk delete, a queryset delete, one row.
    snapshot_delete_many(snapshots=Snapshot.objects.filter(date__in=[day(d) for d in range(0, 40, 7)]))
    Snapshot.objects.filter(account_id=ids[0], date__gte=day(20)).delete()
    Snapshot.objects.filter(account_id=ids[1]).order_by("-date").first().delete()
    assert_exact()

    # A snapshot moved to another day, then to an account in another bucket; a day moved in bulk.
    moved = Snapshot.objects.filter(account_id=ids[2]).order_by("date").first()
    moved.date = day(-41)
    moved.save()
    assert_exact()
    moved.account_id = ids[5]
    snapshot_save(snapshot=moved)
    assert_exact()
    Snapshot.objects.filter(account_id=ids[3], date__lt=day(10)).update(
        date=F("date") - dt.timedelta(days=99)
    )
    assert_exact()

    # Renamed into another bucket (first and last of the platform), renamed within its bucket, moved
    # to another platform; in bulk too.
    account = Account.objects.get(pk=ids[4])
    for name in ("a-first", "z-last", "z-last-too"):
        account.handle = name
        account.save()
        assert_exact()
    account.platform = Platform.GITHUB
    account.save()
    assert_exact()
    Account.objects.filter(pk__in=ids[6:9]).update(handle=Concat(F("handle"), Value("x")))
    Account.objects.filter(pk__in=ids[9:12]).update(platform=Platform.REDDIT)
    assert_exact()

    # Deleting an account deletes its snapshots (cascade).
    Account.objects.get(pk=ids[12]).delete()
    assert_exact()

    # A savepoint rolled back takes its counts with it.
    try:
        with transaction.atomic():
            snapshot_upsert_many(rows=[SnapshotRow(account_id=ids[13], date=day(500), followers=1)])
            Account.objects.filter(pk=ids[14]).update(handle="a-moved")
            assert_exact()
            raise _RolledBack
    except _RolledBack:
        pass
    assert_exact()

    Snapshot.objects.all().delete()
    assert grid_bucket_counts() == []


@pytest.mark.django_db
def test_a_split_adds_boundaries_only_where_a_bucket_grew_and_recounts_it():
    rng = random.Random(5)
    names = sorted(handles(40, rng))
    for handle in names[:20]:
        AccountFactory(platform=Platform.X, handle=handle)
    AccountFactory(platform=Platform.YOUTUBE, handle="alone")
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a, date=day(d), followers=1)
            for a in Account.objects.values_list("pk", flat=True)
            for d in range(5)
        ]
    )
    assert grid_buckets_split(size=8) == 2  # x: 20 accounts, buckets of 8, 8 and 4; youtube: one
    assert boundaries() == {Platform.X: [names[8], names[16]]}
    assert_exact()
    assert grid_buckets_split(size=8) == 0  # none grew past 16

    # Accounts added after the last bucket's first: it grows past twice the size and splits alone.
    for handle in names[20:]:
        AccountFactory(platform=Platform.X, handle=handle)
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=day(1), followers=2)
            for a in Account.objects.filter(handle__in=names[20:])
        ]
    )
    assert_exact()
    assert grid_buckets_split(size=8) == 2  # names[16:] now 24 accounts: from names[24] and names[32]
    assert boundaries() == {Platform.X: [names[8], names[16], names[24], names[32]]}
    assert_exact()


@pytest.fixture
def bucketed_grid():
    """45 accounts on 3 platforms over 6 days, each day missing a random quarter of them, in buckets
    of 3 to 5 accounts."""
    rng = random.Random(17)
    accounts = [
        AccountFactory(platform=PLATFORMS[n % 3], handle=handle) for n, handle in enumerate(handles(45, rng))
    ]
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=day(d), followers=rng.randrange(100))
            for d in range(6)
            for a in accounts
            if rng.random() < 0.75
        ]
    )
    grid_buckets_split(size=3)
    return accounts


@pytest.mark.django_db
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"account__platform": Platform.YOUTUBE},
        {"account__platform__in": [Platform.X, Platform.MASTODON], "date__gte": day(2)},
    ],
)
def test_every_page_over_buckets_equals_the_plain_offset_query(bucketed_grid, monkeypatch, filters):
    monkeypatch.setattr(selectors, "_PICK_ACCOUNTS_FROM", 0)
    monkeypatch.setattr(selectors, "_PROBE_FROM", 0)
    queryset = grid_queryset().filter(**filters)
    expected = list(queryset.values_list(*GRID_COLUMNS))
    for per_page in (1, 2, 4, 7, 30):
        for offset in range(0, len(expected) + per_page, per_page):
            page = grid_page(queryset=queryset, offset=offset, limit=per_page)
            assert page.rows == expected[offset : offset + per_page], (per_page, offset)
            assert page.total.count == len(expected)

    # A split or a rename changes where the buckets are, never what a page shows.
    Account.objects.filter(pk=bucketed_grid[7].pk).update(handle="a-renamed")
    AccountFactory.create_batch(12, platform=Platform.YOUTUBE)  # "account…": all in one bucket
    grid_buckets_split(size=3)
    expected = list(queryset.values_list(*GRID_COLUMNS))
    for offset in range(len(expected)):
        assert grid_page(queryset=queryset, offset=offset, limit=3).rows == expected[offset : offset + 3]


@pytest.mark.django_db
def test_a_deep_page_walks_at_most_half_a_bucket(monkeypatch):
    rng = random.Random(3)
    accounts = [AccountFactory(platform=Platform.X, handle=handle) for handle in handles(120, rng)]
    snapshot_upsert_many(rows=[SnapshotRow(account_id=a.pk, date=day(0), followers=1) for a in accounts])
    grid_buckets_split(size=10)
    monkeypatch.setattr(selectors, "_PICK_ACCOUNTS_FROM", 0)
    monkeypatch.setattr(selectors, "_PROBE_FROM", 0)
    queryset = grid_queryset()
    expected = list(queryset.values_list(*GRID_COLUMNS))
    for offset in (37, 55, 64, 93):
        with CaptureQueriesContext(connection) as captured:
            page = grid_page(queryset=queryset, offset=offset, limit=2)
        assert page.rows == expected[offset : offset + 2]
        skipped = [int(n) for q in captured for n in re.findall(r"OFFSET (\d+)", q["sql"])]
        assert skipped
        assert max(skipped) <= 5, skipped  # half of a bucket of 10, not of 120 accounts


@pytest.mark.django_db
def test_a_collection_run_splits_the_buckets_before_it_writes():
    for n in range(40):
        AccountFactory(platform=Platform.BLUESKY, handle=f"b{n:03d}.bsky.social")
    assert not GridBucket.objects.exists()
    collect(options=RunOptions(mode=RunMode.SIMULATED, date=day(0)))
    assert not GridBucket.objects.exists()  # 40 accounts: one bucket
    for n in range(40, 600):
        AccountFactory(platform=Platform.BLUESKY, handle=f"b{n:03d}.bsky.social")
    collect(options=RunOptions(mode=RunMode.SIMULATED, date=day(1)))
    assert boundaries() == {Platform.BLUESKY: ["b256.bsky.social", "b512.bsky.social"]}
    assert_exact()


@pytest.mark.django_db
def test_the_rebuild_command_restores_the_bucket_counts_and_splits(bucketed_grid):
    right = grid_bucket_counts()
    date, platform, bucket, n = right[4]
    SnapshotBucketCount.objects.filter(date=date, platform=platform, bucket=bucket).delete()
    SnapshotBucketCountChange.objects.filter(
        date=date, platform=platform, bucket=bucket
    ).delete()  # PostgreSQL
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert f"{date.isoformat()} {platform} from {bucket!r}: 0 counted, {n} snapshots" in out.getvalue()
    assert "1 dates differ" in out.getvalue()

    GridBucket.objects.filter(platform=Platform.X).delete()  # as if never split: one bucket of 15
    call_command("rebuild_grid_counts", stdout=io.StringIO())
    assert Platform.X not in boundaries()  # 15 accounts: no bucket to split at the default size
    assert grid_bucket_counts() != right
    assert_exact()
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert "Every date's count is right." in out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_commits_fold_the_bucket_changes_and_a_transaction_sees_its_own():
    rng = random.Random(8)
    accounts = [AccountFactory(platform=PLATFORMS[n % 3], handle=h) for n, h in enumerate(handles(12, rng))]
    grid_buckets_split(size=1)
    snapshot_upsert_many(
        rows=[SnapshotRow(account_id=a.pk, date=day(d), followers=1) for a in accounts for d in range(10)],
        batch_size=25,
        per_batch=False,
    )
    assert_exact()
    assert not SnapshotBucketCountChange.objects.exists()
    committed = grid_bucket_counts()
    with transaction.atomic():
        Account.objects.filter(pk=accounts[0].pk).update(handle="a-first")
        assert_exact()  # not committed: the transaction's own changes are added
        other = connection.copy()  # what another request sees meanwhile
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    "SELECT date, platform, bucket, snapshot_count FROM snapshots_snapshotbucketcount "
                    "WHERE snapshot_count > 0 ORDER BY 1, 2, 3"
                )
                assert cursor.fetchall() == committed
        finally:
            other.close()
    assert_exact()
    assert not SnapshotBucketCountChange.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE snapshots_snapshot")
    assert grid_bucket_counts() == []

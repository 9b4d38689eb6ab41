"""Buckets of accounts in handle order, so that a deep grid page walks a bucket, not a platform.

Inside one platform's day the grid's rows are in handle order. A page deep inside it used to walk
that platform's accounts from the nearer end, probing each one's snapshot of the day: 5,052 index
probes, 30.9 ms, at 100,000 accounts. The triggers of migration 0010 count the snapshots per (date,
platform, bucket) (`SnapshotBucketCount`); a page skips whole buckets by those counts and walks at
most half of one (`selectors._rows_of_platform_day`).

A bucket is named by the first handle it holds (`GridBucket`); its accounts are those of its
platform from that handle up to the next bucket's, so an account added or renamed falls into a
bucket without moving any boundary. Boundaries are only ever added: `grid_buckets_split` splits a
bucket that has grown past twice ACCOUNTS_PER_BUCKET accounts, under a lock that keeps writers out
while it recounts the bucket's snapshots. A collection run calls it as it starts, and
`manage.py rebuild_grid_counts` too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from accounts.models import Account

from .models import GridBucket, Snapshot, SnapshotBucketCount, SnapshotBucketCountChange
from .selectors import grid_bucket_counts

#: Accounts per bucket: a deep page probes at most half of one, and a platform's day has one count
#: row per bucket (55 per platform and day at 100,000 accounts on 7 platforms).
ACCOUNTS_PER_BUCKET = 256


@dataclass(frozen=True, slots=True)
class _Split:
    platform: str
    first: str  #: the bucket split ("" before every boundary of its platform)
    next: str | None  #: the boundary after it, None for the platform's last bucket
    boundaries: list[str]  #: the new buckets' first handles


def _bucket_of(platform: str, handle: str) -> str:
    """SQL: the bucket of an account of `platform` named `handle` (as migration 0010's triggers)."""
    return (
        f"coalesce((SELECT max(b.first_handle) FROM {GridBucket._meta.db_table} b "
        f"WHERE b.platform = {platform} AND b.first_handle <= {handle}), '')"
    )


def _accounts_with_boundaries(using: str) -> Iterator[tuple[str, str, int]]:
    """(platform, name, is a boundary) of every account and every boundary, in the grid's order (the
    database's collation, which Python's string order need not match); a boundary comes before
    the account whose handle it is."""
    sql = (
        f"SELECT platform, handle, 0 AS boundary FROM {Account._meta.db_table} "
        f"UNION ALL SELECT platform, first_handle, 1 FROM {GridBucket._meta.db_table} "
        "ORDER BY 1, 2, 3 DESC"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
        while rows := cursor.fetchmany(10_000):
            yield from rows


def _splits(*, using: str, size: int) -> list[_Split]:
    """Every bucket holding more than 2 * `size` accounts, and where it splits into `size` each."""
    splits = []
    for platform, names in groupby(_accounts_with_boundaries(using), key=itemgetter(0)):
        first, handles = "", []
        for _, name, boundary in names:
            if boundary:
                if len(handles) > 2 * size:
                    splits.append(_Split(platform, first, name, handles[size::size]))
                first, handles = name, []
            else:
                handles.append(name)
        if len(handles) > 2 * size:
            splits.append(_Split(platform, first, None, handles[size::size]))
    return splits


def _lock_writers_out(using: str) -> None:
    """PostgreSQL: until the transaction ends, no snapshot or account is written (reads go on) and no
    other split runs. SQLite has one writer at a time already."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            tables = f"{Snapshot._meta.db_table}, {Account._meta.db_table}"
            cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")


def _add_boundaries(splits: list[_Split], *, using: str) -> int:
    buckets = [GridBucket(platform=s.platform, first_handle=h) for s in splits for h in s.boundaries]
    GridBucket.objects.using(using).bulk_create(buckets)
    return len(buckets)


def _count_sql(where: str = "", *, into: str = "") -> str:
    """SQL: (date, platform, bucket, snapshots) of the accounts `where` selects (alias `acc`), each
    account's bucket looked up once (not once per snapshot), `into` a table if given."""
    accounts = (
        f"SELECT acc.id, acc.platform, {_bucket_of('acc.platform', 'acc.handle')} AS bucket "
        f"FROM {Account._meta.db_table} acc {where}"
    )
    return (
        f"WITH a AS MATERIALIZED ({accounts}) {into} "
        f"SELECT s.date, a.platform, a.bucket, count(*) FROM {Snapshot._meta.db_table} s "
        "JOIN a ON a.id = s.account_id GROUP BY s.date, a.platform, a.bucket"
    )


def _counts_into() -> str:
    return f"INSERT INTO {SnapshotBucketCount._meta.db_table} (date, platform, bucket, snapshot_count)"


def grid_buckets_split(*, using: str = DEFAULT_DB_ALIAS, size: int = ACCOUNTS_PER_BUCKET) -> int:
    """Split every bucket that holds more than 2 * `size` accounts into buckets of `size` and recount
    their snapshots; returns the number of buckets added. Looks first without a lock (one read of
    the accounts' handles: 0.1 s at 100,000 accounts); locks writers out only when there is a split
    to make, then for a recount of that bucket's snapshots alone."""
    if not _splits(using=using, size=size):
        return 0
    counts, changes = SnapshotBucketCount._meta.db_table, SnapshotBucketCountChange._meta.db_table
    with transaction.atomic(using=using):
        _lock_writers_out(using)
        splits = _splits(using=using, size=size)  # again, now that nothing can change under it
        added = _add_boundaries(splits, using=using)
        with connections[using].cursor() as cursor:
            for split in splits:  # the range of handles the split bucket held
                params = [split.platform, split.first, *([] if split.next is None else [split.next])]
                before_next = "" if split.next is None else " AND {} < %s"
                # Under the lock the only changes not folded yet are this transaction's own.
                for table in (counts, changes):
                    where = f"platform = %s AND bucket >= %s{before_next.format('bucket')}"
                    cursor.execute(f"DELETE FROM {table} WHERE {where}", params)
                where = f"WHERE acc.platform = %s AND acc.handle >= %s{before_next.format('acc.handle')}"
                cursor.execute(_count_sql(where, into=_counts_into()), params)
    return added


def grid_bucket_counts_rebuild(*, using: str = DEFAULT_DB_ALIAS, size: int = ACCOUNTS_PER_BUCKET) -> int:
    """Split what has grown, then replace every bucket's counts with a fresh count of the snapshots
    (for `rebuild_grid_counts`, when triggers were bypassed); returns the number of buckets added.
    Writers are locked out meanwhile on PostgreSQL."""
    counts = SnapshotBucketCount._meta.db_table
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        _lock_writers_out(using)
        added = _add_boundaries(_splits(using=using, size=size), using=using)
        cursor.execute(f"DELETE FROM {counts}")
        cursor.execute(f"DELETE FROM {SnapshotBucketCountChange._meta.db_table}")
        cursor.execute(_count_sql(into=_counts_into()))
    return added


def grid_bucket_count_differences(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, tuple[int, int]]:
    """("date platform from bucket": (maintained count, actual count)) wherever the two differ."""
    kept = {
        (date.isoformat(), platform, bucket): n
        for date, platform, bucket, n in grid_bucket_counts(using=using)
    }
    with connections[using].cursor() as cursor:
        cursor.execute(_count_sql())
        actual = {(str(date), platform, bucket): n for date, platform, bucket, n in cursor.fetchall()}
    return {
        f"{date} {platform} from {bucket!r}": (kept.get(key, 0), actual.get(key, 0))
        for key in kept.keys() | actual.keys()
        if kept.get(key, 0) != actual.get(key, 0)
        for date, platform, bucket in [key]
    }

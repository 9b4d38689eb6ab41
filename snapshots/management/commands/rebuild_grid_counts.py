"""Recompute the number of snapshots per date, per date and platform, and per date, platform and
bucket of accounts that the grid reads (`SnapshotDateCount`, `SnapshotPlatformCount`,
`SnapshotBucketCount`), and the number of accounts the account list reads (`AccountCount`); split
the buckets that have grown (`snapshots.grid_buckets`).

    manage.py rebuild_grid_counts [--dry-run]

Database triggers keep these counts exact on every write, whatever path it takes (migrations
snapshots/0003, snapshots/0008, snapshots/0010 and accounts/0003).
This command restores them if the triggers were bypassed: triggers disabled during a restore
(`session_replication_role = replica`, `ALTER TABLE ... DISABLE TRIGGER`), or a raw fix of the
counts table. With --dry-run it only compares the counts with the snapshots and lists the dates
that differ.

Output: the result (and, for a dry run, each date that differs) at -v 1, the default; nothing at
-v 0; a bar that says the count goes on, on a terminal.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Count

from accounts.models import Account, AccountCount, AccountCountChange
from accounts.selectors import account_count
from snapshots.grid_buckets import grid_bucket_count_differences, grid_bucket_counts_rebuild
from snapshots.models import (
    Snapshot,
    SnapshotDateCount,
    SnapshotDateCountChange,
    SnapshotPlatformCount,
    SnapshotPlatformCountChange,
)
from snapshots.selectors import grid_date_counts, grid_platform_counts
from socialmetrics.command_progress import command_progress


def date_count_differences(*, using: str = DEFAULT_DB_ALIAS) -> list[tuple[str, int, int]]:
    """(date, or "date platform", maintained count, actual count) of every date, and every date's
    platform, where the two differ, newest first."""
    snapshots = Snapshot.objects.using(using).order_by()
    stored = {date.isoformat(): n for date, n in grid_date_counts(using=using)}
    actual = {
        date.isoformat(): n
        for date, n in snapshots.values("date").annotate(n=Count("*")).values_list("date", "n")
    }
    stored |= {f"{d.isoformat()} {p}": n for d, p, n in grid_platform_counts(using=using)}
    by_platform = snapshots.values("date", "account__platform").annotate(n=Count("*"))
    actual |= {
        f"{d.isoformat()} {p}": n for d, p, n in by_platform.values_list("date", "account__platform", "n")
    }
    stored["accounts"], actual["accounts"] = account_count(using=using), Account.objects.using(using).count()
    for key, (kept, counted) in grid_bucket_count_differences(using=using).items():
        stored[key], actual[key] = kept, counted
    return [
        (key, stored.get(key, 0), actual.get(key, 0))
        for key in sorted(stored.keys() | actual.keys(), reverse=True)
        if stored.get(key, 0) != actual.get(key, 0)
    ]


def date_counts_rebuild(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """Replace the counts with a fresh count of the snapshots (splitting the buckets that have grown
    first), and the number of accounts with a fresh count of them; returns the number of dates.

    On PostgreSQL the snapshot and account tables are locked against writes (reads go on) while
    they are counted, so no write can slip in between a count and its replacement.
    """
    counts = SnapshotDateCount._meta.db_table
    changes = SnapshotDateCountChange._meta.db_table
    platform_counts = SnapshotPlatformCount._meta.db_table
    platform_changes = SnapshotPlatformCountChange._meta.db_table
    snapshots = Snapshot._meta.db_table
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {snapshots} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {counts}")
        cursor.execute(f"DELETE FROM {changes}")  # none outside a writing transaction, but for sure
        cursor.execute(
            f"INSERT INTO {counts} (date, snapshot_count) "
            f"SELECT date, count(*) FROM {snapshots} GROUP BY date"
        )
        dates = cursor.rowcount
        cursor.execute(f"DELETE FROM {platform_counts}")
        cursor.execute(f"DELETE FROM {platform_changes}")
        cursor.execute(
            f"INSERT INTO {platform_counts} (date, platform, snapshot_count) "
            f"SELECT s.date, a.platform, count(*) FROM {snapshots} s "
            f"JOIN {Account._meta.db_table} a ON a.id = s.account_id GROUP BY s.date, a.platform"
        )
        accounts, account_count_table = Account._meta.db_table, AccountCount._meta.db_table
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {accounts} IN SHARE MODE")
        cursor.execute(f"DELETE FROM {account_count_table}")
        cursor.execute(f"DELETE FROM {AccountCountChange._meta.db_table}")
        cursor.execute(
            f"INSERT INTO {account_count_table} (id, account_count) SELECT 1, count(*) FROM {accounts}"
        )
        grid_bucket_counts_rebuild(using=using)
        return dates


class Command(BaseCommand):
    help = "Recompute the number of snapshots per date (the grid's total and page positions)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only compare the maintained counts with the snapshots and list the dates that differ.",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database to work on (default: default)."
        )

    def handle(self, *args, dry_run: bool, database: str, verbosity: int, **options):
        started = time.perf_counter()
        with command_progress(self, verbosity=verbosity, description="counting snapshots per date"):
            if dry_run:
                differences = date_count_differences(using=database)
            else:
                dates = date_counts_rebuild(using=database)
        elapsed = time.perf_counter() - started
        if verbosity < 1:
            return
        if dry_run:
            for date, stored, actual in differences:
                counted = "accounts" if date == "accounts" else "snapshots"
                self.stdout.write(f"{date}: {stored} counted, {actual} {counted}")
            message = f"{len(differences)} dates differ." if differences else "Every date's count is right."
            self.stdout.write(self.style.WARNING(message) if differences else self.style.SUCCESS(message))
            return
        self.stdout.write(self.style.SUCCESS(f"Recounted the snapshots of {dates} dates in {elapsed:.1f} s."))

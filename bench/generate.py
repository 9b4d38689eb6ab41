"""Build the benchmark data set: N accounts x D days of snapshots with realistic gaps.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialmetrics_bench \\
        .venv/bin/python bench/generate.py --accounts 10000 --days 365

Uses the fastest path the database offers: PostgreSQL COPY (binary rows straight from Python),
batched multi-row inserts on SQLite. Existing benchmark accounts (handles starting with "bench")
and their snapshots are replaced. The maintained latest rows are rebuilt at the end. Prints the
rows written and the rows per second; `--json` prints them as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.dev")

PLATFORMS = ["x", "facebook", "instagram", "youtube", "linkedin", "bluesky", "mastodon", "tiktok", "threads"]
GAP_RATE = 0.012
WEEKLY = (1.1, 1.2, 1.15, 1.1, 0.95, 0.35, 0.25)
BENCH_PREFIX = "bench"


def setup_django() -> None:
    import django

    django.setup()


def snapshot_rows(*, account_ids: list[int], days: int, end: dt.date, seed: int = 42):
    """(account_id, date, followers, following, posts, likes, comments, shares, views, source,
    precision, collected_at) for every account-day, minus ~1.2% missing days. Deterministic."""
    rng = random.Random(seed)
    noise = [rng.random() for _ in range(8191)]
    start = end - dt.timedelta(days=days - 1)
    dates = [start + dt.timedelta(days=n) for n in range(days)]
    weekly = [WEEKLY[d.weekday()] for d in dates]
    collected = dt.datetime.combine(end, dt.time(6, 0), tzinfo=dt.UTC)
    for index, account_id in enumerate(account_ids):
        r = random.Random(seed * 100_003 + index)
        followers = 10 ** (2.5 + 4.2 * r.random() ** 1.3)
        growth = 1 + (-0.0003 + 0.0028 * r.random() ** 1.5)
        rate = 0.0008 + 0.02 * r.random() ** 2
        following = int(20 + 2000 * r.random() ** 3)
        posts = int(300 + 3000 * r.random())
        per_day = 0.2 + 4.8 * r.random() ** 2
        views_ratio = 15 + 50 * r.random()
        offset = index * 131
        for n in range(days):
            followers *= growth
            u = noise[(offset + n) % 8191]
            if u < GAP_RATE:
                continue
            posts += int(per_day * weekly[n] + u)
            likes = int(followers * rate * weekly[n] * (0.5 + u) * 0.25)
            yield (
                account_id, dates[n], int(followers), following, posts, likes, int(likes * 0.05),
                int(likes * 0.1), int(likes * views_ratio), "simulated", "exact", collected,
            )  # fmt: skip


COLUMNS = (
    "account_id", "date", "followers", "following", "posts", "likes", "comments", "shares", "views",
    "source", "precision", "collected_at",
)  # fmt: skip


def _handle(n: int) -> str:
    """A handle the platform's rules accept (Bluesky handles are domains, Mastodon's name@host),
    so the data set's own CSV export imports back."""
    platform = PLATFORMS[n % len(PLATFORMS)]
    name = f"{BENCH_PREFIX}{n:05d}"
    if platform == "bluesky":
        return f"{name}.bsky.social"
    if platform == "mastodon":
        return f"{name}@mastodon.social"
    return name


def create_accounts(count: int) -> list[int]:
    from django.db import transaction

    from accounts.models import Account, Organization
    from snapshots.models import Snapshot
    from snapshots.services import snapshot_delete_many

    with transaction.atomic():
        old = Account.objects.filter(handle__startswith=BENCH_PREFIX)
        snapshot_delete_many(snapshots=Snapshot.objects.filter(account__in=old))
        old.delete()
        orgs = [Organization(name=f"Bench organization {n:03d}") for n in range(100)]
        Organization.objects.bulk_create(orgs, ignore_conflicts=True)
        orgs = list(Organization.objects.filter(name__startswith="Bench organization").order_by("name"))
        accounts = [
            Account(
                platform=PLATFORMS[n % len(PLATFORMS)],
                handle=_handle(n),
                display_name=f"Bench account {n}",
                organization=orgs[n % len(orgs)],
                is_core=n % 10 == 0,
                profile_url=f"https://example.org/{BENCH_PREFIX}{n:05d}",
                instance_host="mastodon.social" if PLATFORMS[n % len(PLATFORMS)] == "mastodon" else "",
            )
            for n in range(count)
        ]
        Account.objects.bulk_create(accounts, batch_size=2000)
    return list(
        Account.objects.filter(handle__startswith=BENCH_PREFIX).order_by("pk").values_list("pk", flat=True)
    )


def write_postgresql(rows) -> int:
    from django.db import connection

    written = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY snapshots_snapshot ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                written += 1
    return written


def write_sqlite(rows, batch: int = 500) -> int:
    from django.db import connection

    placeholders = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
    written = 0
    pending: list = []
    with connection.cursor() as cursor:

        def flush() -> None:
            sql = f"INSERT INTO snapshots_snapshot ({', '.join(COLUMNS)}) VALUES " + ", ".join(
                [placeholders] * len(pending)
            )
            cursor.execute(sql, [value for row in pending for value in row])

        per_statement = max(1, min(batch, 30000 // len(COLUMNS)))
        for row in rows:
            pending.append(row)
            if len(pending) >= per_statement:
                flush()
                written += len(pending)
                pending = []
        if pending:
            flush()
            written += len(pending)
    return written


def generate(*, accounts: int, days: int, end: dt.date) -> dict:
    from django.db import connection, transaction

    from snapshots.services import latest_rebuild_all

    started = time.perf_counter()
    account_ids = create_accounts(accounts)
    rows = snapshot_rows(account_ids=account_ids, days=days, end=end)
    copy_started = time.perf_counter()
    with transaction.atomic():
        written = write_postgresql(rows) if connection.vendor == "postgresql" else write_sqlite(rows)
    copy_seconds = time.perf_counter() - copy_started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE snapshots_snapshot")
    latest_started = time.perf_counter()
    latest_rebuild_all()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE snapshots_accountlatest; ANALYZE accounts_account")
    total = time.perf_counter() - started
    return {
        "backend": connection.vendor,
        "accounts": accounts,
        "days": days,
        "snapshots": written,
        "seconds": round(total, 2),
        "write_seconds": round(copy_seconds, 2),
        "latest_seconds": round(time.perf_counter() - latest_started, 2),
        "rows_per_second": math.floor(written / copy_seconds) if copy_seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--end", default="", help="Last day (YYYY-MM-DD; default today).")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    setup_django()
    from socialmetrics.dates import local_today

    end = dt.date.fromisoformat(args.end) if args.end else local_today()
    result = generate(accounts=args.accounts, days=args.days, end=end)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['snapshots']:,} snapshots for {result['accounts']:,} accounts x {result['days']} days "
            f"on {result['backend']} in {result['seconds']} s "
            f"({result['rows_per_second']:,} rows/s written; "
            f"latest rows rebuilt in {result['latest_seconds']} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

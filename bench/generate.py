"""Build the benchmark data set: N accounts x D days of the simulation's snapshots, with its gaps.

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
import sys
import time
from bisect import bisect_right
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.dev")

PLATFORMS = ["x", "facebook", "instagram", "youtube", "linkedin", "bluesky", "mastodon", "tiktok", "threads"]
BENCH_PREFIX = "bench"


def setup_django() -> None:
    import django

    django.setup()


def snapshot_rows(*, accounts: list[tuple[int, str, str]], days: int, end: dt.date):
    """(account_id, date, followers, following, posts, likes, comments, shares, views, source,
    precision, collected_at) of every (account id, platform, handle) for the `days` days ending on
    `end`: the simulation's own series (`scraping.simulation.simulate_day`, the numbers a simulated
    collection writes), without the days it leaves out (`is_missing`, about 1.2 %). So a simulated
    collection of the next day continues each account's history as the daily run does, and the
    anomaly rule finds in it only the simulation's own spikes and drops.

    The same numbers as `simulate_day`, computed a whole account at a time: the account's profile,
    events and hashes once, each day's constants once for every account, no dict per row (about
    2.3x faster than calling `simulate_day` per row). tests/bench/test_generate.py checks that every
    value equals `simulate_day`'s and that the days left out are `is_missing`'s."""
    from scraping import simulation as sim

    start = end - dt.timedelta(days=days - 1)
    dates = [start + dt.timedelta(days=n) for n in range(days)]
    epoch = sim.EPOCH.toordinal()
    ordinals = [d.toordinal() for d in dates]
    ts = [o - epoch for o in ordinals]
    growth_days = [sim._growth_days(t) for t in ts]
    t_over_9 = [t / 9 for t in ts]
    rhythm = [sim.WEEKLY_RHYTHM[d.weekday()] for d in dates]
    # Events (spikes and drops) stop where growth levels off, as in simulate_day.
    event_ts = [min(t, sim._GROWTH_DAYS + sim._LEVEL_OFF_DAYS) for t in ts]
    # The per-day salts of is_missing's and simulate_day's hashes (the account's seed XORs in).
    missing_salt = [(o * 0xA0761D6478BD642F) ^ 0x5555 for o in ordinals]
    day_salt = [o * 0xD6E8FEB86659FD93 for o in ordinals]
    mix, u16, missing_rate, mean_rhythm = sim._mix, sim._U16, sim.MISSING_DAY_RATE, sim._MEAN_RHYTHM
    exp, sin = math.exp, math.sin
    collected = dt.datetime.combine(end, dt.time(6, 0), tzinfo=dt.UTC)
    last = max(event_ts)
    for account_id, platform, handle in accounts:
        key = f"{platform}:{handle.lower()}"  # Account.key, as the simulated collector names it
        p = sim.profile(key)
        seed = sim._seed(key)
        # Every event up to the last day (a longer horizon only appends events; see sim._events).
        event_days, jumps, factors = (
            sim._events(key, last // sim.BLOCK_DAYS) if last >= 0 else ([], [], [1.0])
        )
        engagement = platform not in sim.NO_ENGAGEMENT
        views = platform not in sim.NO_VIEWS
        rounded = platform in sim.ROUNDED_PLATFORMS
        precision = "rounded" if rounded else "exact"
        for n in range(days):
            if (mix(seed ^ missing_salt[n]) & 0xFFFF) / u16 < missing_rate:
                continue
            t, te = ts[n], event_ts[n]
            if te < 0:
                events, after_spike = 1.0, False
            else:
                k = bisect_right(event_days, te)
                events = factors[k]
                after_spike = k > 0 and te - event_days[k - 1] <= 2 and jumps[k - 1] > 0
            wobble = 1 + 0.0015 * sin(t_over_9[n] + p.wobble_phase)
            followers = int(p.base_followers * exp(p.daily_growth * growth_days[n]) * events * wobble)
            following = max(0, int(p.base_following + p.following_per_day * t))
            posts = max(0, p.base_posts + int(p.posts_per_day * mean_rhythm * t))
            likes = comments = shares = viewed = None
            if engagement:
                h = mix(seed ^ day_salt[n])
                posts_today = int(p.posts_per_day * rhythm[n] * (0.4 + 1.2 * ((h & 0xFFFF) / u16)) + 0.5)
                activity = (0.3 + 0.7 * min(posts_today, 6)) * (0.6 + 0.8 * (((h >> 16) & 0xFFFF) / u16))
                if after_spike:
                    activity *= 3 + 5 * (((h >> 32) & 0xFFFF) / u16)
                likes = int(followers * p.engagement_rate * activity * 0.25)
                comments = int(likes * p.comment_ratio)
                shares = int(likes * p.share_ratio)
                if views:
                    viewed = int(likes * p.views_ratio * (0.8 + 0.4 * (((h >> 48) & 0xFFFF) / u16)))
            if rounded:
                followers = sim._round_sig(followers)
            yield (
                account_id, dates[n], followers, following, posts, likes, comments, shares, viewed,
                "simulated", precision, collected,
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


def create_accounts(count: int) -> list[tuple[int, str, str]]:
    """Replace the benchmark accounts with `count` new ones: (id, platform, handle) of each."""
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
        Account.objects.filter(handle__startswith=BENCH_PREFIX)
        .order_by("pk")
        .values_list("pk", "platform", "handle")
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
    created = create_accounts(accounts)
    rows = snapshot_rows(accounts=created, days=days, end=end)
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

"""Build the benchmark data set: N accounts x D days of the simulation's snapshots, with its gaps.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialmetrics_bench \\
        .venv/bin/python bench/generate.py --accounts 10000 --days 365 [--workers 2]

Uses the fastest path the database offers: on PostgreSQL, worker processes (one per CPU by
default) each compute chunks of accounts and COPY them in binary over a connection of their own, a
transaction per chunk; on SQLite, batched multi-row inserts in one process and one transaction.
Existing benchmark accounts (handles starting with "bench") and their snapshots are replaced first,
so a run that fails halfway leaves a partial data set, which the next run replaces. The maintained
latest rows are rebuilt at the end. Prints the rows written and the rows per second; `--json`
prints them as JSON for bench/run.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import multiprocessing
import os
import struct
import sys
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.dev")

PLATFORMS = ["x", "facebook", "instagram", "youtube", "linkedin", "bluesky", "mastodon", "tiktok", "threads"]
BENCH_PREFIX = "bench"

COLUMNS = (
    "account_id", "date", "followers", "following", "posts", "likes", "comments", "shares", "views",
    "source", "precision", "collected_at",
)  # fmt: skip

#: When the generated snapshots were collected: 06:00 UTC on the last day.
COLLECTED_AT = dt.time(6, 0)

#: Snapshots per COPY transaction: each worker commits a chunk at a time, so no transaction queues
#: millions of deferred foreign-key checks (the 100,000-account tier writes 36.5 M rows).
CHUNK_ROWS = 150_000


def setup_django() -> None:
    import django

    django.setup()


# --- The simulation's series, a whole account at a time ------------------------------------------

_MASK = (1 << 64) - 1
#: Where PostgreSQL's binary dates and times count from.
_PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class _SplitMixLanes:
    """splitmix64 (`scraping.simulation._mix`) of `seed ^ salt` for every salt of a list at once,
    for one 64-bit seed: the salts sit side by side in one Python int, 128 bits apart, so that a sum or a
    product of one 64-bit lane never reaches the next (every step masks each lane back to 64
    bits). A dozen big-integer operations per account instead of a dozen per day: a day's two
    hashes cost 0.19 us instead of 1.39 us through `_mix` (measured at 300 x 365)."""

    def __init__(self, salts: list[int]) -> None:
        self.count = len(salts)
        self.ones = int.from_bytes((b"\x01" + bytes(15)) * self.count, "little")
        self.lanes = int.from_bytes(b"\xff" * 8 + bytes(8), "little") * self.ones
        # splitmix64 adds its constant and masks to 64 bits first: only the salts' low 64 bits count.
        self.salts = int.from_bytes(b"".join((s & _MASK).to_bytes(16, "little") for s in salts), "little")
        self.increment = 0x9E3779B97F4A7C15 * self.ones

    def __call__(self, seed: int) -> array:
        lanes = self.lanes
        v = ((self.salts ^ (seed * self.ones)) + self.increment) & lanes
        v = ((v ^ ((v >> 30) & lanes)) * 0xBF58476D1CE4E5B9) & lanes
        v = ((v ^ ((v >> 27) & lanes)) * 0x94D049BB133111EB) & lanes
        v ^= (v >> 31) & lanes
        words = array("Q", v.to_bytes(16 * self.count, "little"))
        if sys.byteorder == "big":
            words.byteswap()
        return words[::2]


class Calendar:
    """The per-day constants of `simulate_day` and `is_missing` for the `days` days ending on
    `end`, computed once for every account."""

    def __init__(self, *, days: int, end: dt.date) -> None:
        from scraping import simulation as sim

        start = end - dt.timedelta(days=days - 1)
        self.end = end
        self.dates = [start + dt.timedelta(days=n) for n in range(days)]
        epoch = sim.EPOCH.toordinal()
        ordinals = [d.toordinal() for d in self.dates]
        ts = [o - epoch for o in ordinals]
        # Events (spikes and drops) stop where growth levels off, as in simulate_day.
        event_ts = [min(t, sim._GROWTH_DAYS + sim._LEVEL_OFF_DAYS) for t in ts]
        #: The block of the last event day (None: every day is before the simulation's epoch).
        self.last_block = max(event_ts) // sim.BLOCK_DAYS if max(event_ts) >= 0 else None
        #: (t, growth days, t / 9, weekly rhythm, event day) of each day.
        self.days = list(
            zip(
                ts, [sim._growth_days(t) for t in ts], [t / 9 for t in ts],
                [sim.WEEKLY_RHYTHM[d.weekday()] for d in self.dates], event_ts,
                strict=True,
            )
        )  # fmt: skip
        # The per-day salts of is_missing's and simulate_day's hashes (the account's seed XORs in).
        self.missing_hash = _SplitMixLanes([(o * 0xA0761D6478BD642F) ^ 0x5555 for o in ordinals])
        self.day_hash = _SplitMixLanes([o * 0xD6E8FEB86659FD93 for o in ordinals])
        #: Each day as PostgreSQL's binary COPY gives a date: days since 2000-01-01.
        self.pg_days = [o - _PG_EPOCH.toordinal() for o in ordinals]
        #: The rows' collected_at as a binary COPY field: microseconds since 2000-01-01 00:00 UTC.
        collected = dt.datetime.combine(end, COLLECTED_AT, tzinfo=dt.UTC) - _PG_EPOCH
        self.pg_collected_at = struct.pack(">iq", 8, collected // dt.timedelta(microseconds=1))


def account_series(platform: str, handle: str, calendar: Calendar) -> list[tuple]:
    """(day index, followers, following, posts, likes, comments, shares, views) of every day of
    `calendar` the simulation keeps for the account: `simulate_day`'s numbers, without the days
    `is_missing` leaves out.

    The same arithmetic as `simulate_day`, in the same order (so the same floats), a whole account
    at a time: the account's profile, events and per-day hashes once (`_SplitMixLanes`), each day's
    constants once for every account (`Calendar`), no dict per row. tests/bench/test_generate.py
    checks every value against `simulate_day` and the days left out against `is_missing`."""
    from scraping import simulation as sim

    key = f"{platform}:{handle.lower()}"  # Account.key, as the simulated collector names it
    p = sim.profile(key)
    seed = sim._seed(key)
    # Every event up to the last day (a longer horizon only appends events; see sim._events).
    if calendar.last_block is None:
        event_days, jumps, factors = [], [], [1.0]
    else:
        event_days, jumps, factors = sim._events(key, calendar.last_block)
    engagement = platform not in sim.NO_ENGAGEMENT
    views = platform not in sim.NO_VIEWS
    rounded = platform in sim.ROUNDED_PLATFORMS
    exp, sin = math.exp, math.sin
    u16, missing_rate, mean_rhythm = sim._U16, sim.MISSING_DAY_RATE, sim._MEAN_RHYTHM
    likes = comments = shares = viewed = None
    series = []
    days = zip(calendar.days, calendar.missing_hash(seed), calendar.day_hash(seed), strict=True)
    for n, ((t, growth_days, t_over_9, rhythm, te), missing, h) in enumerate(days):
        if (missing & 0xFFFF) / u16 < missing_rate:
            continue
        if te < 0:
            events, after_spike = 1.0, False
        else:
            k = bisect_right(event_days, te)
            events = factors[k]
            after_spike = k > 0 and te - event_days[k - 1] <= 2 and jumps[k - 1] > 0
        wobble = 1 + 0.0015 * sin(t_over_9 + p.wobble_phase)
        followers = int(p.base_followers * exp(p.daily_growth * growth_days) * events * wobble)
        following = max(0, int(p.base_following + p.following_per_day * t))
        posts = max(0, p.base_posts + int(p.posts_per_day * mean_rhythm * t))
        if engagement:
            posts_today = int(p.posts_per_day * rhythm * (0.4 + 1.2 * ((h & 0xFFFF) / u16)) + 0.5)
            activity = (0.3 + 0.7 * min(posts_today, 6)) * (0.6 + 0.8 * (((h >> 16) & 0xFFFF) / u16))
            if after_spike:
                activity *= 3 + 5 * (((h >> 32) & 0xFFFF) / u16)
            likes = int(followers * p.engagement_rate * activity * 0.25)
            comments = int(likes * p.comment_ratio)
            shares = int(likes * p.share_ratio)
            if views:
                viewed = int(likes * p.views_ratio * (0.8 + 0.4 * ((h >> 48) / u16)))
        if rounded:  # after engagement, which counts the exact followers
            followers = sim._round_sig(followers)
        series.append((n, followers, following, posts, likes, comments, shares, viewed))
    return series


def snapshot_rows(*, accounts: list[tuple[int, str, str]], days: int, end: dt.date):
    """(account_id, date, followers, following, posts, likes, comments, shares, views, source,
    precision, collected_at) of every (account id, platform, handle) for the `days` days ending on
    `end`: the simulation's own series (`scraping.simulation.simulate_day`, the numbers a simulated
    collection writes), without the days it leaves out (`is_missing`, about 1.2 %). So a simulated
    collection of the next day continues each account's history as the daily run does, and the
    anomaly rule finds in it only the simulation's own spikes and drops. The rows of
    `account_series`, which the PostgreSQL path packs for COPY (`copy_account`)."""
    from scraping.simulation import ROUNDED_PLATFORMS

    calendar = Calendar(days=days, end=end)
    dates = calendar.dates
    collected = dt.datetime.combine(end, COLLECTED_AT, tzinfo=dt.UTC)
    for account_id, platform, handle in accounts:
        precision = "rounded" if platform in ROUNDED_PLATFORMS else "exact"
        for n, *values in account_series(platform, handle, calendar):
            yield (account_id, dates[n], *values, "simulated", precision, collected)


# --- PostgreSQL: binary COPY -------------------------------------------------------------------------

#: PostgreSQL's binary COPY format: a header, then each row as an int16 field count and each field
#: as an int32 length (-1: null) and its bytes, big-endian; an int16 -1 ends the data. Against
#: psycopg's write_row of the same rows (text COPY), the client packs a row in 0.9 us instead of
#: 4.8 us, and the server spends about 5 % less (nothing to parse; both measured at 1,000 x 365).
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
COPY_SQL = f"COPY snapshots_snapshot ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_NULL = struct.pack(">i", -1)


def _text_field(value: str) -> bytes:
    return struct.pack(">i", len(value)) + value.encode()


_SOURCE = _text_field("simulated")
_PRECISION = {True: _text_field("rounded"), False: _text_field("exact")}


@functools.cache
def _row_packer(numbers: int, tail: bytes) -> Callable[..., bytes]:
    """struct.pack of a row: its field count, account id, date, `numbers` bigints, then `tail`."""
    return struct.Struct(f">hiqii{'iq' * numbers}{len(tail)}s").pack


def copy_account(account_id: int, platform: str, handle: str, calendar: Calendar) -> tuple[bytes, int]:
    """The account's rows of `snapshot_rows` in PostgreSQL's binary COPY format (no header or
    trailer), and how many: one struct.pack of each row's numbers; the fields that are the same on
    every row (the null engagement of platforms without it, source, precision, collected_at)
    packed once."""
    from scraping import simulation as sim

    series = account_series(platform, handle, calendar)
    days = calendar.pg_days
    tail = _SOURCE + _PRECISION[platform in sim.ROUNDED_PLATFORMS] + calendar.pg_collected_at
    if platform in sim.NO_ENGAGEMENT:  # likes, comments, shares and views are null
        tail = _NULL * 4 + tail
        pack = _row_packer(3, tail)
        rows = [pack(12, 8, account_id, 4, days[n], 8, f, 8, fo, 8, po, tail) for n, f, fo, po, *_ in series]
    elif platform in sim.NO_VIEWS:
        tail = _NULL + tail
        pack = _row_packer(6, tail)
        rows = [
            pack(12, 8, account_id, 4, days[n], 8, f, 8, fo, 8, po, 8, li, 8, co, 8, sh, tail)
            for n, f, fo, po, li, co, sh, _ in series
        ]
    else:
        pack = _row_packer(7, tail)
        rows = [
            pack(12, 8, account_id, 4, days[n], 8, f, 8, fo, 8, po, 8, li, 8, co, 8, sh, 8, vi, tail)
            for n, f, fo, po, li, co, sh, vi in series
        ]
    return b"".join(rows), len(rows)


def copy_chunk(accounts: list[tuple[int, str, str]], calendar: Calendar) -> int:
    """COPY the accounts' snapshots in one transaction on this process's connection; returns how
    many. One write per account (about 50 kB at 365 days) rather than per row."""
    from django.db import connection, transaction

    written = 0
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(COPY_SQL) as copy:
        copy.write(COPY_HEADER)
        for account in accounts:
            block, rows = copy_account(*account, calendar)
            copy.write(block)
            written += rows
        copy.write(COPY_TRAILER)
    return written


#: A worker process's calendar: inherited from the parent at fork, not sent with every chunk.
_worker_calendar: Calendar | None = None


def _worker_start(calendar: Calendar) -> None:
    global _worker_calendar
    _worker_calendar = calendar


def _worker_copy_chunk(accounts: list[tuple[int, str, str]]) -> int:
    from django.db import connection

    try:
        return copy_chunk(accounts, _worker_calendar)
    finally:
        connection.close()  # a connection per chunk: the pool gives a worker no hook at its end


def default_workers() -> int:
    """One worker per CPU this process may run on: the server's side of COPY (parsing, indexes, the
    foreign-key checks) costs 3 to 4x the worker's, so one worker leaves a CPU mostly idle. On
    this 2-CPU machine 2 workers write 1.43x the rows/s of one, 3 no more than 2 (2,000 x 365,
    medians of 3)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_postgresql(accounts: list[tuple[int, str, str]], *, days: int, end: dt.date, workers: int) -> int:
    """Every account's snapshots by COPY: chunks of about CHUNK_ROWS rows (as many chunks as a
    multiple of `workers`, so they finish together), in `workers` forked processes, each with its
    own connection and a transaction per chunk; in this process when `workers` is 1 or the caller
    holds a transaction (the workers would not see its accounts)."""
    from django.db import connection, connections

    calendar = Calendar(days=days, end=end)
    if not accounts:
        return 0
    chunks_count = max(1, math.ceil(len(accounts) * days / CHUNK_ROWS))
    workers = max(1, min(workers, len(accounts)))
    chunks_count = math.ceil(chunks_count / workers) * workers
    size = math.ceil(len(accounts) / chunks_count)
    chunks = [accounts[start : start + size] for start in range(0, len(accounts), size)]
    if workers == 1 or connection.in_atomic_block or "fork" not in multiprocessing.get_all_start_methods():
        return sum(copy_chunk(chunk, calendar) for chunk in chunks)
    connections.close_all()  # each worker opens its own; a forked socket must not be shared
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_worker_start,
        initargs=(calendar,),
    ) as pool:
        return sum(pool.map(_worker_copy_chunk, chunks))


# --- SQLite: batched inserts -------------------------------------------------------------------------


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


# --- The accounts and the whole run ------------------------------------------------------------------


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


def generate(*, accounts: int, days: int, end: dt.date, workers: int | None = None) -> dict:
    """Replace the benchmark data set (`workers`: COPY processes on PostgreSQL, default one per CPU)."""
    from django.db import connection, transaction

    from snapshots.grid_buckets import grid_buckets_split
    from snapshots.services import latest_rebuild_all

    started = time.perf_counter()
    created = create_accounts(accounts)
    grid_buckets_split()  # as a collection run would, before the snapshots are counted in them
    workers = workers or default_workers()
    write_started = time.perf_counter()
    if connection.vendor == "postgresql":
        written = write_postgresql(created, days=days, end=end, workers=workers)
    else:
        workers = 1
        with transaction.atomic():
            written = write_sqlite(snapshot_rows(accounts=created, days=days, end=end))
    write_seconds = time.perf_counter() - write_started
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
        "workers": workers,
        "seconds": round(total, 2),
        "write_seconds": round(write_seconds, 2),
        "latest_seconds": round(time.perf_counter() - latest_started, 2),
        "rows_per_second": math.floor(written / write_seconds) if write_seconds else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--end", default="", help="Last day (YYYY-MM-DD; default today).")
    parser.add_argument(
        "--workers", type=int, default=0, help="COPY processes on PostgreSQL (default: one per CPU)."
    )
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    args = parser.parse_args(argv)
    setup_django()
    from socialmetrics.dates import local_today

    end = dt.date.fromisoformat(args.end) if args.end else local_today()
    result = generate(accounts=args.accounts, days=args.days, end=end, workers=args.workers or None)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['snapshots']:,} snapshots for {result['accounts']:,} accounts x {result['days']} days "
            f"on {result['backend']} in {result['seconds']} s "
            f"({result['rows_per_second']:,} rows/s written by {result['workers']} processes; "
            f"latest rows rebuilt in {result['latest_seconds']} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Writes to snapshots: every write path goes through here.

`snapshot_upsert_many` upserts on (account, date) in batches, so running an import or a collection
twice never duplicates a row; it refreshes the maintained latest row of the accounts whose latest
values or growth the write can change (not those of a backfill far behind an account's latest day)
in the same transaction, and invalidates the caches once per batch.

Every write also recomputes, in its transaction and in one statement per batch, the anomaly flags
of the days it can change (`snapshots.anomalies`): the days written and the following
`anomalies.REACH_DAYS` days. Flags only mark days; no stored value is ever changed by them.
"""

from __future__ import annotations

import datetime as dt
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from itertools import islice
from json.encoder import encode_basestring as _json_str
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from accounts.models import Account, Organization
from socialmetrics import cache as generations
from socialmetrics.dates import local_today

from . import anomalies
from .engagement import engagement_rate, rate_json, rate_json_sql, rate_sql
from .models import METRIC_FIELDS, AccountLatest, Post, PostType, Precision, Snapshot, Source

if TYPE_CHECKING:
    from psycopg import Copy

#: Growth over N days looks back this many extra days when the exact day is missing.
GROWTH_TOLERANCE_DAYS = 2
GROWTH_PERIODS = (1, 7, 30)
#: A day written more than this many days before an account's latest day changes nothing on its
#: latest row: neither the latest values nor the earlier days its growth compares with.
LATEST_REACH_DAYS = max(GROWTH_PERIODS) + GROWTH_TOLERANCE_DAYS
# The latest row carries its day's anomaly flag: a write that can change that flag refreshes it.
assert anomalies.REACH_DAYS <= LATEST_REACH_DAYS
DEFAULT_BATCH_SIZE = 2000
_ID_CHUNK = 500


#: The earliest day a snapshot written from a user's input may have (no platform tracked here had
#: audiences before it; a year-1 day would make the account's history span two thousand years).
EARLIEST_DAY = dt.date(2004, 1, 1)


class SnapshotDateOutOfRange(ValueError):
    """A snapshot's day outside EARLIEST_DAY..today; the message says which bound and why."""


def snapshot_date_check(*, day: dt.date, today: dt.date | None = None) -> None:
    """Refuse a day a user's snapshot cannot have: before EARLIEST_DAY, or after today in
    SOCIALMETRICS_TIME_ZONE. Every write of dates that come from users (CSV imports, the admin)
    checks here; collection writes the days it reads from the clock."""
    if day < EARLIEST_DAY:
        raise SnapshotDateOutOfRange(
            f"{day.isoformat()} is before {EARLIEST_DAY.isoformat()}, the earliest day a snapshot may have."
        )
    today = today or local_today()
    if day > today:
        raise SnapshotDateOutOfRange(f"{day.isoformat()} is in the future (today is {today.isoformat()}).")


@dataclass(slots=True)  # not frozen: a frozen __init__ costs twice as much on millions of rows
class SnapshotRow:
    """One account-day of metrics to write. None means "not known": it never erases a value."""

    account_id: int
    date: dt.date
    followers: int | None = None
    following: int | None = None
    posts: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    source: str = Source.MANUAL
    precision: str = Precision.EXACT


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Accounts with a row created or changed.
    account_ids: set[int] = field(default_factory=set)
    #: Those of them whose latest row the write may change (see `_latest_reached`).
    latest_stale: set[int] = field(default_factory=set)
    #: Account -> [first, last] day of its rows created or changed: where their anomaly flags are
    #: recomputed ...
    written: dict[int, list[dt.date]] = field(default_factory=dict)
    #: ... but for these accounts, whose one day written is known to need no flag from their latest
    #: row before the write (`anomalies.settled_by_latest`; a collection's day, mostly).
    settled: set[int] = field(default_factory=set)

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        # An account written by two batches of a call wrote more than one day, or one day twice.
        self.settled = (self.settled - other.written.keys()) | (other.settled - self.written.keys())
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.account_ids |= other.account_ids
        self.latest_stale |= other.latest_stale
        for account_id, (first, last) in other.written.items():
            _widen(self.written, account_id, first)
            _widen(self.written, account_id, last)
        return self


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def snapshot_upsert_many(
    *, rows: Iterable[SnapshotRow], batch_size: int = DEFAULT_BATCH_SIZE, per_batch: bool = True
) -> UpsertResult:
    """Insert or update snapshots on (account, date), batch by batch.

    A value of None keeps what is stored (unknown never erases a known value). Rows identical to
    what is stored are not written. Each batch costs a fixed number of queries whatever its size.

    `per_batch` (collection): each batch commits with its accounts' latest rows refreshed and the
    caches invalidated, so the dashboard fills in as a run goes. Otherwise (imports) the whole call
    is one transaction and the latest rows are refreshed once, at the end, for every account
    touched: an import whose file is sorted by date does not refresh every account per batch.
    """
    result = UpsertResult()
    if per_batch:
        for batch in _batched(rows, batch_size):
            result += _upsert_batch(batch)
        return result
    with transaction.atomic():
        _lock_for_import()
        for batch in _batched(rows, batch_size):
            result += _upsert_batch(batch, refresh=False)
        if result.account_ids:
            _refresh_derived(result)
            generations.invalidate_data(result.account_ids)
    return result


_TABLE = Snapshot._meta.db_table


def _lock_for_import() -> None:
    """PostgreSQL: an import's one long transaction takes the snapshot table's SHARE ROW EXCLUSIVE
    lock first. It would otherwise lock rows batch by batch in its file's order while a collection
    or another import locks them in theirs: a deadlock, one side cancelled. Readers never wait on
    it; other writers wait for the import to commit, and imports run one after another."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_TABLE} IN SHARE ROW EXCLUSIVE MODE")


_WRITE_COLUMNS = ("account_id", "date", *METRIC_FIELDS, "source", "precision", "collected_at")
_ROW_COLUMNS = ("account_id", "date", *METRIC_FIELDS, "source", "precision")  # what a SnapshotRow gives


def _merge_sql(*, new: str, old: str) -> tuple[str, str, str]:
    """(assignments, stored, wanted) of an update where None keeps the stored value, and a row whose
    values would not change is left alone (so it is neither rewritten nor counted)."""
    merged = [f"COALESCE({new}.{n}, {old}.{n})" for n in METRIC_FIELDS]
    assignments = ", ".join(
        [f"{n} = {m}" for n, m in zip(METRIC_FIELDS, merged, strict=True)]
        + [f"source = {new}.source", f"precision = {new}.precision", "collected_at = {now}"]
    )
    stored = ", ".join(f"{old}.{n}" for n in (*METRIC_FIELDS, "source", "precision"))
    wanted = ", ".join([*merged, f"{new}.source", f"{new}.precision"])
    return assignments, stored, wanted


def _upsert_sql(*, values_clause: str, returning: str = "") -> str:
    """INSERT ... ON CONFLICT (account, date) DO UPDATE (see `_merge_sql`)."""
    assignments, stored, wanted = _merge_sql(new="excluded", old=_TABLE)
    return (
        f"INSERT INTO {_TABLE} ({', '.join(_WRITE_COLUMNS)}) {values_clause} "
        f"ON CONFLICT (account_id, date) DO UPDATE SET {assignments.format(now='excluded.collected_at')} "
        f"WHERE ({stored}) IS DISTINCT FROM ({wanted}) {returning}"
    )


_STAGE = "snapshot_upsert_stage"
_PG_STAGE_CREATE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (account_id bigint, date date, "
    f"{', '.join(f'{n} bigint' for n in METRIC_FIELDS)}, source text, precision text, "
    "collected_at timestamptz) ON COMMIT DROP"
)
#: The columns a bulk write's COPY gives, in order: those of the staging table, and those of the
#: snapshot table but its id and the computed engagement.
_COPY_COLUMNS = _WRITE_COLUMNS
_PG_COPY_INTO_TABLE = f"COPY {_TABLE} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
_PG_COPY_INTO_STAGE = f"COPY {_STAGE} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
_PG_ARRAYS = (
    f"(SELECT u.*, %(now)s::timestamptz AS collected_at FROM unnest(%(account_id)s::bigint[], "
    f"%(date)s::date[], {', '.join(f'%({n})s::bigint[]' for n in METRIC_FIELDS)}, %(source)s::text[], "
    f"%(precision)s::text[]) AS u({', '.join(_ROW_COLUMNS)})) AS t"
)
#: What a batch's statement returns: one row per account written (created or changed), not per row:
#: its rows created and written, whether its latest row may change (see `_latest_reached`), its
#: first and last day written, the follower count written (that of its one day, if one), and its
#: latest row's day and follower count before the write (see `anomalies.settled_by_latest`).
_PG_PER_ACCOUNT = (
    f"SELECT g.account_id, g.created, g.written, l.date IS NULL OR l.date <= g.newest + {LATEST_REACH_DAYS}, "
    "g.oldest, g.newest, g.followers, l.date, l.followers "
    "FROM (SELECT account_id, min(date) AS oldest, max(date) AS newest, max(followers) AS followers, "
    "count(*) FILTER (WHERE created) AS created, count(*) AS written FROM w GROUP BY account_id) g "
    f"LEFT JOIN {AccountLatest._meta.db_table} l ON l.account_id = g.account_id"
)
#: Per account of a bulk batch (its first and last day in the batch): whether any of its days in
#: that range is stored already (one index range scan, not one look-up per row), whether its
#: latest row may change, and that row's day and follower count (as `_PG_PER_ACCOUNT` answers them).
_PG_BATCH_ACCOUNTS = (
    f"SELECT r.account_id, EXISTS (SELECT 1 FROM {_TABLE} s WHERE s.account_id = r.account_id "
    f"AND s.date BETWEEN r.first AND r.last), l.date IS NULL OR l.date <= r.last + {LATEST_REACH_DAYS}, "
    "l.date, l.followers FROM unnest(%s::bigint[], %s::date[], %s::date[]) AS r(account_id, first, last) "
    f"LEFT JOIN {AccountLatest._meta.db_table} l ON l.account_id = r.account_id"
)


def _pg_split_upsert(source: str) -> str:
    """The batch's rows (`source`, a FROM item named t) written in one statement without ON CONFLICT:
    stored rows whose values change are updated, rows not stored yet are inserted plainly. Cheaper
    than INSERT ... ON CONFLICT, whose speculative insertion costs about half again per new row. A
    row another transaction inserts meanwhile makes it fail with a unique violation: the caller then
    runs `_pg_conflict_upsert`'s statement instead."""
    assignments, stored, wanted = _merge_sql(new="t", old="s")
    return (
        f"WITH t AS NOT MATERIALIZED (SELECT * FROM {source}), "
        f"changed AS (UPDATE {_TABLE} s SET {assignments.format(now='t.collected_at')} FROM t "
        f"WHERE s.account_id = t.account_id AND s.date = t.date AND ({stored}) IS DISTINCT FROM ({wanted}) "
        f"RETURNING s.account_id, s.date, s.followers), "
        f"added AS (INSERT INTO {_TABLE} ({', '.join(_WRITE_COLUMNS)}) "
        f"SELECT {', '.join(f't.{c}' for c in _WRITE_COLUMNS)} FROM t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {_TABLE} s WHERE s.account_id = t.account_id AND s.date = t.date) "
        f"RETURNING account_id, date, followers), "
        f"w AS (SELECT account_id, date, followers, false AS created FROM changed "
        f"UNION ALL SELECT account_id, date, followers, true FROM added) {_PG_PER_ACCOUNT}"
    )


def _pg_conflict_upsert(source: str) -> str:
    return (
        "WITH w AS ("
        + _upsert_sql(
            values_clause=f"SELECT {', '.join(f't.{c}' for c in _WRITE_COLUMNS)} FROM {source}",
            returning="RETURNING account_id, date, followers, (xmax = 0) AS created",
        )
        + f") {_PG_PER_ACCOUNT}"
    )


_PG_SPLIT_STAGE = _pg_split_upsert(f"{_STAGE} AS t")
_PG_CONFLICT_STAGE = _pg_conflict_upsert(f"{_STAGE} AS t")
_PG_CONFLICT_ARRAYS = _pg_conflict_upsert(_PG_ARRAYS)
#: The statement joins the batch with the 3.6 M-row table on its unique index: the planner, which
#: costs index look-ups as random reads, would rather scan and hash the whole table. Its estimated
#: cost also passes the threshold for JIT compilation, which then takes longer (about 30 ms a
#: batch) than the statement saves by it.
_PG_JOINS_BY_INDEX = (
    "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'), current_setting('jit'), "
    "set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), "
    "set_config('jit', 'off', true)"
)
_PG_JOINS_RESTORE = (
    "SELECT set_config('enable_hashjoin', %s, true), set_config('enable_mergejoin', %s, true), "
    "set_config('jit', %s, true)"
)
#: Batches this large go through COPY; smaller ones travel as arrays in one statement (cheaper
#: than creating and filling the staging table for a collection run's flush).
COPY_FROM_ROWS = 4000
_GENERIC_UPSERT = _upsert_sql(values_clause=f"VALUES ({', '.join(['%s'] * len(_WRITE_COLUMNS))})").replace(
    " IS DISTINCT FROM ", " IS NOT "
)  # SQLite spells it IS NOT


def _upsert_batch(batch: list[SnapshotRow], *, refresh: bool = True) -> UpsertResult:
    # The last row wins when a batch names the same account-day twice.
    incoming: dict[tuple[int, dt.date], SnapshotRow] = {(r.account_id, r.date): r for r in batch}
    with transaction.atomic():
        if connection.vendor == "postgresql":
            result = _upsert_postgresql(list(incoming.values()))
        else:
            result = _upsert_generic(incoming)
        if refresh and result.account_ids:
            _refresh_derived(result)
            generations.invalidate_data(result.account_ids)
    return result


def _upsert_postgresql(rows: list[SnapshotRow]) -> UpsertResult:
    """Small batches (a collection run's flush: one day of many accounts) travel as arrays into one
    INSERT ... ON CONFLICT, one round trip. Large ones (imports, backfills: many days of each
    account) go by COPY (see `_pg_bulk_upsert`)."""
    now = timezone.now()
    if len(rows) >= COPY_FROM_ROWS:
        ranges: dict[int, list[dt.date]] = {}
        followers: dict[int, int | None] = {}
        for r in rows:
            _widen(ranges, r.account_id, r.date)
            followers[r.account_id] = r.followers

        def write(copy) -> None:
            write_row = copy.write_row
            for r in rows:
                write_row(
                    (r.account_id, r.date, r.followers, r.following, r.posts, r.likes, r.comments,
                     r.shares, r.views, r.source, r.precision, now)
                )  # fmt: skip

        return _pg_bulk_upsert(write=write, ranges=ranges, rows=len(rows), followers=followers)
    params: dict[str, object] = {"now": now}
    params["account_id"] = [r.account_id for r in rows]
    params["date"] = [r.date for r in rows]
    for name in (*METRIC_FIELDS, "source", "precision"):
        params[name] = [getattr(r, name) for r in rows]
    with connection.cursor() as cursor:
        cursor.execute(_PG_CONFLICT_ARRAYS, params)
        return _per_account_result(cursor.fetchall(), rows=len(rows))


def _settled(
    span: Sequence[dt.date | str],
    followers: int | None,
    latest_day: dt.date | None,
    latest_followers: int | None,
) -> bool:
    """`anomalies.settled_by_latest` for an account that wrote the days `span` (one day or more)."""
    return span[0] == span[-1] and anomalies.settled_by_latest(
        day=_day(span[0]), followers=followers, latest_day=latest_day, latest_followers=latest_followers
    )


def _widen(ranges: dict[int, list], account_id: int, day: dt.date | str) -> None:
    """Stretch the account's [first, last] day in a batch (`_pg_bulk_upsert`'s `ranges`) to `day`."""
    span = ranges.get(account_id)
    if span is None:
        ranges[account_id] = [day, day]
    elif day < span[0]:
        span[0] = day
    elif day > span[1]:
        span[1] = day


def _pg_bulk_upsert(
    *,
    write: Callable[[Copy], None],
    ranges: Mapping[int, Sequence[dt.date | str]],
    rows: int,
    followers: Mapping[int, int | None] | None = None,
) -> UpsertResult:
    """Upsert a large batch whose rows `write` gives to a COPY (in `_COPY_COLUMNS`' order); `ranges`
    gives each account's first and last day in it, and `rows` their number (one per account-day);
    `followers`, if known, each account's follower count written on its last day.

    A batch none of whose account-days is stored yet (new history, as most imports and backfills
    bring) is copied straight into the snapshot table: the fastest way in, with no look-up per row.
    Otherwise it is copied to a temporary table, and `_pg_split_upsert`'s statement writes it. If
    another transaction inserted one of its rows meanwhile, `_pg_conflict_upsert`'s does.
    """
    ids = list(ranges)
    firsts, lasts = [str(ranges[a][0]) for a in ids], [str(ranges[a][1]) for a in ids]
    with connection.cursor() as cursor:
        cursor.execute(_PG_BATCH_ACCOUNTS, [ids, firsts, lasts])
        accounts = cursor.fetchall()
        if not any(stored for _, stored, *_ in accounts):
            try:
                with (
                    transaction.atomic(),
                    connection.wrap_database_errors,  # COPY's errors as Django's, as execute's are
                    cursor.cursor.copy(_PG_COPY_INTO_TABLE) as copy,
                ):
                    write(copy)
            except IntegrityError:  # another transaction inserted one of these rows meanwhile
                pass
            else:
                return UpsertResult(
                    created=rows,
                    account_ids=set(ids),
                    latest_stale={account_id for account_id, _, reached, *_ in accounts if reached},
                    written={account_id: [_day(d) for d in ranges[account_id]] for account_id in ids},
                    settled=set()
                    if followers is None
                    else {
                        account_id
                        for account_id, _, _, latest_day, latest_followers in accounts
                        if _settled(ranges[account_id], followers[account_id], latest_day, latest_followers)
                    },
                )
        cursor.execute(_PG_STAGE_CREATE)
        cursor.execute(f"TRUNCATE {_STAGE}")
        with cursor.cursor.copy(_PG_COPY_INTO_STAGE) as copy:
            write(copy)
        cursor.execute(_PG_JOINS_BY_INDEX)
        settings = cursor.fetchone()[:3]
        try:
            with transaction.atomic():
                cursor.execute(_PG_SPLIT_STAGE)
                per_account = cursor.fetchall()
        except IntegrityError:
            cursor.execute(_PG_CONFLICT_STAGE)
            per_account = cursor.fetchall()
        cursor.execute(_PG_JOINS_RESTORE, settings)
    return _per_account_result(per_account, rows=rows)


def _per_account_result(per_account: list[tuple], *, rows: int) -> UpsertResult:
    """The result of a batch of `rows` rows from `_PG_PER_ACCOUNT`'s answer."""
    result = UpsertResult(
        account_ids={account_id for account_id, *_ in per_account},
        latest_stale={account_id for account_id, _, _, stale, *_ in per_account if stale},
        written={account_id: [first, last] for account_id, _, _, _, first, last, *_ in per_account},
        settled={
            account_id
            for account_id, _, _, _, first, last, followers, latest_day, latest_followers in per_account
            if _settled((first, last), followers, latest_day, latest_followers)
        },
    )
    written = sum(n for _, _, n, *_ in per_account)
    result.created = sum(n for _, n, *_ in per_account)
    result.updated = written - result.created
    result.unchanged = rows - written
    return result


def _upsert_generic(
    incoming: dict[tuple[int, dt.date], SnapshotRow],
    *,
    collected_at: Mapping[tuple[int, dt.date], dt.datetime] | None = None,
) -> UpsertResult:
    """Read what is stored (one query), then write only new or changed rows (one executemany).
    `collected_at`: when each row was collected, as a staged import gives it (else: now)."""
    result = UpsertResult()
    account_ids = {key[0] for key in incoming}
    dates = {key[1] for key in incoming}
    stored = {
        (row[0], row[1]): row[2:]
        for row in Snapshot.objects.filter(account_id__in=account_ids, date__in=dates).values_list(
            "account_id", "date", *METRIC_FIELDS, "source", "precision"
        )
    }
    now = timezone.now()
    params = []
    followers: dict[int, int | None] = {}  # as stored after the write, on the account's last day written
    for key, row in incoming.items():
        new = (*(getattr(row, n) for n in METRIC_FIELDS), row.source, row.precision)
        old = stored.get(key)
        if old is not None:
            merged = tuple(n if n is not None else o for n, o in zip(new, old, strict=True))
            if merged == old:
                result.unchanged += 1
                continue
            result.updated += 1
        else:
            result.created += 1
        params.append((row.account_id, row.date, *new, collected_at[key] if collected_at else now))
        _widen(result.written, row.account_id, row.date)
        followers[row.account_id] = row.followers if row.followers is not None else (old or new)[0]
    if params:
        result.account_ids = set(result.written)
        latest = _latest_before(account_ids=result.account_ids)
        result.latest_stale = _latest_reached(written=result.written, latest=latest)
        result.settled = {
            account_id
            for account_id, span in result.written.items()
            if _settled(span, followers[account_id], *latest.get(account_id, (None, None)))
        }
        with connection.cursor() as cursor:
            cursor.executemany(_GENERIC_UPSERT, params)
    return result


def snapshot_save(*, snapshot: Snapshot) -> Snapshot:
    """Save one snapshot (admin, shell) and keep the latest rows right: its account's, and the
    account it was moved from, if any. A day outside the allowed window raises
    SnapshotDateOutOfRange before anything is written."""
    snapshot_date_check(day=snapshot.date)
    if snapshot.followers is None:  # a day without a follower count is never an anomaly
        snapshot.anomaly_reason = None
    with transaction.atomic():
        before = (
            Snapshot.objects.filter(pk=snapshot.pk).values_list("account_id", "date").first()
            if snapshot.pk
            else None
        )
        snapshot.save()
        days: dict[int, list[dt.date]] = {snapshot.account_id: [snapshot.date, snapshot.date]}
        if before:  # the day it was on, which it may have left
            _widen(days, *before)
        anomalies_refresh(days=days)
        latest_refresh(account_ids=days)
        generations.invalidate_data(days)
    snapshot.refresh_from_db(fields=["anomaly_reason"])  # as the recomputation left it
    return snapshot


def snapshot_delete_many(*, snapshots) -> int:
    """Delete snapshots (a queryset) and refresh the latest rows of their accounts.

    One DELETE statement whatever the number of rows (nothing depends on a snapshot, so no object
    needs loading), then one recomputation of the anomaly flags after the days deleted, one
    latest-row refresh and one invalidation for the accounts touched.
    """
    with transaction.atomic():
        days = {
            account_id: [first, last]
            for account_id, first, last in snapshots.order_by()
            .values("account_id")
            .annotate(first=Min("date"), last=Max("date"))
            .values_list("account_id", "first", "last")
        }
        deleted = snapshots.order_by()._raw_delete(snapshots.db)
        anomalies_refresh(days=days)
        latest_refresh(account_ids=days)
        generations.invalidate_data(days)
    return deleted


# --- Anomaly flags ---------------------------------------------------------------------------------

_ANOMALY_CHUNK = 5000
_ANOMALY_SQL = {vendor: anomalies.refresh_sql(vendor=vendor) for vendor in ("postgresql", "sqlite")}
#: From this many accounts the statement's estimated cost passes PostgreSQL's threshold for JIT
#: compilation, which takes longer than it saves on index look-ups: it is turned off for it.
_ANOMALY_NO_JIT_FROM = 1000
_PG_JIT_OFF = "SELECT current_setting('jit'), set_config('jit', 'off', true)"
_PG_JIT_RESTORE = "SELECT set_config('jit', %s, true)"


def _day(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _shifted(day: dt.date, days: int) -> dt.date:
    """`day` moved by `days`, kept within the calendar (a write on 9999-12-31 still works)."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max


def anomalies_refresh(*, days: Mapping[int, Sequence[dt.date | str]]) -> int:
    """Recompute the anomaly flags a write to these days can change (account -> [first, last] day
    written or deleted): those days and the `anomalies.REACH_DAYS` days after them. Call inside the
    write's transaction. One statement per 5,000 accounts; only rows whose flag changes are
    written. Returns their number."""
    if not days:
        return 0
    sql = _ANOMALY_SQL[connection.vendor]
    ids = sorted(days)
    changed = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), _ANOMALY_CHUNK):
            chunk = ids[start : start + _ANOMALY_CHUNK]
            flag_from = [_day(days[a][0]) for a in chunk]
            flag_to = [_shifted(_day(days[a][-1]), anomalies.REACH_DAYS) for a in chunk]
            if connection.vendor == "postgresql":
                no_jit = len(chunk) >= _ANOMALY_NO_JIT_FROM
                if no_jit:
                    cursor.execute(_PG_JIT_OFF)
                    jit = cursor.fetchone()[0]
                cursor.execute(sql, [chunk, flag_from, flag_to])
                changed += max(cursor.rowcount, 0)
                if no_jit:
                    cursor.execute(_PG_JIT_RESTORE, [jit])
            else:
                ranges = [
                    [a, first.isoformat(), last.isoformat()]
                    for a, first, last in zip(chunk, flag_from, flag_to, strict=True)
                ]
                cursor.execute(sql, [json.dumps(ranges)])
                changed += max(cursor.rowcount, 0)
    return changed


def _refresh_derived(result: UpsertResult) -> None:
    """The anomaly flags and the latest rows an upsert changed (inside its transaction): the flags of
    the days it wrote first (but those of `result.settled`), so the latest rows copy them."""
    anomalies_refresh(days={a: span for a, span in result.written.items() if a not in result.settled})
    latest_refresh(account_ids=result.latest_stale)


@dataclass
class AnomalyRebuild:
    accounts: int = 0
    #: Days whose flag was (or, in a dry run, would be) set, changed or cleared.
    changed: int = 0


def anomalies_rebuild_all(
    *,
    chunk_size: int = 1000,
    dry_run: bool = False,
    on_chunk: Callable[[AnomalyRebuild, int], None] | None = None,
) -> AnomalyRebuild:
    """Recompute every account's anomaly flags over its whole history, then its latest row (which
    carries its latest day's flag), a transaction per chunk of accounts. A dry run counts the
    flags that would change and rolls every chunk back. `on_chunk(progress, total accounts)` is
    called after each chunk."""
    account_ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    progress = AnomalyRebuild()
    # Days without a follower count are never flagged (the write services keep them so); a flag
    # set on one behind their back goes (a read of the few flagged rows, by their partial index).
    with transaction.atomic():
        progress.changed += Snapshot.objects.filter(
            anomaly_reason__isnull=False, followers__isnull=True
        ).update(anomaly_reason=None)
        if dry_run:
            transaction.set_rollback(True)
    for start in range(0, len(account_ids), chunk_size):
        chunk = account_ids[start : start + chunk_size]
        with transaction.atomic():
            spans = {
                account_id: [first, last]
                for account_id, first, last in Snapshot.objects.filter(account_id__in=chunk)
                .order_by()
                .values("account_id")
                .annotate(first=Min("date"), last=Max("date"))
                .values_list("account_id", "first", "last")
            }
            progress.changed += anomalies_refresh(days=spans)
            if dry_run:
                transaction.set_rollback(True)
            else:
                latest_refresh(account_ids=spans)
        progress.accounts += len(chunk)
        if on_chunk is not None:
            on_chunk(progress, len(account_ids))
    if not dry_run:
        generations.invalidate_data(account_ids)
    return progress


# --- The maintained latest row --------------------------------------------------------------------


_PCT_PLACES = Decimal("0.0001")


def _growth(latest: int | None, earlier: int | None) -> tuple[int | None, float | None]:
    if latest is None or earlier is None:
        return None, None
    change = latest - earlier
    # Half away from zero on the exact quotient, as PostgreSQL's round(numeric) does in the SQL that
    # maintains the latest rows: float rounding would give 0.0312 where the database gives 0.0313.
    pct = (
        float((Decimal(change * 100) / Decimal(earlier)).quantize(_PCT_PLACES, rounding=ROUND_HALF_UP))
        if earlier
        else None
    )
    return change, pct


#: What `latest_compute` reads of each account's latest day, and of the account and its organization.
_LATEST_DAY_FIELDS = (
    "account_id", "date", "precision", "engagement", "anomaly_reason", *METRIC_FIELDS,
    "account__platform", "account__handle", "account__is_active", "account__organization__name",
)  # fmt: skip


def latest_compute(*, account_ids: Iterable[int]) -> dict[int, AccountLatest]:
    """What the latest row of each account should be, computed from its snapshots.

    Three queries for any number of accounts (in chunks): the latest day of each, the rows of
    those days with their account and organization, and the follower counts on the days growth
    compares with.
    """
    result: dict[int, AccountLatest] = {}
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        latest_dates = dict(
            Snapshot.objects.filter(account_id__in=chunk)
            .order_by()
            .values("account_id")
            .annotate(latest=Max("date"))
            .values_list("account_id", "latest")
        )
        if not latest_dates:
            continue
        days = Snapshot.objects.filter(account_id__in=list(latest_dates), date__in=set(latest_dates.values()))
        latest_rows = {
            s.account_id: s
            for s in days.select_related("account__organization").only(*_LATEST_DAY_FIELDS)
            if latest_dates[s.account_id] == s.date
        }
        lookback: set[dt.date] = set()
        for day in set(latest_dates.values()):
            for period in GROWTH_PERIODS:
                for extra in range(GROWTH_TOLERANCE_DAYS + 1):
                    lookback.add(day - dt.timedelta(days=period + extra))
        earlier: dict[tuple[int, dt.date], int] = {
            (a, d): f
            for a, d, f in Snapshot.objects.filter(
                account_id__in=list(latest_dates), date__in=lookback, followers__isnull=False
            ).values_list("account_id", "date", "followers")
        }
        for account_id, snap in latest_rows.items():
            row = AccountLatest(
                account_id=account_id,
                date=snap.date,
                precision=snap.precision,
                engagement=snap.engagement,
                engagement_rate=engagement_rate(snap.engagement, snap.followers),
                anomaly_reason=snap.anomaly_reason,
                **{name: getattr(snap, name) for name in METRIC_FIELDS},
            )
            for period in GROWTH_PERIODS:
                base = None
                for extra in range(GROWTH_TOLERANCE_DAYS + 1):
                    day = snap.date - dt.timedelta(days=period + extra)
                    if (account_id, day) in earlier:
                        base = earlier[(account_id, day)]
                        break
                change, pct = _growth(snap.followers, base)
                setattr(row, f"followers_change_{period}d", change)
                setattr(row, f"followers_change_pct_{period}d", pct)
            row.summary_json = summary_fragment(
                followers=row.followers,
                engagement=row.engagement,
                engagement_rate=row.engagement_rate,
                posts=row.posts,
                day=row.date,
                anomaly_reason=row.anomaly_reason,
            )
            account = snap.account
            organization = account.organization
            row.summary_object = summary_object(
                platform=account.platform,
                handle=account.handle,
                org_name=None if organization is None else organization.name,
                fragment=row.summary_json,
            )
            row.summary_key = summary_key(platform=account.platform, handle=account.handle)
            row.is_active = account.is_active
            result[account_id] = row
    return result


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def summary_fragment(
    *,
    followers: int | None,
    engagement: int | None,
    posts: int | None,
    day: dt.date,
    anomaly_reason: str | None = None,
    engagement_rate: float | None = None,
) -> str:
    """The snapshot half of an account's /api/summary object, kept pre-rendered on its latest row."""
    anomaly = (
        'false,"anomaly_reason":null'
        if anomaly_reason is None
        else f'true,"anomaly_reason":{json.dumps(anomaly_reason, ensure_ascii=False)}'
    )
    return (
        f'"followers":{_json_int(followers)},"engagement":{_json_int(engagement)},'
        f'"engagement_rate":{rate_json(engagement_rate)},"posts":{_json_int(posts)},'
        f'"date":"{day.isoformat()}","anomaly":{anomaly}'
    )


def summary_object(*, platform: str, handle: str, org_name: str | None, fragment: str) -> str:
    """An account's whole /api/summary object around its `summary_fragment`, as JSONRenderer writes
    it (PostgreSQL's `snapshots_summary_object` and the triggers of migration 0009 write the same)."""
    org = "null" if org_name is None else _json_str(org_name)
    text = f'{{"platform":{_json_str(platform)},"handle":{_json_str(handle)},"org_name":{org},{fragment}}}'
    if "\u2028" in text or "\u2029" in text:  # as JSONRenderer: safe inside a <script> too
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


def summary_key(*, platform: str, handle: str) -> str:
    """The summary's order of an account (`AccountLatest.summary_key`)."""
    return f"{platform} {handle}"


_LATEST_UPDATE_FIELDS = [f.name for f in AccountLatest._meta.concrete_fields if f.name != "account"]


def latest_refresh(*, account_ids: Iterable[int]) -> None:
    """Bring the latest rows of these accounts in line with their snapshots (call inside the write's
    transaction). Accounts left with no snapshot lose their latest row.

    On PostgreSQL one statement does it in the database (index look-ups per account, no rows
    travelling to Python, and none more to find the accounts left with no snapshot); elsewhere
    `latest_compute` computes the rows and they are upserted.
    """
    ids = set(account_ids)
    if not ids:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_LATEST_REFRESH, [sorted(ids)])
        return
    rows = latest_compute(account_ids=ids)
    if rows:
        AccountLatest.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=_LATEST_UPDATE_FIELDS,
            batch_size=1000,
        )
    gone = ids - rows.keys()
    if gone:
        AccountLatest.objects.filter(account_id__in=gone).delete()


def _latest_before(*, account_ids: Iterable[int]) -> dict[int, tuple[dt.date, int | None]]:
    """Account -> (latest day, its follower count) as the latest rows say (before a write refreshes
    them). (On PostgreSQL the upsert statement reads them itself.)"""
    ids = sorted(account_ids)
    latest: dict[int, tuple[dt.date, int | None]] = {}
    for start in range(0, len(ids), _ID_CHUNK):
        for account_id, day, followers in AccountLatest.objects.filter(
            account_id__in=ids[start : start + _ID_CHUNK]
        ).values_list("account_id", "date", "followers"):
            latest[account_id] = (day, followers)
    return latest


def _latest_reached(*, written: Mapping[int, Sequence[dt.date]], latest: Mapping[int, tuple]) -> set[int]:
    """Of the accounts written (account -> [first, last] day written), those whose latest row the
    write may change: the accounts without one, and those whose latest day is at most
    LATEST_REACH_DAYS after the last day written."""
    reach = dt.timedelta(days=LATEST_REACH_DAYS)
    return {a for a, span in written.items() if a not in latest or latest[a][0] - span[-1] <= reach}


def _pg_base(period: int) -> str:
    """The follower count growth over `period` days compares with (as `latest_compute` finds it)."""
    return (
        f"LEFT JOIN LATERAL (SELECT b.followers FROM {_TABLE} b WHERE b.account_id = a.id "
        f"AND b.date BETWEEN l.date - {period + GROWTH_TOLERANCE_DAYS} AND l.date - {period} "
        f"AND b.followers IS NOT NULL ORDER BY b.date DESC LIMIT 1) b{period} ON true"
    )


def _pg_change(period: int) -> str:
    return f"l.followers - b{period}.followers"


def _pg_pct(period: int) -> str:
    return (
        f"CASE WHEN b{period}.followers > 0 THEN "
        f"round((l.followers - b{period}.followers) * 100.0 / b{period}.followers, 4)::float8 END"
    )


_LATEST_TABLE = AccountLatest._meta.db_table
#: The latest row's columns that come from its snapshots ...
_PG_LATEST_VALUES = [
    "account_id", "date", *METRIC_FIELDS, "engagement", "engagement_rate", "precision", "anomaly_reason",
    *(f"followers_change_{p}d" for p in GROWTH_PERIODS),
    *(f"followers_change_pct_{p}d" for p in GROWTH_PERIODS),
    "summary_json",
]  # fmt: skip
#: ... and those that come from its account (its summary object, order and activity).
_PG_LATEST_COLUMNS = [*_PG_LATEST_VALUES, "summary_object", "summary_key", "is_active"]


_PG_RATE = rate_sql(engagement="l.engagement", followers="l.followers")


def _json_number_sql(column: str) -> str:
    return f"coalesce(l.{column}::text, 'null')"


_PG_LATEST_REFRESH = (
    # What each account's row should be; a null date where the account has no snapshot left.
    f"WITH v ({', '.join(_PG_LATEST_VALUES)}) AS ("
    f"SELECT a.id, l.date, {', '.join(f'l.{n}' for n in METRIC_FIELDS)}, l.engagement, "
    f"{_PG_RATE}, l.precision, "
    "l.anomaly_reason, "
    f"{', '.join(_pg_change(p) for p in GROWTH_PERIODS)}, "
    f"{', '.join(_pg_pct(p) for p in GROWTH_PERIODS)}, "
    f"""concat('"followers":', {_json_number_sql("followers")}, ',"engagement":', """
    f"""{_json_number_sql("engagement")}, ',"engagement_rate":', {rate_json_sql(_PG_RATE)}, """
    f"""',"posts":', {_json_number_sql("posts")}, """
    f"""',"date":"', to_char(l.date, 'YYYY-MM-DD'), '","anomaly":', """
    """CASE WHEN l.anomaly_reason IS NULL THEN 'false,"anomaly_reason":null' """
    """ELSE 'true,"anomaly_reason":' || to_json(l.anomaly_reason)::text END) """
    f"FROM unnest(%s::bigint[]) AS a(id) "
    f"LEFT JOIN LATERAL (SELECT * FROM {_TABLE} s WHERE s.account_id = a.id "
    f"ORDER BY s.date DESC LIMIT 1) l ON true "
    + " ".join(_pg_base(p) for p in GROWTH_PERIODS)
    # The account's half, as the triggers of migration 0009 write it (they and this statement never
    # run side by side: see there).
    + f"), c ({', '.join(_PG_LATEST_COLUMNS)}) AS MATERIALIZED ("
    "SELECT v.*, snapshots_summary_object(h.platform, h.handle, h.name, v.summary_json), "
    "h.platform || ' ' || h.handle, h.is_active FROM v LEFT JOIN LATERAL ("
    f"SELECT acc.platform, acc.handle, acc.is_active, o.name FROM {Account._meta.db_table} acc "
    f"LEFT JOIN {Organization._meta.db_table} o ON o.id = acc.organization_id "
    "WHERE acc.id = v.account_id LIMIT 1) h ON true), "  # by primary key (not a hash of every account)
    # The rows of accounts left with no snapshot go, by primary key (there are none after an upsert).
    f"gone AS (DELETE FROM {_LATEST_TABLE} "
    f"WHERE account_id = ANY(ARRAY(SELECT account_id FROM c WHERE date IS NULL))) "
    f"INSERT INTO {_LATEST_TABLE} ({', '.join(_PG_LATEST_COLUMNS)}) SELECT * FROM c WHERE date IS NOT NULL"
    + " ON CONFLICT (account_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _PG_LATEST_COLUMNS if c != "account_id")
    # A row that would not change is not rewritten (a collection repeated the same day).
    + f" WHERE ({', '.join(f'{_LATEST_TABLE}.{c}' for c in _PG_LATEST_COLUMNS[1:])}) IS DISTINCT FROM "
    + f"({', '.join(f'excluded.{c}' for c in _PG_LATEST_COLUMNS[1:])})"
)


def latest_rebuild_all(*, chunk_size: int = 2000, on_chunk: Callable[[int, int], None] | None = None) -> int:
    """Recompute every account's latest row from the snapshots; returns the number of rows kept.
    `on_chunk(accounts done, total accounts)` is called after each chunk."""
    account_ids = list(Account.objects.order_by("pk").values_list("pk", flat=True))
    kept = 0
    for start in range(0, len(account_ids), chunk_size):
        chunk = account_ids[start : start + chunk_size]
        with transaction.atomic():
            latest_refresh(account_ids=chunk)
        kept += AccountLatest.objects.filter(account_id__in=chunk).count()
        if on_chunk is not None:
            on_chunk(start + len(chunk), len(account_ids))
    generations.invalidate_data(account_ids)
    return kept


# --- Staged writes: rows as COPY text (imports) -------------------------------------------------


@dataclass
class StagedBatch:
    """A batch of rows already in COPY text, which an import's reader builds without a Python object
    per row, their account still named by a key that numbers accounts from 0 within one call.

    `rows` maps (account key, ISO day) -> (the row's line in the file, the row's COPY text after
    its account id: a tab and the rest of `_COPY_COLUMNS`, tab-separated, \\N for a null, ending
    with a newline). One row per account-day, so the last row of a day wins."""

    rows: dict[tuple[int, str], tuple[int, str]]
    #: Account key -> account id for the keys no earlier batch of the call mapped.
    accounts: dict[int, int] = field(default_factory=dict)


#: How a StagedBatch's COPY text spells a null.
STAGED_NULL = "\\N"


@dataclass
class StagedResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Lines of the rows whose account key was never mapped to an account (they are not written).
    unmatched: list[int] = field(default_factory=list)


class _KeyedAccounts:
    """Account key -> account id over a staged call: an array indexed by key (8 bytes an account
    against about 90 in a dict: 8 MB less at 100,000 accounts)."""

    def __init__(self) -> None:
        self.ids = array("q")

    def update(self, accounts: Mapping[int, int]) -> None:
        ids = self.ids
        for key, account_id in accounts.items():
            if key < len(ids) and ids[key] >= 0:
                raise ValueError("A staged batch maps an account key an earlier batch mapped.")
            if key >= len(ids):
                ids.extend([-1] * (key + 1 - len(ids)))
            ids[key] = account_id

    def get(self, key: int) -> int | None:
        account_id = self.ids[key] if key < len(self.ids) else -1
        return None if account_id < 0 else account_id


_WRITTEN = "snapshot_upsert_written"
_PG_WRITTEN_CREATE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_WRITTEN} (account_id bigint PRIMARY KEY, first date NOT NULL, "
    "last date NOT NULL, stale boolean NOT NULL, settled boolean NOT NULL) ON COMMIT DROP"
)
#: A batch's accounts merged in as `UpsertResult.__iadd__` merges them.
_PG_WRITTEN_ADD = (
    f"INSERT INTO {_WRITTEN} AS w SELECT * FROM unnest(%s::bigint[], %s::date[], %s::date[], "
    "%s::boolean[], %s::boolean[]) ON CONFLICT (account_id) DO UPDATE SET first = least(w.first, "
    "excluded.first), last = greatest(w.last, excluded.last), stale = w.stale OR excluded.stale, "
    "settled = false"
)
_PG_WRITTEN_PAGE = (
    f"SELECT account_id, first, last FROM {_WRITTEN} WHERE {{where}} AND account_id > %s "
    f"ORDER BY account_id LIMIT {_ANOMALY_CHUNK}"
)


class _WrittenAccounts:
    """The accounts a staged call wrote (days, latest rows to refresh, flags settled), merged batch
    by batch as `UpsertResult +=` merges them, and their refresh at the end. On PostgreSQL they are
    kept in a temporary table, read back a chunk at a time (about 300 bytes an account less in
    Python: 30 MB at 100,000 accounts); elsewhere in an UpsertResult."""

    def __init__(self) -> None:
        self.postgresql = connection.vendor == "postgresql"
        self.result = UpsertResult()
        if self.postgresql:
            with connection.cursor() as cursor:
                cursor.execute(_PG_WRITTEN_CREATE)
                cursor.execute(f"TRUNCATE {_WRITTEN}")

    def add(self, batch: UpsertResult) -> None:
        if not self.postgresql:
            self.result += batch
            return
        if not batch.written:
            return
        ids = list(batch.written)
        spans = [batch.written[a] for a in ids]
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_WRITTEN_ADD,
                [
                    ids,
                    [str(span[0]) for span in spans],
                    [str(span[-1]) for span in spans],
                    [a in batch.latest_stale for a in ids],
                    [a in batch.settled for a in ids],
                ],
            )

    def refresh(self) -> None:
        """`_refresh_derived` and the invalidation, for every account written (inside the call's
        transaction)."""
        if not self.postgresql:
            if self.result.account_ids:
                _refresh_derived(self.result)
                generations.invalidate_data(self.result.account_ids)
            return
        # As `_refresh_derived`: the flags first (in `anomalies_refresh`'s own chunks), then the
        # latest rows.
        for chunk in self._pages("NOT settled"):
            anomalies_refresh(days={a: (first, last) for a, first, last in chunk})
        for chunk in self._pages("stale"):
            latest_refresh(account_ids=[a for a, *_ in chunk])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT account_id FROM {_WRITTEN}")
            account_ids = [a for (a,) in cursor.fetchall()]
        if account_ids:
            generations.invalidate_data(account_ids)

    @staticmethod
    def _pages(where: str) -> Iterator[list[tuple]]:
        """The table's rows matching `where`, in order of account, `_ANOMALY_CHUNK` at a time."""
        after = -1
        with connection.cursor() as cursor:
            while True:
                cursor.execute(_PG_WRITTEN_PAGE.format(where=where), [after])
                page = cursor.fetchall()
                if not page:
                    return
                yield page
                after = page[-1][0]


def snapshot_upsert_staged(*, batches: Iterable[StagedBatch]) -> StagedResult:
    """Write staged batches in one transaction, as `snapshot_upsert_many(per_batch=False)` writes
    rows (same merge, same counts; the latest rows refreshed and the caches invalidated once, at
    the end).

    On PostgreSQL a batch's text goes in by COPY as it is, the account ids put in front of it: the
    only work per row in Python, so an import is bound by the database. Elsewhere the rows are
    decoded and written by the generic upsert.
    """
    result = StagedResult()
    accounts = _KeyedAccounts()
    with transaction.atomic():
        _lock_for_import()
        written = _WrittenAccounts()
        for batch in batches:
            accounts.update(batch.accounts)
            if connection.vendor == "postgresql":
                batch_result, unmatched = _pg_upsert_staged(batch, accounts=accounts)
            else:
                batch_result, unmatched = _generic_upsert_staged(batch, accounts=accounts)
            del batch  # its rows go before the next batch is read, not after
            result.created += batch_result.created
            result.updated += batch_result.updated
            result.unchanged += batch_result.unchanged
            result.unmatched += unmatched
            written.add(batch_result)
        written.refresh()
    result.unmatched.sort()
    return result


def _pg_upsert_staged(batch: StagedBatch, *, accounts: _KeyedAccounts) -> tuple[UpsertResult, list[int]]:
    """The batch's result, and the lines of its rows whose account key has no account."""
    parts: list[str] = []
    ranges: dict[int, list[str]] = {}  # ISO days compare as the days do
    unmatched: list[int] = []
    for (key, day), (line, text) in batch.rows.items():
        account_id = accounts.get(key)
        if account_id is None:
            unmatched.append(line)
            continue
        parts.append(f"{account_id}{text}")
        _widen(ranges, account_id, day)
    if not parts:
        return UpsertResult(), unmatched
    rows, text = len(parts), "".join(parts)
    del parts  # the text is what goes on (the parts would double it)
    return _pg_bulk_upsert(write=lambda copy: copy.write(text), ranges=ranges, rows=rows), unmatched


def _generic_upsert_staged(batch: StagedBatch, *, accounts: _KeyedAccounts) -> tuple[UpsertResult, list[int]]:
    incoming: dict[tuple[int, dt.date], SnapshotRow] = {}
    collected_at: dict[tuple[int, dt.date], dt.datetime] = {}
    unmatched: list[int] = []
    for (key, _), (line, text) in batch.rows.items():
        account_id = accounts.get(key)
        if account_id is None:
            unmatched.append(line)
            continue
        _, day, *numbers, source, precision, stamp = text.rstrip("\n").split("\t")
        values = (None if n == STAGED_NULL else int(n) for n in numbers)
        row = SnapshotRow(account_id, dt.date.fromisoformat(day), *values, source, precision)
        incoming[(account_id, row.date)] = row
        collected_at[(account_id, row.date)] = dt.datetime.fromisoformat(stamp)
    with transaction.atomic():
        written = _upsert_generic(incoming, collected_at=collected_at)
    return written, unmatched


# --- Posts ----------------------------------------------------------------------------------------

#: Characters that are not kept in a post's text: NUL (PostgreSQL cannot store it) and the other
#: control characters; line breaks and tabs become spaces (the text is a one-line excerpt).
_CONTROL = dict.fromkeys([*range(0, 32), 127], " ")
_CONTROL[0] = None


def post_text(text: str | None) -> str:
    """A post's text as stored: one line of plain text, at most `Post.TEXT_LENGTH` characters (an
    ellipsis ends a cut one), without NUL or other control characters."""
    if not text:
        return ""
    if len(text) <= Post.TEXT_LENGTH and text.isprintable() and "  " not in text and text == text.strip():
        return text  # already one clean line (isprintable: no control character, no line break)
    line = " ".join(str(text).translate(_CONTROL).split())
    if len(line) <= Post.TEXT_LENGTH:
        return line
    return line[: Post.TEXT_LENGTH - 1].rstrip() + "…"


@dataclass(slots=True)
class PostRow:
    """One post to write, as a collector read it. Counts are lifetime totals; None is "not given"
    and keeps what is stored."""

    account_id: int
    platform_post_id: str
    published_at: dt.datetime
    url: str = ""
    post_type: str = PostType.POST
    text: str = ""
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None


@dataclass
class PostUpsertResult:
    #: Posts created or changed (a post written again with the same values is not counted).
    written: int = 0
    #: Accounts with a post created or changed.
    account_ids: set[int] = field(default_factory=set)


_POST_TABLE = Post._meta.db_table
_POST_COUNTS = ("likes", "comments", "shares", "views")
_POST_COLUMNS = (
    "account_id", "platform_post_id", "url", "post_type", "text", "published_at", *_POST_COUNTS,
    "collected_at", "updated_at",
)  # fmt: skip
_POST_KINDS = ("bigint", "text", "text", "text", "text", "timestamptz", *["bigint"] * 4)


def _post_upsert_sql(*, source: str, distinct: str) -> str:
    """INSERT ... ON CONFLICT (account, post id) DO UPDATE: counts of None keep the stored ones, the
    publication time stays as first read, and a post whose values would not change is left alone."""
    kept = [f"COALESCE(excluded.{n}, {_POST_TABLE}.{n})" for n in _POST_COUNTS]
    changing = ("url", "post_type", "text")
    assignments = ", ".join(
        [f"{n} = excluded.{n}" for n in changing]
        + [f"{n} = {k}" for n, k in zip(_POST_COUNTS, kept, strict=True)]
        + ["updated_at = excluded.updated_at"]
    )
    stored = ", ".join(f"{_POST_TABLE}.{n}" for n in (*changing, *_POST_COUNTS))
    wanted = ", ".join([*(f"excluded.{n}" for n in changing), *kept])
    return (
        f"INSERT INTO {_POST_TABLE} ({', '.join(_POST_COLUMNS)}) {source} "
        f"ON CONFLICT (account_id, platform_post_id) DO UPDATE SET {assignments} "
        f"WHERE ({stored}) {distinct} ({wanted}) RETURNING account_id"
    )


_POST_STAGE = "post_upsert_stage"
_PG_POST_STAGE_CREATE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_POST_STAGE} ("
    + ", ".join(f"{n} {kind}" for n, kind in zip(_POST_COLUMNS, _POST_KINDS, strict=False))
    + ") ON COMMIT DROP"
)
_PG_POST_STAGE_COPY = f"COPY {_POST_STAGE} ({', '.join(_POST_COLUMNS[: len(_POST_KINDS)])}) FROM STDIN"
#: From the staging table, which a batch's posts reach by COPY: the quickest way in from Python (as
#: query parameters, psycopg would quote every value of the arrays in Python first).
_PG_POSTS = _post_upsert_sql(source=f"SELECT s.*, %s, %s FROM {_POST_STAGE} s", distinct="IS DISTINCT FROM")
#: SQLite allows 32,766 parameters a statement: 12 a post.
_GENERIC_POSTS_PER_STATEMENT = 2000


def _generic_posts_sql(rows: int) -> str:
    values = "(" + ", ".join(["%s"] * len(_POST_COLUMNS)) + ")"
    return _post_upsert_sql(source=f"VALUES {', '.join([values] * rows)}", distinct="IS NOT")


def post_upsert_many(*, rows: Iterable[PostRow], batch_size: int = 5000) -> PostUpsertResult:
    """Insert or update posts on (account, platform post id), `batch_size` posts a statement, in one
    transaction (the caller's when it has one), then invalidate the cached post lists once.

    The last row wins when two name the same post; texts are bounded and cleaned (`post_text`).
    Idempotent: writing the same posts again changes nothing and counts nothing."""
    result = PostUpsertResult()
    with transaction.atomic():
        for batch in _batched(rows, batch_size):
            incoming = {(r.account_id, r.platform_post_id): r for r in batch}
            for written in _post_upsert_batch(list(incoming.values())):
                result.written += 1
                result.account_ids.add(written)
        if result.written:
            generations.invalidate([generations.POSTS])
    return result


def _post_url(url: str) -> str:
    """The post's address when it is a web address that fits, else ''."""
    return url if len(url) <= 1000 and url.startswith(("https://", "http://")) else ""


def _post_values(row: PostRow) -> tuple:
    return (
        row.account_id, row.platform_post_id, _post_url(row.url), row.post_type, post_text(row.text),
        row.published_at, row.likes, row.comments, row.shares, row.views,
    )  # fmt: skip


def _post_upsert_batch(rows: list[PostRow]) -> list[int]:
    """The account id of each post created or changed."""
    now = timezone.now()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_POST_STAGE_CREATE)
            cursor.execute(f"TRUNCATE {_POST_STAGE}")
            with connection.wrap_database_errors, cursor.cursor.copy(_PG_POST_STAGE_COPY) as copy:
                for row in rows:
                    copy.write_row(_post_values(row))
            cursor.execute(_PG_POSTS, [now, now])
            return [account_id for (account_id,) in cursor.fetchall()]
        written: list[int] = []
        for start in range(0, len(rows), _GENERIC_POSTS_PER_STATEMENT):
            chunk = rows[start : start + _GENERIC_POSTS_PER_STATEMENT]
            params = [v for row in chunk for v in (*_post_values(row), now, now)]
            cursor.execute(_generic_posts_sql(len(chunk)), params)
            written += [account_id for (account_id,) in cursor.fetchall()]
        return written

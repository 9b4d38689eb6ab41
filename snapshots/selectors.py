"""Reads of snapshots and latest values: the summary, its totals, one account's history, the grid,
the CSV export, the account list with latest values, the top movers and the days flagged as anomalies.

Every function here costs a fixed number of queries whatever the number of rows, reads each
account's latest values from the maintained `AccountLatest` row (never by scanning snapshots), and
returns plain tuples or dicts built from ``values_list`` rather than model instances.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import operator
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    F,
    Max,
    Model,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import Col
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from django.db.models.functions import Cast, Collate, Concat
from django.db.models.lookups import Lookup
from django.db.models.sql.datastructures import Join
from django.db.models.sql.where import AND
from psycopg.adapt import Loader

from accounts.models import Account
from accounts.selectors import ACCOUNT_COUNT_SQL, account_count, account_id_by_handle
from socialmetrics import cache as generations
from socialmetrics.dates import product_zone

from .engagement import average_rate, engagement_rate
from .models import (
    REPORTED_FIELDS,
    AccountLatest,
    Post,
    Snapshot,
    SnapshotBucketCount,
    SnapshotBucketCountChange,
    SnapshotDateCount,
    SnapshotDateCountChange,
    SnapshotPlatformCount,
    SnapshotPlatformCountChange,
)
from .services import GROWTH_PERIODS

# --- Summary and totals ---------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "account__platform",
    "account__handle",
    "account__organization__name",
    "followers",
    "engagement",
    "engagement_rate",
    "posts",
    "date",
    "anomaly_reason",
)


def summary_queryset() -> QuerySet[AccountLatest]:
    """The latest row of every active account (each on its own most recent day)."""
    return AccountLatest.objects.filter(is_active=True)


def _cursor_rows(values: QuerySet) -> list[tuple]:
    """A values_list queryset's rows straight from the cursor, without the ORM's iteration and
    converters (for columns the driver already returns as the API writes them)."""
    try:
        sql, params = values.query.sql_with_params()
    except EmptyResultSet:  # a filter that matches nothing by construction
        return []
    with connections[values.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


class _SummaryBody(Loader):
    """The objects PostgreSQL joined, taken as the UTF-8 bytes they arrive in and put in brackets
    with one copy: no decoding and encoding 2 MB again (10,000 accounts)."""

    def load(self, data) -> bytes:
        return b"".join((b"[", data, b"]"))


#: The summary's order on PostgreSQL: by code point, as Python compares strings, whatever the
#: database's collation (and faster than a linguistic one).
_SUMMARY_ORDER = Collate("summary_key", "C")


@contextmanager
def _sorted_by_index(connection) -> Iterator:
    """PostgreSQL: a cursor whose statements take their order from an index instead of sorting
    (`enable_sort` off) while the block lasts, in a transaction of their own unless the caller has
    one (whose setting is then put back)."""
    if connection.in_atomic_block:
        with connection.cursor() as cursor, _pg_setting(cursor, "enable_sort", "off"):
            yield cursor
        return
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")
        yield cursor


def summary_body(*, queryset: QuerySet[AccountLatest]) -> bytes:
    """/api/summary as JSON bytes, by platform then handle, in one query; byte for byte what
    JSONRenderer writes.

    Each latest row carries its whole object pre-rendered (`AccountLatest.summary_object`), so the
    query reads the latest table alone and nothing is rendered per request. On PostgreSQL the
    database joins the objects and sends the body as one value (client CPU of a miss 28 -> 11 ms,
    10,000 accounts). The whole summary is read in order from its index (`latest_summary_order_idx`):
    sorting its rows cost the database 40 % more on 10,000 accounts and 80 % more on 100,000. A
    filtered one (joined to the accounts: a fraction of the rows) is sorted, which costs a third of
    walking the whole index. Elsewhere the rows come in order and are joined here.
    """
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        rows = _cursor_rows(queryset.order_by("summary_key").values_list("summary_object"))
        return ("[" + ",".join([row for (row,) in rows]) + "]").encode()
    whole = len(queryset.query.alias_map) <= 1  # a filter on the account joins its table
    objects = queryset.order_by(_SUMMARY_ORDER) if whole else queryset.order_by()
    try:
        sql, params = objects.values_list("summary_object", "summary_key").query.sql_with_params()
    except EmptyResultSet:  # a filter that matches nothing by construction
        return b"[]"
    if whole:  # in the subquery's order: an aggregate without ORDER BY takes its rows as they come
        sql = f"SELECT string_agg(s.o, ',') FROM ({sql}) s(o, k)"
    else:
        sql = f"SELECT string_agg(s.o, ',' ORDER BY s.k COLLATE \"C\") FROM ({sql}) s(o, k)"
    with _sorted_by_index(connection) if whole else connection.cursor() as cursor:
        cursor.cursor.adapters.register_loader("text", _SummaryBody)
        cursor.execute(sql, params)
        (body,) = cursor.fetchone()
    return b"[]" if body is None else body


def summary_rows(*, queryset: QuerySet[AccountLatest]) -> list[tuple]:
    """One query: (platform, handle, org_name, followers, engagement, engagement_rate, posts, date,
    anomaly_reason) in the order of `summary_body`."""
    order = _SUMMARY_ORDER if connections[queryset.db].vendor == "postgresql" else "summary_key"
    return list(queryset.order_by(order).values_list(*SUMMARY_COLUMNS))


def _totals_aggregates() -> dict:
    # Aliases start with "_" so that they never shadow the fields the expressions read. Sums are
    # cast to bigint so that the driver returns integers (PostgreSQL's SUM(bigint) is numeric).
    aggregates = {
        "_accounts": Count("pk"),
        "_followers": Cast(Sum("followers"), BigIntegerField()),
        "_engagement": Cast(Sum("engagement"), BigIntegerField()),
    }
    for period in GROWTH_PERIODS:
        change = f"followers_change_{period}d"
        aggregates[f"_change_{period}d"] = Cast(Sum(change), BigIntegerField())
        # The follower count the change is measured from, over the accounts whose change is known.
        aggregates[f"_base_{period}d"] = Cast(
            Sum(Case(When(**{f"{change}__isnull": False}, then=F("followers") - F(change)))),
            BigIntegerField(),
        )
    return aggregates


def _totals_row(values: dict) -> dict:
    row = {
        "accounts": values["_accounts"] or 0,
        "followers": values["_followers"] or 0,
        "engagement": values["_engagement"] or 0,
    }
    for period in GROWTH_PERIODS:
        change, base = values[f"_change_{period}d"], values[f"_base_{period}d"]
        row[f"followers_change_{period}d"] = change
        row[f"followers_change_pct_{period}d"] = (
            round(change * 100.0 / base, 4) if change is not None and base else None
        )
    return row


def _summed(names: list[str], rows: Iterable[tuple]) -> dict:
    """Rows of (organization, platform, *sums named `names`) added up column by column, as SQL's
    SUM adds (None while no value is known)."""
    columns = list(zip(*rows, strict=True))[2:] or [()] * len(names)
    sums = {}
    for name, column in zip(names, columns, strict=True):
        known = [value for value in column if value is not None]
        sums[name] = sum(known) if known else None
    return sums


def summary_totals(*, queryset: QuerySet[AccountLatest]) -> dict:
    """Followers and engagement summed per platform, per organization and overall, with follower
    growth over 1, 7 and 30 days (absolute, and percent of the followers it grew from).

    One aggregate query per (organization, platform), in the database's order of the names, from
    which Python adds up the platforms, the organizations and the total (integers: exact): one scan
    of the latest rows instead of three (PostgreSQL's CPU 25 -> 14 ms on 10,000 accounts)."""
    aggregates = _totals_aggregates()
    names = list(aggregates)
    groups = (
        queryset.order_by()
        .values("account__organization__name", "account__platform")
        .annotate(**aggregates)
        .order_by(F("account__organization__name").asc(nulls_last=True), "account__platform")
        .values_list("account__organization__name", "account__platform", *names)
    )
    rows = _cursor_rows(groups)  # integers already: Django's converters cost 4 ms (10,000 accounts)
    organizations = [
        {"organization": name, **_totals_row(_summed(names, group))}
        for name, group in groupby(rows, key=itemgetter(0))
    ]
    # Platforms are lower-case slugs (`accounts.models.Platform`): any collation sorts them so.
    platforms = [
        {"platform": platform, **_totals_row(_summed(names, group))}
        for platform, group in groupby(sorted(rows, key=itemgetter(1)), key=itemgetter(1))
    ]
    return {
        "total": _totals_row(_summed(names, rows)),
        "platforms": platforms,
        "organizations": organizations,
    }


# --- One account's history ------------------------------------------------------------------------

HISTORY_SERIES = REPORTED_FIELDS


class AccountChanged(Exception):
    """`history_series` was told which platform and handle the account has, and it has not."""


def _history_sql(*, expect: bool, since: bool, until: bool) -> str:
    """The history's one query, written out: without the ORM compiling it and building its rows a
    year's history is built in 1.3 instead of 2.4 ms CPU (benchmark data). Parameters in order: the
    expected platform and lower-case handle, the account id, the first day, the last day."""
    snapshot, account = Snapshot._meta, Account._meta
    names = ("date", *HISTORY_SERIES, "anomaly_reason")
    columns = ", ".join(f's."{snapshot.get_field(name).column}"' for name in names)
    sql = f'SELECT {columns} FROM "{snapshot.db_table}" s'
    if expect:  # the join is empty when the account no longer has that platform and handle
        sql += (
            f' INNER JOIN "{account.db_table}" a ON a."id" = s."account_id"'
            ' AND a."platform" = %s AND LOWER(a."handle") = %s'
        )
    sql += ' WHERE s."account_id" = %s'
    if since:
        sql += ' AND s."date" >= %s'
    if until:
        sql += ' AND s."date" <= %s'
    return sql + ' ORDER BY s."date"'


def history_series(
    *,
    account_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    expect: tuple[str, str] | None = None,
) -> dict[str, list]:
    """One query: the account's daily series, oldest first, with ``None`` on the days without a
    snapshot between its first and last day in the range (a chart shows a gap, not invented data).
    ``anomaly`` says whether each day's follower count is flagged (`snapshots.anomalies`), and
    ``anomaly_reason`` why (``None`` when it is not, and both ``None`` on the days without a snapshot).
    ``engagement_rate`` is each day's rate and ``engagement_rate_avg`` the range's (`snapshots.engagement`).

    `expect` = (platform, lower-case handle) checks in the same query that the account still has
    them (a remembered id may have gone stale); AccountChanged if it has not."""
    connection = connections[Snapshot.objects.db]
    sql = _history_sql(expect=expect is not None, since=date_from is not None, until=date_to is not None)
    params: list = [*(expect or ()), account_id]
    params += [connection.ops.adapt_datefield_value(d) for d in (date_from, date_to) if d is not None]
    with connection.cursor() as cursor:  # dates come back as dates on SQLite too (its date converter)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    series: dict[str, list] = {
        "dates": [],
        **{name: [] for name in HISTORY_SERIES},
        "engagement_rate": [],
        "engagement_rate_avg": None,
        "anomaly": [],
        "anomaly_reason": [],
    }
    if not rows:
        if expect is not None and account_id_by_handle(platform=expect[0], handle=expect[1]) != account_id:
            raise AccountChanged
        return series
    first = rows[0][0].toordinal()
    days = rows[-1][0].toordinal() - first + 1
    if days != len(rows):  # gaps: a row of None on each missing day
        filled: list[tuple] = [(None,) * (len(HISTORY_SERIES) + 2)] * days
        for row in rows:
            filled[row[0].toordinal() - first] = row
        rows = filled
    series["dates"] = [dt.date.fromordinal(day).isoformat() for day in range(first, first + days)]
    columns = list(zip(*rows, strict=True))
    for name, column in zip(HISTORY_SERIES, columns[1:-1], strict=True):
        series[name] = list(column)
    rates = list(map(engagement_rate, series["engagement"], series["followers"]))
    series["engagement_rate"] = rates
    series["engagement_rate_avg"] = average_rate(rates)
    reasons = columns[-1]
    series["anomaly"] = [
        None if d is None else r is not None for d, r in zip(columns[0], reasons, strict=True)
    ]
    series["anomaly_reason"] = list(reasons)
    return series


# --- The grid (and the CSV export) ----------------------------------------------------------------
#
# In the default order (newest date, then platform, then handle) a page is read one date at a time,
# so no query sorts more than one day of rows. Which date a page starts on, and how many rows of
# that date it skips, come from the number of rows per date. For the unfiltered grid these are
# the counts the database's own triggers keep (`SnapshotDateCount`, migration 0003): exact after
# any write, read in the same request (one row per date), so never cached and never stale. A grid
# filtered only by platform and date sums the per-(date, platform) counts the triggers also keep
# (`SnapshotPlatformCount`, migration 0008) instead of counting its snapshots; any other filter
# counts its dates in one query. Either is kept in the cache under the grid's generation token
# (once per data change and filter set, never per page).
#
# Inside a date, the rows in (platform, handle) order come from the account index, probing the
# (account, date) unique index: page 1 reads about 50 index entries instead of sorting a whole day
# of joined rows. A page deep inside its date skips whole platforms by their counts, then whole
# buckets of about 256 accounts by theirs (`SnapshotBucketCount`, migration 0010, and
# `snapshots.grid_buckets`), then picks its 50 accounts by walking that bucket's accounts from the
# nearer end, probing each one's row of the day; with other filters it picks them from the date's
# index entries and the accounts, from the nearer end of the day. No query reads or sorts a whole
# day of snapshot rows.

GRID_COLUMNS = (
    "account__platform",
    "account__handle",
    "account__organization__name",
    "date",
    "followers",
    "engagement",
    "posts",
    "likes",
    "comments",
    "shares",
    "anomaly_reason",
)
#: The CSV export's columns: the grid's first ten (the header older clients read), then every other
#: value stored per day, so that uploading the file back restores each row as it was (not the
#: anomaly flag, which the import recomputes from the counts).
EXPORT_COLUMNS = (
    "account__platform",
    "account__handle",
    "account__organization__name",
    "date",
    "followers",
    "engagement",
    "posts",
    "likes",
    "comments",
    "shares",
    "following",
    "views",
    "source",
    "precision",
    "collected_at",
)
#: Newest date first, then platform, then handle: unique per row, so pages never overlap.
GRID_DEFAULT_ORDER = ("-date", "account__platform", "account__handle")
_IN_DATE_ORDER = ("account__platform", "account__handle")
_IN_DATE_REVERSED = ("-account__platform", "-account__handle")
#: A page spanning more dates than this reads the rest with one range query.
_DATES_ONE_BY_ONE = 3
#: From this many rows into a date, a page picks its accounts first (see `_rows_of_date`).
_PICK_ACCOUNTS_FROM = 1000
#: From this many rows into one platform's day, a page picks its accounts first (`_rows_of_platform_day`).
_PROBE_FROM = 200
#: Where migrations 0003 and 0008 install the triggers that keep `SnapshotDateCount` and
#: `SnapshotPlatformCount`.
_MAINTAINED_VENDORS = ("postgresql", "sqlite")
#: The filters the maintained counts answer (`_counted_filters`): date comparisons.
_DATE_LOOKUPS = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def grid_queryset() -> QuerySet[Snapshot]:
    return Snapshot.objects.order_by(*GRID_DEFAULT_ORDER)


def _in_default_order(queryset: QuerySet[Snapshot]) -> bool:
    return tuple(queryset.query.order_by) == GRID_DEFAULT_ORDER


@dataclass(frozen=True, slots=True)
class GridTotal:
    count: int
    #: True when `count` is an estimate. Every total is counted now (kept for the API's field).
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class GridPage:
    rows: list[tuple]
    total: GridTotal


#: Each count table the grid reads, and where PostgreSQL keeps an open transaction's changes to it.
_CHANGES: dict[type[Model], type[Model]] = {
    SnapshotDateCount: SnapshotDateCountChange,
    SnapshotPlatformCount: SnapshotPlatformCountChange,
    SnapshotBucketCount: SnapshotBucketCountChange,
}


@functools.cache
def _maintained_counts_sql(vendor: str, counts: type[Model], keys: str, where: str, order: str) -> str:
    """SQL: (`keys`, snapshots) of every row of one of the grid's count tables kept by triggers
    (`counts`, its open transactions' changes in `_CHANGES[counts]`) that `where` selects and that
    has snapshots, in `order`. On PostgreSQL this transaction's change rows are added, those it has not
    committed yet (none outside a writing transaction, whose id is null then), so a transaction
    reads its own writes. Written out, not built by the ORM: a millisecond less on every grid page."""
    table = counts._meta.db_table
    if vendor != "postgresql":
        where = f"{where} AND snapshot_count > 0"
        return f"SELECT {keys}, snapshot_count FROM {table} WHERE {where} ORDER BY {order}"
    changes = _CHANGES[counts]._meta.db_table
    return (
        f"SELECT {keys}, sum(n)::bigint FROM ("
        f"SELECT {keys}, snapshot_count AS n FROM {table} WHERE {where} "
        f"UNION ALL SELECT {keys}, change FROM {changes} WHERE txid = txid_current_if_assigned() AND {where}"
        f") c GROUP BY {keys} HAVING sum(n) > 0 ORDER BY {order}"
    )


def _maintained_counts(using: str, counts: type[Model], keys: str, *, order: str, **equal) -> list[tuple]:
    """The rows of `_maintained_counts_sql` whose columns equal `equal`'s values (a tuple: any of)."""
    where, params = ["TRUE"], {}
    for column, value in equal.items():
        if isinstance(value, tuple):
            names = [f"{column}{n}" for n in range(len(value))]
            where.append(f"{column} IN ({', '.join(f'%({name})s' for name in names)})" if value else "FALSE")
            params |= dict(zip(names, value, strict=True))
        else:
            where.append(f"{column} = %({column})s")
            params[column] = value
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            _maintained_counts_sql(connection.vendor, counts, keys, " AND ".join(where), order), params
        )
        return cursor.fetchall()


def grid_date_counts(*, using: str = "default") -> list[tuple[dt.date, int]]:
    """Every date with snapshots and how many it has, newest first, from the counts the database's
    triggers keep: exact whatever was written a moment before, in this transaction too. One query
    over a row per date."""
    return _maintained_counts(using, SnapshotDateCount, "date", order="date DESC")


def grid_platform_counts(
    *, using: str = "default", platforms: tuple[str, ...] | None = None, date: dt.date | None = None
) -> list[tuple[dt.date, str, int]]:
    """Every (date, platform) with snapshots (of `platforms`, on `date`) and how many it has, newest
    date first, then platforms in the database's order, from the counts the triggers keep (as
    `grid_date_counts`): one query over a row per date and platform."""
    equal = {} if date is None else {"date": date}
    if platforms is not None:
        equal["platform"] = tuple(platforms)
    return _maintained_counts(
        using, SnapshotPlatformCount, "date, platform", order="date DESC, platform", **equal
    )


_BUCKET_KEYS = "date, platform, bucket"


def grid_bucket_counts(*, using: str = "default") -> list[tuple[dt.date, str, str, int]]:
    """Every (date, platform, bucket) with snapshots and how many it has, in that order, buckets in
    handle order, from the counts the triggers keep (migration 0010; as `grid_date_counts`)."""
    return _maintained_counts(using, SnapshotBucketCount, _BUCKET_KEYS, order=_BUCKET_KEYS)


def grid_day_buckets(*, using: str = "default", date: dt.date, platform: str) -> list[tuple[str, int]]:
    """(bucket, snapshots) of one platform's day, buckets in handle order (as `grid_bucket_counts`)."""
    rows = _maintained_counts(
        using, SnapshotBucketCount, _BUCKET_KEYS, order=_BUCKET_KEYS, date=date, platform=platform
    )
    return [(bucket, n) for _, _, bucket, n in rows]


@dataclass(frozen=True, slots=True)
class _CountedFilters:
    """A grid filtered only by platform and date: what the maintained counts answer exactly."""

    platforms: tuple[str, ...] | None
    dates: tuple[tuple[str, dt.date], ...]

    def keeps(self, date: dt.date) -> bool:
        return all(_DATE_LOOKUPS[lookup](date, value) for lookup, value in self.dates)


def _counted_filters(queryset: QuerySet[Snapshot]) -> _CountedFilters | None:
    """The queryset's filters when they are only the account's platform (equal or in a list) and
    the snapshot's date (compared with a date), ANDed; else None (another filter, or no counts)."""
    query = queryset.query
    if connections[queryset.db].vendor not in _MAINTAINED_VENDORS:
        return None
    where = query.where
    if where.negated or (where.connector != AND and len(where.children) > 1):
        return None
    base = query.base_table
    platforms: tuple[str, ...] | None = None
    dates = []
    for child in where.children:
        if not isinstance(child, Lookup) or not isinstance(child.lhs, Col):
            return None
        column, name, value = child.lhs, child.lookup_name, child.rhs
        join = query.alias_map.get(column.alias)
        if (
            column.target == Account._meta.get_field("platform")
            and isinstance(join, Join)
            and join.parent_alias == base
            and join.join_field == Snapshot._meta.get_field("account")
            and name in ("exact", "in")
        ):
            values = (value,) if name == "exact" else value
            if not isinstance(values, list | tuple | set | frozenset):
                return None  # a subquery
            if not all(isinstance(v, str) for v in values):
                return None
            chosen = tuple(dict.fromkeys(values))
            platforms = chosen if platforms is None else tuple(p for p in platforms if p in chosen)
        elif (
            column.target == Snapshot._meta.get_field("date")
            and column.alias == base
            and name in _DATE_LOOKUPS
            and isinstance(value, dt.date)
            and not isinstance(value, dt.datetime)
        ):
            dates.append((name, value))
        else:
            return None
    return _CountedFilters(platforms=platforms, dates=tuple(dates))


def _counted_dates(counted: _CountedFilters, *, using: str) -> list[tuple[dt.date, int]]:
    """(date, rows) of a grid filtered by platform and date, newest first, from the maintained counts."""
    if counted.platforms is None:
        counts = grid_date_counts(using=using)
    else:
        totals: dict[dt.date, int] = {}  # newest first, as the counts come
        for date, _, n in grid_platform_counts(using=using, platforms=counted.platforms):
            totals[date] = totals.get(date, 0) + n
        counts = list(totals.items())
    return [(date, n) for date, n in counts if counted.keeps(date)]


def _per_date(queryset: QuerySet[Snapshot]) -> list[tuple[dt.date, int]]:
    return sorted(queryset.values("date").annotate(n=Count("*")).values_list("date", "n"), reverse=True)


def _date_counts(queryset: QuerySet[Snapshot]) -> list[tuple[dt.date, int]]:
    """(date, rows) of the filtered grid, newest first: the maintained counts when unfiltered; when
    filtered, once per grid generation and filter set (kept in the cache), from the maintained
    per-platform counts for filters on platform and date (never scanning the snapshots), else
    counted in one query."""
    queryset = queryset.order_by()
    counted = _counted_filters(queryset)
    if counted is not None and counted == _CountedFilters(platforms=None, dates=()):
        return grid_date_counts(using=queryset.db)

    def count() -> list[tuple[dt.date, int]]:
        return _per_date(queryset) if counted is None else _counted_dates(counted, using=queryset.db)

    tokens = generations.generations([generations.GRID])
    if tokens is None:  # the cache is unreachable
        return count()
    digest = hashlib.blake2b(str(queryset.query).encode(), digest_size=16).hexdigest()
    key = f"grid-date-counts:{tokens[generations.GRID]}:{digest}"
    counts = cache.get(key)
    if counts is None:
        counts = count()
        cache.set(key, counts, timeout=settings.SOCIALMETRICS_CACHE_TIMEOUTS["grid"])
    return counts


def _rows_of_date(
    queryset: QuerySet[Snapshot],
    *,
    date: dt.date,
    offset: int = 0,
    limit: int,
    after: tuple[str, str] | None = None,
    rows_in_date: int | None = None,
) -> list[tuple]:
    """Rows of one date in (platform, handle) order: `limit` of them from `offset`, or after the
    row `after`. Given the date's number of rows, a deep offset skips whole platforms by their
    maintained counts, then picks the page's accounts first."""
    if after is None and rows_in_date is not None and offset >= _PICK_ACCOUNTS_FROM:
        counted = _counted_filters(queryset.order_by())
        if counted is not None:
            blocks = grid_platform_counts(using=queryset.db, platforms=counted.platforms, date=date)
            return _rows_of_platforms(queryset, date=date, blocks=blocks, offset=offset, limit=limit)
    queryset = queryset.filter(date=date)
    if after is not None:
        # A row comparison, (platform, handle) > after: the account index is entered right after the
        # cursor's account, where the OR of its parts filtered every account before it.
        queryset = queryset.filter(
            TupleGreaterThan(Tuple(F("account__platform"), F("account__handle")), after)
        )
    end = offset + limit if rows_in_date is None else min(offset + limit, rows_in_date)
    if end <= offset:
        return []
    if rows_in_date is None or offset < _PICK_ACCOUNTS_FROM:
        return list(queryset.order_by(*_IN_DATE_ORDER).values_list(*GRID_COLUMNS)[offset:end])
    # Deep inside the day: pick the page's accounts from the date's index entries and the accounts
    # alone, counting from the nearer end of the day (a sort bounded to at most half of it), then
    # read those rows only.
    accounts = queryset.values("account_id")
    if rows_in_date - offset < offset:
        picked = accounts.order_by(*_IN_DATE_REVERSED)[rows_in_date - end : rows_in_date - offset]
    else:
        picked = accounts.order_by(*_IN_DATE_ORDER)[offset:end]
    rows = queryset.filter(account_id__in=picked).order_by(*_IN_DATE_ORDER)
    return list(rows.values_list(*GRID_COLUMNS))


def _rows_of_platforms(
    queryset: QuerySet[Snapshot], *, date: dt.date, blocks: list[tuple], offset: int, limit: int
) -> list[tuple]:
    """Rows of one date from `offset`, its (date, platform, rows) counted `blocks` in order: whole
    platforms skipped by their counts, so a pick reads at most half of one platform's day."""
    rows: list[tuple] = []
    for _, platform, count in blocks:
        if len(rows) >= limit:
            break
        if offset >= count:
            offset -= count
            continue
        rows += _rows_of_platform_day(
            queryset, date=date, platform=platform, offset=offset, limit=limit - len(rows), count=count
        )
        offset = 0
    return rows


def _rows_of_platform_day(
    queryset: QuerySet[Snapshot], *, date: dt.date, platform: str, offset: int, limit: int, count: int
) -> list[tuple]:
    """`limit` rows of one platform's `count` on one date from `offset`, in handle order, for a grid
    filtered at most by platform and date. The bucket of accounts the page starts in comes from the
    maintained per-bucket counts; inside it the page's accounts are picked by walking the bucket's
    accounts in order from its nearer end, probing each one's row of the day in the (date, account)
    index (a subquery per account, which the planner cannot turn into a hash join over the whole
    day): at most about half a bucket of index probes (`grid_buckets.ACCOUNTS_PER_BUCKET`), however
    many accounts the platform has."""
    queryset = queryset.filter(date=date)
    end = min(offset + limit, count)
    if end <= offset:
        return []
    if offset < _PROBE_FROM:
        rows = queryset.filter(account__platform=platform).order_by(*_IN_DATE_ORDER)
        return list(rows.values_list(*GRID_COLUMNS)[offset:end])
    buckets = grid_day_buckets(using=queryset.db, date=date, platform=platform) or [("", count)]
    index, skip = 0, offset
    while index < len(buckets) - 1 and skip >= buckets[index][1]:
        skip -= buckets[index][1]
        index += 1
    first, rows_in_bucket = buckets[index]
    after = buckets[index + 1][0] if index + 1 < len(buckets) else None
    page_end = skip + end - offset
    backward = page_end <= rows_in_bucket and rows_in_bucket - page_end < skip  # from the bucket's end
    return grid_platform_day_rows(
        using=queryset.db,
        date=date,
        platform=platform,
        bound=after if backward else first or None,
        backward=backward,
        limit=page_end - skip,
        offset=rows_in_bucket - page_end if backward else skip,
    )


def grid_platform_day_rows(
    *,
    using: str = "default",
    date: dt.date,
    platform: str,
    bound: str | None,
    backward: bool,
    limit: int,
    offset: int,
) -> list[tuple]:
    """The grid's rows of the accounts of `platform` that have a snapshot on `date`, in handle order:
    `limit` of them after skipping `offset` accounts with a snapshot that day, walking forward from
    the handle `bound` (from the first when None), or `backward` from the last handle before
    `bound` (from the platform's last)."""
    params = {"date": date, "platform": platform, "bound": bound, "limit": limit, "offset": offset}
    with connections[using].cursor() as cursor:
        cursor.execute(_platform_day_sql(backward=backward, bounded=bound is not None), params)
        return cursor.fetchall()


@functools.cache
def _platform_day_sql(*, backward: bool, bounded: bool) -> str:
    """SQL: `grid_platform_day_rows` (%(bound)s when `bounded`). Whether an account has a snapshot
    that day is a subquery per account (an index probe), which the planner cannot turn into a hash
    join over the whole day. Written out once: the ORM took 2 ms to compile it (with the subquery,
    the slice and the grid's joins)."""
    snapshot, account = Snapshot._meta, Account._meta
    organization = account.get_field("organization")
    organizations = organization.related_model._meta.db_table
    columns = [
        'a."platform"',
        'a."handle"',
        'o."name"',
        *(f's."{snapshot.get_field(name).column}"' for name in GRID_COLUMNS[3:]),
    ]
    direction = "DESC" if backward else "ASC"
    bound = f'AND v."handle" {"<" if backward else ">="} %(bound)s ' if bounded else ""
    picked = (
        f'SELECT v."id" FROM "{account.db_table}" v WHERE v."platform" = %(platform)s {bound}'
        f'AND (SELECT u."account_id" FROM "{snapshot.db_table}" u '
        'WHERE u."account_id" = v."id" AND u."date" = %(date)s LIMIT 1) IS NOT NULL '
        f'ORDER BY v."platform" {direction}, v."handle" {direction} LIMIT %(limit)s OFFSET %(offset)s'
    )
    return (
        f"SELECT {', '.join(columns)} "
        f'FROM "{snapshot.db_table}" s '
        f'JOIN "{account.db_table}" a ON a."id" = s."account_id" '
        f'LEFT OUTER JOIN "{organizations}" o ON o."id" = a."{organization.column}" '
        f'WHERE s."date" = %(date)s AND s."account_id" IN ({picked}) '
        'ORDER BY a."platform", a."handle"'
    )


def _rows_from_dates(
    queryset: QuerySet[Snapshot], *, dates: list[tuple[dt.date, int]], offset: int, limit: int
) -> list[tuple]:
    """Rows of consecutive counted (date, rows) (newest first), skipping `offset` rows of the first."""
    rows: list[tuple] = []
    for index, (date, count) in enumerate(dates):
        if len(rows) >= limit:
            break
        if index == _DATES_ONE_BY_ONE:  # many sparse dates: the rest in one query
            rest = queryset.filter(date__lte=date, date__gte=dates[-1][0]).order_by(*GRID_DEFAULT_ORDER)
            rows += list(rest.values_list(*GRID_COLUMNS)[: limit - len(rows)])
            break
        rows += _rows_of_date(
            queryset,
            date=date,
            offset=offset if index == 0 else 0,
            limit=limit - len(rows),
            rows_in_date=count,
        )
    return rows


def grid_page(*, queryset: QuerySet[Snapshot], offset: int, limit: int) -> GridPage:
    """A page of (platform, handle, org_name, date, followers, engagement, posts, likes, comments,
    shares, anomaly_reason) rows in the queryset's order, and the exact total.

    Default order: the per-date counts (unfiltered: one query over the maintained counts; filtered:
    from the cache, or one query once per generation), then one query per date the page spans (at
    most three, then one range query), however deep the page.
    Any other order: the counts (for the total), then one OFFSET query, which sorts the filtered rows.
    """
    counts = _date_counts(queryset)
    total = GridTotal(count=sum(n for _, n in counts))
    if not _in_default_order(queryset):
        rows = queryset.values_list(*GRID_COLUMNS)[offset : offset + limit] if offset < total.count else []
        return GridPage(rows=list(rows), total=total)
    skip, first = offset, None
    for index, (_, count) in enumerate(counts):
        if skip < count:
            first = index
            break
        skip -= count
    rows: list[tuple] = []
    if first is not None:
        span, needed = [], skip + limit
        for date, count in counts[first:]:
            span.append((date, count))
            needed -= count
            if needed <= 0:
                break
        rows = _rows_from_dates(queryset, dates=span, offset=skip, limit=limit)
    return GridPage(rows=rows, total=total)


@dataclass(frozen=True, slots=True)
class GridCursor:
    """Where a cursor page ends, in the default order: the last row's date, platform and handle."""

    date: dt.date
    platform: str
    handle: str


def grid_rows_after(*, queryset: QuerySet[Snapshot], after: GridCursor | None, limit: int) -> list[tuple]:
    """The rows after `after` in the default order (keyset pagination): page 10,000 costs what
    page 1 costs, 1 to 4 queries however deep."""
    unordered = queryset.order_by()
    if after is None:
        date = unordered.aggregate(newest=Max("date"))["newest"]
        if date is None:
            return []
        rows = _rows_of_date(queryset, date=date, limit=limit)
    else:
        date = after.date
        rows = _rows_of_date(queryset, date=date, limit=limit, after=(after.platform, after.handle))
    for _ in range(2):  # the next dates one by one (dense data: a page rarely spans more)
        if len(rows) >= limit:
            return rows
        date = unordered.filter(date__lt=date).aggregate(newest=Max("date"))["newest"]
        if date is None:
            return rows
        rows += _rows_of_date(queryset, date=date, limit=limit - len(rows))
    if len(rows) < limit:  # sparse data: the rest in one query
        rest = queryset.filter(date__lt=date).order_by(*GRID_DEFAULT_ORDER)
        rows += list(rest.values_list(*GRID_COLUMNS)[: limit - len(rows)])
    return rows


#: What a spreadsheet would run as a formula (OWASP's list): such text cells get a leading apostrophe.
#: Cells already starting with apostrophes before such a character get one more, so the import can
#: take exactly one away (`snapshots.csv_import`) and every name comes back as it was.
FORMULA_START = "^'*[-=+@\t\r]"


def _neutralised(field: str):
    return Case(
        When(**{f"{field}__regex": FORMULA_START}, then=Concat(Value("'"), F(field))),
        default=F(field),
        output_field=CharField(),
    )


def _export_rows(queryset: QuerySet[Snapshot]) -> QuerySet:
    """The grid's columns for a CSV export, text cells neutralised (in SQL, on every database)."""
    return queryset.annotate(
        _platform=F("account__platform"),
        _handle=_neutralised("account__handle"),
        _org=_neutralised("account__organization__name"),
    ).values_list("_platform", "_handle", "_org", *EXPORT_COLUMNS[3:])


#: After the newest date, a download in the grid's default order goes out as consecutive groups of
#: dates, the first of at most this many rows and each next one twice as large (counted unfiltered;
#: a larger date is a group alone), one COPY each: the first row comes at once (127 ms at 10,000 x
#: 365, the single query sorted all 3.6 M rows first: 5.4 s), and doubling keeps the whole at COPY's
#: pace (1.07x; groups of a fixed 100,000 rows read the table by date, 0.73x).
EXPORT_GROUP_ROWS = 100_000


def _export_groups(queryset: QuerySet[Snapshot]) -> list[QuerySet[Snapshot]]:
    """The queryset as consecutive groups of dates, newest first, whose rows one after another are
    the queryset's in the grid's default order (any other order: the queryset alone).

    The newest date is a group alone, compared by equality, so that its rows can come in (platform,
    handle) order from the accounts' index with no sort (see `grid_export_csv_copy`). The counts
    are read in the export's own snapshot, so no newer date exists; the other groups meet and the
    last has no lower bound, so a date the counts do not list is still exported, once."""
    counts = grid_date_counts(using=queryset.db) if _in_default_order(queryset) else []
    if not counts:
        return [queryset]
    starts: list[dt.date] = []  # the oldest date of each group between the first and the last
    rows, previous, limit = 0, None, EXPORT_GROUP_ROWS
    for date, count in counts[1:]:
        if rows and rows + count > limit:
            starts.append(previous)
            rows, limit = 0, limit * 2
        rows += count
        previous = date
    newer = counts[0][0]
    groups = [queryset.filter(date=newer)]
    for start in starts:
        groups.append(queryset.filter(date__gte=start, date__lt=newer))
        newer = start
    groups.append(queryset.filter(date__lt=newer))
    return groups


@contextmanager
def _one_snapshot(using: str) -> Iterator[None]:
    """PostgreSQL: a read-only REPEATABLE READ transaction, whose queries all read the data as of
    its first, as one query would. Inside a caller's transaction: that transaction, as it is."""
    connection = connections[using]
    if connection.in_atomic_block or not connection.get_autocommit():
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


@contextmanager
def _pg_setting(cursor, name: str, value: str) -> Iterator[None]:
    """A PostgreSQL setting changed for the statements inside, then put back (an error rolls the
    transaction back, which puts it back too)."""
    cursor.execute("SELECT current_setting(%s), set_config(%s, %s, true)", [name, name, value])
    before = cursor.fetchone()[0]
    yield
    cursor.execute("SELECT set_config(%s, %s, true)", [name, before])


#: The CSV goes out in pieces of about this size (COPY's own messages are a line each), the first
#: row alone, as soon as it comes.
_EXPORT_CHUNK_BYTES = 256 * 1024


def grid_export_csv_copy(*, queryset: QuerySet[Snapshot]) -> Iterator[bytes] | None:
    """On PostgreSQL: the filtered grid as CSV lines written by the database itself (COPY TO
    STDOUT), one COPY per group of dates (`_export_groups`) in one snapshot of the data, streamed
    in chunks as they come. None elsewhere.

    Grouped, without JIT: compiling a group's query cost 0.2 s, more than it saves on a query that
    short. The newest date is read with sorting off: its rows come from the accounts' (platform, handle)
    index, each probing the (account, date) index, so the first row leaves within milliseconds at
    any size (sorting the newest date's 100,000 rows first took 1.7 s)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None

    def copied(cursor, group: QuerySet[Snapshot]) -> Iterator[bytes]:
        raw = cursor.cursor
        sql, params = _export_rows(group).query.sql_with_params()
        statement = f"COPY ({raw.mogrify(sql, params)}) TO STDOUT WITH (FORMAT csv)"
        started = time.monotonic()
        with raw.copy(statement) as copy:
            yield from copy
        if connection.queries_logged:  # COPY bypasses Django's cursor: log it as it would
            connection.queries_log.append({"sql": statement, "time": f"{time.monotonic() - started:.3f}"})

    def lines(cursor) -> Iterator[bytes]:
        groups = _export_groups(queryset)
        if len(groups) == 1:
            yield from copied(cursor, groups[0])
            return
        with _pg_setting(cursor, "jit", "off"):
            with _pg_setting(cursor, "enable_sort", "off"):
                yield from copied(cursor, groups[0])
            for group in groups[1:]:
                yield from copied(cursor, group)

    def chunks() -> Iterator[bytes]:
        with _one_snapshot(queryset.db), connection.cursor() as cursor:
            buffer, sent = bytearray(), False
            for data in lines(cursor):
                buffer += data
                if len(buffer) >= _EXPORT_CHUNK_BYTES or not sent:  # the first row goes out alone
                    yield bytes(buffer)
                    buffer.clear()
                    sent = True
            if buffer:
                yield bytes(buffer)

    return chunks()


def grid_export_rows(*, queryset: QuerySet[Snapshot], chunk_size: int = 5000) -> Iterator[tuple]:
    """Every row of the filtered grid, streamed from the database (a server-side cursor on
    PostgreSQL), so exporting millions of rows holds only one chunk in memory."""
    return _export_rows(queryset).iterator(chunk_size=chunk_size)


# --- Accounts with their latest values ------------------------------------------------------------

ACCOUNT_COLUMNS = (
    "pk",
    "platform",
    "handle",
    "organization__name",
    "display_name",
    "is_core",
    "is_active",
    "profile_url",
)
LATEST_FIELDS = (
    "date",
    *REPORTED_FIELDS,
    "engagement_rate",
    "precision",
    *(f"followers_change_{p}d" for p in GROWTH_PERIODS),
    *(f"followers_change_pct_{p}d" for p in GROWTH_PERIODS),
)


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    platform: str
    handle: str
    org_name: str | None
    display_name: str
    is_core: bool
    is_active: bool
    url: str
    latest: dict | None


def _account_row(values: tuple) -> AccountRow:
    """An AccountRow of ACCOUNT_COLUMNS' values followed by LATEST_FIELDS'."""
    width = len(ACCOUNT_COLUMNS)
    latest = None
    if values[width] is not None:  # an account with no snapshot has no latest row
        latest = dict(zip(LATEST_FIELDS, values[width:], strict=True))
    return AccountRow(*values[:width], latest=latest)


def _account_rows(queryset: QuerySet[Account]) -> list[AccountRow]:
    latest = (f"latest__{n}" for n in LATEST_FIELDS)
    return [_account_row(values) for values in queryset.values_list(*ACCOUNT_COLUMNS, *latest)]


def account_page(*, queryset: QuerySet[Account], offset: int, limit: int) -> list[AccountRow]:
    """One query: a page of accounts with their organization and latest values."""
    return _account_rows(queryset[offset : offset + limit])


@functools.cache
def _account_list_sql(vendor: str) -> str:
    """The unfiltered account list's one query, written out once per vendor: the number of accounts
    (the row the triggers keep where they do: counting 100,000 accounts took 8 to 13 ms) and a page
    of them in `account_queryset`'s order, in one round trip and never compiled by the ORM (0.6 ms
    for the 25 columns). Parameters: the limit, the offset."""
    account, latest = Account._meta, AccountLatest._meta
    organization = account.get_field("organization")
    joined = organization.related_model._meta.db_table
    columns = [
        'o."name"' if name == "organization__name" else f'a."{account.get_field(name).column}"'
        for name in ("id", *ACCOUNT_COLUMNS[1:])
    ]
    columns += [f'l."{latest.get_field(name).column}"' for name in LATEST_FIELDS]
    count = ACCOUNT_COUNT_SQL.get(vendor, f'(SELECT COUNT(*) FROM "{account.db_table}")')
    return (
        f"SELECT {count}, {', '.join(columns)} "
        f'FROM "{account.db_table}" a '
        f'LEFT OUTER JOIN "{joined}" o ON o."id" = a."{organization.column}" '
        f'LEFT OUTER JOIN "{latest.db_table}" l ON l."account_id" = a."id" '
        'ORDER BY a."platform", a."handle" LIMIT %s OFFSET %s'
    )


def account_list_page(*, offset: int, limit: int) -> tuple[int, list[AccountRow]]:
    """One query: the number of accounts, and a page of them (`account_queryset`'s order, platform
    then handle) with their organization and latest values; a page past the end counts apart."""
    # Booleans and dates come back as the ORM's on SQLite too (its converters of declared types).
    connection = connections[Account.objects.db]
    with connection.cursor() as cursor:
        cursor.execute(_account_list_sql(connection.vendor), [limit, offset])
        rows = cursor.fetchall()
    if not rows:
        return account_count(using=Account.objects.db), []
    return rows[0][0], [_account_row(values[1:]) for values in rows]


def account_detail(*, account_id: int) -> AccountRow | None:
    rows = _account_rows(Account.objects.filter(pk=account_id))
    return rows[0] if rows else None


# --- Top movers -----------------------------------------------------------------------------------

MOVER_COLUMNS = (
    "account__platform",
    "account__handle",
    "account__organization__name",
    "account__display_name",
    "date",
    "followers",
)


@dataclass(frozen=True, slots=True)
class Movers:
    """Rows of (*MOVER_COLUMNS, change, change_pct, anomaly_reason), biggest first."""

    as_of: dt.date | None
    gainers: list[tuple]
    losers: list[tuple]
    gainers_pct: list[tuple]
    losers_pct: list[tuple]


def movers(*, queryset: QuerySet[AccountLatest], days: int, limit: int) -> Movers:
    """The accounts whose followers rose or fell most over `days` (one of GROWTH_PERIODS) to their
    latest day, in followers and in percent, from their maintained latest rows: the newest latest
    day, then four queries of at most `limit` rows. Accounts whose latest day is more than `days`
    before the newest are left out (their change is not of this period); ties go by platform, then
    handle."""
    if days not in GROWTH_PERIODS:
        raise ValueError(f"days must be one of {GROWTH_PERIODS}")
    as_of = queryset.order_by().aggregate(newest=Max("date"))["newest"]
    if as_of is None:
        return Movers(as_of=None, gainers=[], losers=[], gainers_pct=[], losers_pct=[])
    recent = queryset.filter(date__gte=as_of - dt.timedelta(days=days))
    columns = (*MOVER_COLUMNS, f"followers_change_{days}d", f"followers_change_pct_{days}d", "anomaly_reason")

    def top(field: str, *, rising: bool) -> list[tuple]:
        moved = recent.filter(**{f"{field}__gt" if rising else f"{field}__lt": 0})
        order = F(field).desc() if rising else F(field).asc()
        ranked = moved.order_by(order, "account__platform", "account__handle")
        return list(ranked.values_list(*columns)[:limit])

    change, pct = columns[-3], columns[-2]
    return Movers(
        as_of=as_of,
        gainers=top(change, rising=True),
        losers=top(change, rising=False),
        gainers_pct=top(pct, rising=True),
        losers_pct=top(pct, rising=False),
    )


# --- Days flagged as anomalies --------------------------------------------------------------------

ANOMALY_COLUMNS = (
    "account__platform",
    "account__handle",
    "account__organization__name",
    "date",
    "followers",
    "anomaly_reason",
)


def anomaly_queryset(*, since: dt.date) -> QuerySet[Snapshot]:
    """The days flagged as anomalies (`snapshots.anomalies`) from `since` on, newest first, then
    platform, then handle. Read through their partial index: the flagged days only."""
    return Snapshot.objects.filter(anomaly_reason__isnull=False, date__gte=since).order_by(
        *GRID_DEFAULT_ORDER
    )


def anomaly_page(*, queryset: QuerySet[Snapshot], offset: int, limit: int) -> tuple[int, list[tuple]]:
    """Two queries: how many days the queryset has, and a page of them as ANOMALY_COLUMNS tuples."""
    total = queryset.count()
    rows = list(queryset.values_list(*ANOMALY_COLUMNS)[offset : offset + limit]) if offset < total else []
    return total, rows


# --- Posts ----------------------------------------------------------------------------------------

#: A post as the post list shows it (`post_page`'s tuples).
POST_COLUMNS = (
    "account__platform", "account__handle", "platform_post_id", "url", "post_type", "text",
    "published_at", "likes", "comments", "shares", "views", "engagement",
)  # fmt: skip
#: Newest first; the id makes the order total, so pages never repeat or skip a post.
POST_DEFAULT_ORDER = ("-published_at", "-id")


def day_start(day: dt.date) -> dt.datetime | None:
    """The first moment of a calendar day in SOCIALMETRICS_TIME_ZONE; None beyond what a datetime
    can hold (the first and last days of the calendar), where a bound is no bound."""
    try:
        start = dt.datetime.combine(day, dt.time(), tzinfo=product_zone())
        start.astimezone(dt.UTC)
    except OverflowError:
        return None
    return start


def post_queryset(*, since: dt.date | None = None, until: dt.date | None = None) -> QuerySet[Post]:
    """Posts published from the day `since` to the day `until` (inclusive, local days), newest
    first. One account's range reads its (account, published) index; a range across accounts the
    published index."""
    queryset = Post.objects.order_by(*POST_DEFAULT_ORDER)
    if since is not None and (start := day_start(since)) is not None:
        queryset = queryset.filter(published_at__gte=start)
    end = day_start(until + dt.timedelta(days=1)) if until is not None and until < dt.date.max else None
    if end is not None:
        queryset = queryset.filter(published_at__lt=end)
    return queryset


def post_page(*, queryset: QuerySet[Post], offset: int, limit: int) -> tuple[int, list[tuple]]:
    """Two queries: how many posts the queryset has, and a page of them as POST_COLUMNS tuples."""
    total = queryset.count()
    rows = list(queryset.values_list(*POST_COLUMNS)[offset : offset + limit]) if offset < total else []
    return total, rows

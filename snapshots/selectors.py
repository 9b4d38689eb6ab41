"""Reads of snapshots and latest values: the summary, its totals, one account's history, the grid,
the CSV export and the account list with latest values.

Every function here costs a fixed number of queries whatever the number of rows, reads each
account's latest values from the maintained `AccountLatest` row (never by scanning snapshots), and
returns plain tuples or dicts built from ``values_list`` rather than model instances.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Case, Count, F, Q, QuerySet, Sum, When

from accounts.models import Account
from socialmetrics import cache as generations

from .models import AccountLatest, Snapshot
from .services import GROWTH_PERIODS

# --- Summary and totals ---------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "account__platform",
    "account__handle",
    "account__organization__name",
    "followers",
    "engagement",
    "posts",
    "date",
)


def summary_queryset() -> QuerySet[AccountLatest]:
    """The latest row of every active account (each on its own most recent day)."""
    return AccountLatest.objects.filter(account__is_active=True)


def summary_rows(*, queryset: QuerySet[AccountLatest]) -> list[tuple]:
    """One query: (platform, handle, org_name, followers, engagement, posts, date) by platform, handle."""
    return list(queryset.order_by("account__platform", "account__handle").values_list(*SUMMARY_COLUMNS))


def _totals_aggregates() -> dict:
    # Aliases start with "_" so that they never shadow the fields the expressions read.
    aggregates = {
        "_accounts": Count("pk"),
        "_followers": Sum("followers"),
        "_engagement": Sum("engagement"),
    }
    for period in GROWTH_PERIODS:
        change = f"followers_change_{period}d"
        aggregates[f"_change_{period}d"] = Sum(change)
        # The follower count the change is measured from, over the accounts whose change is known.
        aggregates[f"_base_{period}d"] = Sum(
            Case(When(**{f"{change}__isnull": False}, then=F("followers") - F(change)))
        )
    return aggregates


def _totals_row(values: dict) -> dict:
    row = {
        "accounts": values["_accounts"],
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


def summary_totals(*, queryset: QuerySet[AccountLatest]) -> dict:
    """Followers and engagement summed per platform, per organization and overall, with follower
    growth over 1, 7 and 30 days (absolute, and percent of the followers it grew from).
    Three aggregate queries over the latest rows."""
    aggregates = _totals_aggregates()
    platforms = [
        {"platform": values["account__platform"], **_totals_row(values)}
        for values in queryset.order_by()
        .values("account__platform")
        .annotate(**aggregates)
        .order_by("account__platform")
    ]
    organizations = [
        {"organization": values["account__organization__name"], **_totals_row(values)}
        for values in queryset.order_by()
        .values("account__organization__name")
        .annotate(**aggregates)
        .order_by(F("account__organization__name").asc(nulls_last=True))
    ]
    overall = _totals_row(queryset.order_by().aggregate(**aggregates))
    return {"total": overall, "platforms": platforms, "organizations": organizations}


# --- One account's history ------------------------------------------------------------------------

HISTORY_SERIES = ("followers", "engagement", "following", "posts", "likes", "comments", "shares", "views")


def history_series(
    *, account_id: int, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> dict[str, list]:
    """One query: the account's daily series, oldest first, with ``None`` on the days without a
    snapshot between its first and last day in the range (a chart shows a gap, not invented data)."""
    queryset = Snapshot.objects.filter(account_id=account_id)
    if date_from is not None:
        queryset = queryset.filter(date__gte=date_from)
    if date_to is not None:
        queryset = queryset.filter(date__lte=date_to)
    rows = list(queryset.order_by("date").values_list("date", *HISTORY_SERIES))
    series: dict[str, list] = {"dates": [], **{name: [] for name in HISTORY_SERIES}}
    if not rows:
        return series
    by_date = {row[0]: row[1:] for row in rows}
    empty = (None,) * len(HISTORY_SERIES)
    day, last = rows[0][0], rows[-1][0]
    columns = [series[name] for name in HISTORY_SERIES]
    one_day = dt.timedelta(days=1)
    while day <= last:
        series["dates"].append(day.isoformat())
        for column, value in zip(columns, by_date.get(day, empty), strict=True):
            column.append(value)
        day += one_day
    return series


# --- The grid (and the CSV export) ----------------------------------------------------------------

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
)
#: Newest date first, then platform, then handle: unique per row, so pages never overlap.
GRID_DEFAULT_ORDER = ("-date", "account__platform", "account__handle")


def grid_queryset() -> QuerySet[Snapshot]:
    return Snapshot.objects.order_by(*GRID_DEFAULT_ORDER)


def grid_rows(*, queryset: QuerySet[Snapshot], offset: int, limit: int) -> list[tuple]:
    """One query: a page of (platform, handle, org_name, date, followers, engagement, posts, likes,
    comments, shares) in the queryset's order."""
    return list(queryset.values_list(*GRID_COLUMNS)[offset : offset + limit])


@dataclass(frozen=True, slots=True)
class GridCursor:
    """Where a cursor page ends, in the default order: the last row's date, platform and handle."""

    date: dt.date
    platform: str
    handle: str


def grid_rows_after(*, queryset: QuerySet[Snapshot], after: GridCursor | None, limit: int) -> list[tuple]:
    """One query: the rows after `after` in the default order (keyset pagination), so page 10,000
    costs what page 1 costs. The queryset must keep the default order."""
    if after is not None:
        queryset = queryset.filter(
            Q(date__lt=after.date)
            | Q(date=after.date, account__platform__gt=after.platform)
            | Q(date=after.date, account__platform=after.platform, account__handle__gt=after.handle)
        )
    return list(queryset.values_list(*GRID_COLUMNS)[:limit])


@dataclass(frozen=True, slots=True)
class GridTotal:
    count: int
    #: True when `count` is the database's estimate of the table size rather than a count.
    estimated: bool


def _table_estimate(queryset: QuerySet) -> int | None:
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [Snapshot._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def grid_total(*, queryset: QuerySet[Snapshot]) -> GridTotal:
    """The number of rows the filtered grid has, without a COUNT(*) on every page.

    The count is kept in the cache under the grid's generation token and the query's SQL, so it is
    computed once per data change and filter set. An unfiltered grid on PostgreSQL with more rows
    than SOCIALMETRICS_GRID_ESTIMATE_ABOVE reports the planner's estimate instead (and says so).
    """
    unordered = queryset.order_by()
    token = generations.generations([generations.GRID])[generations.GRID]
    digest = hashlib.blake2b(str(unordered.query).encode(), digest_size=16).hexdigest()
    key = f"grid-total:{token}:{digest}"
    cached = cache.get(key)
    if cached is not None:
        return GridTotal(*cached)
    total = None
    if not unordered.query.where:
        estimate = _table_estimate(unordered)
        if estimate is not None and estimate > settings.SOCIALMETRICS_GRID_ESTIMATE_ABOVE:
            total = GridTotal(count=estimate, estimated=True)
    if total is None:
        total = GridTotal(count=unordered.count(), estimated=False)
    cache.set(key, (total.count, total.estimated), timeout=settings.SOCIALMETRICS_CACHE_TIMEOUTS["grid"])
    return total


def grid_export_rows(*, queryset: QuerySet[Snapshot], chunk_size: int = 5000) -> Iterator[tuple]:
    """Every row of the filtered grid, streamed from the database (a server-side cursor on
    PostgreSQL), so exporting millions of rows holds only one chunk in memory."""
    return queryset.values_list(*GRID_COLUMNS).iterator(chunk_size=chunk_size)


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
    "followers",
    "following",
    "posts",
    "likes",
    "comments",
    "shares",
    "views",
    "engagement",
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


def _account_rows(queryset: QuerySet[Account]) -> list[AccountRow]:
    rows = []
    width = len(ACCOUNT_COLUMNS)
    for values in queryset.values_list(*ACCOUNT_COLUMNS, *(f"latest__{n}" for n in LATEST_FIELDS)):
        latest_values = values[width:]
        latest = None
        if latest_values[0] is not None:  # an account with no snapshot has no latest row
            latest = dict(zip(LATEST_FIELDS, latest_values, strict=True))
        rows.append(AccountRow(*values[:width], latest=latest))
    return rows


def account_page(*, queryset: QuerySet[Account], offset: int, limit: int) -> list[AccountRow]:
    """One query: a page of accounts with their organization and latest values."""
    return _account_rows(queryset[offset : offset + limit])


def account_detail(*, account_id: int) -> AccountRow | None:
    rows = _account_rows(Account.objects.filter(pk=account_id))
    return rows[0] if rows else None

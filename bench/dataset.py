"""The data set a run measures: what it holds, the endpoints read from it, and the reserved days.

Writes land on reserved days, where nothing of the generated data set lies, and are deleted again
through the write services (which keep the latest rows and the caches right): the import on
2004-01-01 onwards, the collections on the day after the data set's newest and on 1999-12-31, the
freshness writers on 2099-12-31. `heal` deletes whatever an interrupted run left there before
anything is measured (a left-over day would stretch every history and the grid).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

BENCH_PREFIX = "bench"
#: A backfilled day, far behind every account's latest (nothing to refresh).
COLLECT_PAST_DATE = dt.date(1999, 12, 31)
IMPORT_FIRST_DATE = dt.date(2004, 1, 1)  # the earliest day an import accepts
RESERVED_PAST = (dt.date(1999, 1, 1), dt.date(2004, 12, 31))
FRESH_DATE = dt.date(2099, 12, 31)
GRID_PER_PAGE = 50
GRID_DEEP_PAGE = 10_000


@dataclass
class Endpoint:
    name: str
    path: str


def describe() -> dict:
    """The data set's size and span, and what the endpoints read: the middle benchmark account's
    history, a search that finds it, the cursor of the grid's deep page."""
    from django.db import connection
    from django.db.models import Count, Max, Min

    from accounts.models import Account
    from snapshots.api.views import encode_cursor
    from snapshots.models import Snapshot

    bench = Account.objects.filter(handle__startswith=BENCH_PREFIX)
    accounts = bench.count()
    if not accounts:
        raise SystemExit(
            "No benchmark accounts in this database: run with --generate (or bench/generate.py) first."
        )
    span = Snapshot.objects.aggregate(rows=Count("pk"), first=Min("date"), last=Max("date"))
    middle = bench.order_by("pk").values("pk", "platform", "handle")[accounts // 2]
    history_days = Snapshot.objects.filter(account_id=middle["pk"]).count()
    # The cursor of the row just before page GRID_DEEP_PAGE (the grid's default order); on a
    # small data set, the cursor after its last row (an empty page).
    in_grid_order = Snapshot.objects.order_by("-date", "account__platform", "account__handle")
    offset = min((GRID_DEEP_PAGE - 1) * GRID_PER_PAGE, span["rows"]) - 1
    before = list(
        in_grid_order.values_list(
            "account__platform", "account__handle", "account__organization__name", "date"
        )[max(0, offset) : max(0, offset) + 1]
    )
    return {
        "backend": connection.vendor,
        "database": connection.settings_dict["NAME"] if connection.vendor == "postgresql" else "sqlite",
        "accounts": Account.objects.count(),
        "bench_accounts": accounts,
        "snapshots": span["rows"],
        "first_date": span["first"].isoformat() if span["first"] else None,
        "last_date": span["last"].isoformat() if span["last"] else None,
        "history_account": {**middle, "days": history_days},
        "search": middle["handle"][:-1],
        "deep_cursor": encode_cursor(before[0]) if before else "",
    }


def endpoints(data: dict) -> list[Endpoint]:
    """The read endpoints the `endpoints` and `http` sections measure, on the data set `data` describes."""
    account = data["history_account"]
    return [
        Endpoint("summary", "/api/summary"),
        Endpoint("summary totals", "/api/summary/totals"),
        Endpoint("history (1 account, 1 year)", f"/api/history/{account['platform']}/{account['handle']}"),
        Endpoint("grid page 1", "/api/grid?page=1"),
        Endpoint(f"grid page {GRID_DEEP_PAGE:,}", f"/api/grid?page={GRID_DEEP_PAGE}"),
        Endpoint(f"grid cursor at page {GRID_DEEP_PAGE:,}", f"/api/grid?cursor={data['deep_cursor']}"),
        Endpoint("accounts page 1", "/api/accounts?page=1"),
        Endpoint("accounts search", f"/api/accounts?search={data['search']}"),
    ]


def bench_accounts() -> list[dict]:
    from accounts.models import Account

    return list(
        Account.objects.filter(handle__startswith=BENCH_PREFIX)
        .order_by("pk")
        .values("pk", "platform", "handle", "organization__name")
    )


def delete_snapshots(*conditions, **filters) -> int:
    """Delete through the write service (it keeps the latest rows and the caches right)."""
    from snapshots.models import Snapshot
    from snapshots.services import snapshot_delete_many

    queryset = Snapshot.objects.filter(*conditions, **filters)
    return snapshot_delete_many(snapshots=queryset) if queryset.exists() else 0


def heal() -> None:
    """Delete what an interrupted run left on the reserved days, before anything is measured."""
    from django.db.models import Q

    from scraping.models import CollectionRun

    # Every collection run in a benchmark database is the benchmark's own (the generator records
    # none): the day each one wrote goes, the daily run's next day included.
    collected = list(CollectionRun.objects.values_list("date", flat=True).distinct())
    delete_snapshots(Q(date__range=RESERVED_PAST) | Q(date__in=[FRESH_DATE, *collected]))
    CollectionRun.objects.all().delete()


def vacuum() -> float | None:
    """On PostgreSQL, measure the tables as autovacuum keeps them in steady state: a freshly
    bulk-loaded table has no visibility map (no index-only scans) and earlier runs' deletes
    leave dead rows, both of which would make one run's figures depend on the last. Returns the
    seconds it took (None elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) snapshots_snapshot, snapshots_accountlatest, accounts_account")
    return round(time.perf_counter() - started, 1)

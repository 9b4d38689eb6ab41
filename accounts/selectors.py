"""Reads of accounts and organizations (nothing here knows about snapshots)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, connections
from django.db.models import QuerySet
from django.db.models.functions import Lower

from .models import Account, AccountCount, AccountCountChange

#: The number of accounts, by vendor: the row the triggers keep (`AccountCount`), on PostgreSQL
#: with this transaction's changes not yet folded into it; elsewhere a count of the accounts.
ACCOUNT_COUNT_SQL = {
    "postgresql": (
        f'(SELECT COALESCE((SELECT "account_count" FROM "{AccountCount._meta.db_table}" WHERE "id" = 1), 0)'
        f' + COALESCE((SELECT SUM("change") FROM "{AccountCountChange._meta.db_table}"'
        ' WHERE "txid" = txid_current_if_assigned()), 0))::bigint'
    ),
    "sqlite": f'COALESCE((SELECT "account_count" FROM "{AccountCount._meta.db_table}" WHERE "id" = 1), 0)',
}


def account_count(*, using: str = "default") -> int:
    """How many accounts there are: the maintained count where the triggers keep one (exact, this
    transaction's own writes included), else a count."""
    database = connections[using]
    sql = ACCOUNT_COUNT_SQL.get(database.vendor)
    if sql is None:
        return Account.objects.using(using).count()
    with database.cursor() as cursor:
        cursor.execute(f"SELECT {sql}")
        return cursor.fetchone()[0]


def account_queryset() -> QuerySet[Account]:
    """Every account, in the API's order (platform, then handle)."""
    return Account.objects.order_by("platform", "handle")  # unique, as (platform, lower(handle)) is


def account_id_by_handle(*, platform: str, handle: str) -> int | None:
    """The id of the account `handle` on `platform` (a `Platform` value), matched case-insensitively
    through the (platform, lower(handle)) unique index; None if there is none."""
    handle = handle.strip().removeprefix("@")
    with connection.cursor() as cursor:
        cursor.execute(_ID_BY_HANDLE, [platform, handle.lower()])
        row = cursor.fetchone()
    return None if row is None else row[0]


#: Written out: compiled by the ORM, the look-up took 0.9 instead of 0.25 ms of the first history
#: read of an account in a process (benchmark data).
_ID_BY_HANDLE = f'SELECT "id" FROM "{Account._meta.db_table}" WHERE "platform" = %s AND LOWER("handle") = %s'


def account_exists(*, platform: str, handle: str, exclude_id: int | None = None) -> bool:
    queryset = Account.objects.annotate(lhandle=Lower("handle")).filter(
        platform=platform, lhandle=handle.strip().lower()
    )
    if exclude_id is not None:
        queryset = queryset.exclude(pk=exclude_id)
    return queryset.exists()


def account_ids_by_keys(*, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the accounts named by (platform, lower-case handle) keys; keys without an account are
    left out. On PostgreSQL one query joins the keys, sent as two arrays, with the (platform,
    lower(handle)) unique index; elsewhere one query per 500 keys."""
    wanted = set(keys)
    if not wanted:
        return {}
    if connection.vendor == "postgresql":
        platforms, handles = zip(*wanted, strict=True)
        with connection.cursor() as cursor:
            cursor.execute(_PG_IDS_BY_KEYS, [list(platforms), list(handles)])
            return {(platform, lhandle): pk for pk, platform, lhandle in cursor.fetchall()}
    found: dict[tuple[str, str], int] = {}
    ordered = sorted(wanted)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        for pk, platform, lhandle in (
            Account.objects.annotate(lhandle=Lower("handle"))
            .filter(platform__in={p for p, _ in chunk}, lhandle__in={h for _, h in chunk})
            .values_list("pk", "platform", "lhandle")
        ):
            if (platform, lhandle) in wanted:
                found[(platform, lhandle)] = pk
    return found


#: LATERAL keeps it to one index look-up per key: given many keys, the planner would rather hash
#: every account, computing lower(handle) for each.
_PG_IDS_BY_KEYS = (
    f"SELECT a.id, k.platform, k.lhandle FROM unnest(%s::text[], %s::text[]) AS k(platform, lhandle) "
    f"CROSS JOIN LATERAL (SELECT id FROM {Account._meta.db_table} a WHERE a.platform = k.platform "
    "AND lower(a.handle) = k.lhandle) a"
)

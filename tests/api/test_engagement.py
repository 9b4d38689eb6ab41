"""The engagement rate (`snapshots.engagement`): one definition, the same figure in the history (per
day and over the range), the grid's named rows, the summary and the account list, on every database."""

import datetime as dt
import json
import math
from fractions import Fraction

import pytest
from django.apps import apps
from django.db import connection
from rest_framework.renderers import JSONRenderer

from snapshots.engagement import (
    average_rate,
    engagement_rate,
    rate_expression,
    rate_json,
    rate_json_sql,
    rate_sql,
)
from snapshots.models import AccountLatest, Snapshot
from snapshots.services import SnapshotRow, latest_compute, snapshot_upsert_many
from tests.api.conftest import account

pytestmark = pytest.mark.django_db

#: (followers, likes, comments, shares) -> the rate, to 8 places: ordinary, whole numbers, tiny,
#: huge, a tie and a hair below one, none.
CASES = [
    ((1070, 10, 2, 1), 0.01214953),
    ((120, 100, 20, 0), 1.0),  # a whole number: JSON writes 1.0 on every path
    ((10, 20, 0, 0), 2.0),
    ((500, 0, 0, 0), 0.0),
    ((84_000_000, 3, None, None), 4e-08),  # 3.57e-08; below 1e-4 JSON writes an exponent
    ((9_999_999_999, 123_456_789, 1, 1), 0.01234568),
    ((3, 10_000_000, None, None), 3333333.33333333),
    ((200_000_000, 1, None, None), 1e-08),  # exactly half of the last place: away from zero
    ((200_000_001, 1, None, None), 0.0),  # a hair below half
    ((0, 5, 1, 1), None),  # no followers: no rate
    ((None, 5, 1, 1), None),  # followers unknown
    ((300, None, None, None), None),  # engagement unknown
]


def exact(engagement: int, followers: int) -> float:
    """The definition on exact fractions: rounded half up to 8 places."""
    return math.floor(Fraction(engagement, followers) * 10**8 + Fraction(1, 2)) / 10**8


def write(day: dt.date, *cases) -> list:
    """One account per case, its values on `day`."""
    accounts = [account(f"case{i}") for i in range(len(cases))]
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=day, followers=f, likes=li, comments=c, shares=s)
            for a, ((f, li, c, s), _) in zip(accounts, cases, strict=True)
        ]
    )
    return accounts


def test_the_definition():
    assert engagement_rate(13, 1070) == 0.01214953
    assert engagement_rate(0, 10) == 0.0
    for (followers, *counts), expected in CASES:
        if followers and counts[0] is not None:
            engagement = sum(c or 0 for c in counts)
            assert engagement_rate(engagement, followers) == exact(engagement, followers) == expected
    assert engagement_rate(5, 0) is None
    assert engagement_rate(5, None) is None
    assert engagement_rate(None, 10) is None
    assert average_rate([0.1, None, 0.3]) == pytest.approx(0.2)
    assert average_rate([None, None]) is None
    assert average_rate([]) is None
    assert rate_json(None) == "null"
    assert rate_json(1.0) == "1.0"
    assert rate_json(3 / 84_000_000) == repr(3 / 84_000_000)


def test_the_stored_rates_and_the_order_the_database_sorts_by(today):
    accounts = write(today, *CASES)
    by_account = dict(
        Snapshot.objects.filter(account__in=accounts)
        .annotate(rate=rate_expression())
        .values_list("account_id", "rate")
    )
    for acc, (_, expected) in zip(accounts, CASES, strict=True):
        if expected is None:
            assert by_account[acc.pk] is None
        else:  # unrounded, to order by
            assert by_account[acc.pk] == pytest.approx(expected, abs=0.5e-8), acc.handle
        stored = AccountLatest.objects.get(account=acc)
        assert stored.engagement_rate == expected, acc.handle
        assert engagement_rate(stored.engagement, stored.followers) == expected


@pytest.mark.postgres
def test_the_postgresql_spellings_match_python(today):
    accounts = write(today, *CASES)
    for acc, (_, expected) in zip(accounts, CASES, strict=True):
        with connection.cursor() as cursor:
            rate = rate_sql(engagement="s.engagement", followers="s.followers")
            cursor.execute(
                f"SELECT {rate}, {rate_json_sql(rate)} FROM snapshots_snapshot s WHERE s.account_id = %s",
                [acc.pk],
            )
            value, text = cursor.fetchone()
        assert value == expected
        assert text == rate_json(expected) == json.dumps(expected), acc.handle


def test_the_latest_rows_equal_what_latest_compute_computes(today):
    """On PostgreSQL the latest rows are kept by one SQL statement, elsewhere by `latest_compute`:
    the rate and the pre-rendered summary are the same either way, byte for byte."""
    accounts = write(today, *CASES)
    computed = latest_compute(account_ids=[a.pk for a in accounts])
    for acc in accounts:
        stored = AccountLatest.objects.get(account=acc)
        assert stored.engagement_rate == computed[acc.pk].engagement_rate
        assert stored.summary_json == computed[acc.pk].summary_json


def test_the_summary_and_the_account_list_carry_the_latest_days_rate(api, today):
    accounts = write(today, *CASES)
    summary = {row["handle"]: row for row in api.get("/api/summary").json()}
    listed = {a["handle"]: a["latest"] for a in api.get("/api/accounts?per_page=50").json()["data"]}
    one = api.get(f"/api/accounts/{accounts[0].pk}").json()["latest"]
    assert one["engagement_rate"] == 0.01214953
    for acc, (_, expected) in zip(accounts, CASES, strict=True):
        assert summary[acc.handle]["engagement_rate"] == expected
        assert listed[acc.handle]["engagement_rate"] == expected
    # The pre-rendered summary is what the JSON renderer writes, whole-number rates included.
    fast = api.get("/api/summary").content
    assert fast == JSONRenderer().render(json.loads(fast))
    assert b'"engagement_rate":1.0,' in fast
    assert b'"engagement_rate":0.0,' in fast


def test_the_history_gives_each_days_rate_and_the_ranges_average(api, today):
    acc = account("nasa")
    days = [today - dt.timedelta(days=d) for d in range(4, -1, -1)]
    values = [(1000, 10), (1000, 30), None, (0, 5), (2000, 40)]  # a gap, and a day without followers
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=acc.pk, date=day, followers=v[0], likes=v[1])
            for day, v in zip(days, values, strict=True)
            if v is not None
        ]
    )
    body = api.get("/api/history/x/nasa").json()
    assert body["engagement_rate"] == [0.01, 0.03, None, None, 0.02]
    assert body["engagement_rate_avg"] == pytest.approx(0.02)
    # The average follows the range.
    last_two = api.get(f"/api/history/x/nasa?from={days[3]}").json()
    assert last_two["engagement_rate"] == [None, 0.02]
    assert last_two["engagement_rate_avg"] == 0.02
    first = api.get(f"/api/history/x/nasa?to={days[0]}").json()
    assert first["engagement_rate_avg"] == 0.01
    assert api.get(f"/api/history/x/nasa?from={days[3]}&to={days[3]}").json()["engagement_rate_avg"] is None


def test_the_grids_named_rows_carry_each_days_rate(api, today):
    accounts = write(today, *CASES)
    data = api.get("/api/grid?rows=objects&per_page=50").json()["data"]
    by_handle = {row["handle"]: row for row in data}
    for acc, (_, expected) in zip(accounts, CASES, strict=True):
        row = by_handle[acc.handle]
        assert row["engagement_rate"] == expected
        assert row["engagement_rate"] == engagement_rate(row["engagement"], row["followers"])


def test_the_grid_orders_by_the_rate_with_unknown_rates_last(api, today):
    write(today, *CASES)
    for ordering, reverse in (("engagement_rate", False), ("-engagement_rate", True)):
        data = api.get(f"/api/grid?rows=objects&ordering={ordering}").json()["data"]
        rates = [row["engagement_rate"] for row in data]
        known = [r for r in rates if r is not None]
        assert rates == sorted(known, reverse=reverse) + [None] * (len(rates) - len(known)), ordering
    # The download follows the same order.
    response = api.get("/api/download?ordering=-engagement_rate")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1].split(",")[1] == "case6"  # 3,333,333.33333333: the highest


def test_the_migration_fills_existing_rows(today):
    """Rows from before migration 0007 (no rate, the old fragment) get the rate and the fragment the
    write services write."""
    from importlib import import_module

    migration = import_module("snapshots.migrations.0007_latest_engagement_rate")
    accounts = write(today, *CASES)
    expected = {row.pk: (row.engagement_rate, row.summary_json) for row in AccountLatest.objects.all()}
    migration.drop_rates(apps, None)
    assert all('"engagement_rate"' not in r.summary_json for r in AccountLatest.objects.all())
    AccountLatest.objects.update(engagement_rate=None)
    migration.add_rates(apps, None)
    assert {
        row.pk: (row.engagement_rate, row.summary_json) for row in AccountLatest.objects.all()
    } == expected
    assert len(expected) == len(accounts)

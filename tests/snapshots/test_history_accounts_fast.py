"""The history read straight from the cursor: the same series, of the same types, as the ORM
reads (on SQLite and PostgreSQL); the account list's rows as the ORM gives them, and the same
answer whether or not django-filter runs."""

import datetime as dt

import pytest
from rest_framework.renderers import JSONRenderer

from accounts.models import Account, Platform
from accounts.selectors import account_queryset
from snapshots.engagement import average_rate, engagement_rate
from snapshots.models import Snapshot
from snapshots.selectors import (
    ACCOUNT_COLUMNS,
    HISTORY_SERIES,
    LATEST_FIELDS,
    AccountChanged,
    account_detail,
    account_list_page,
    account_page,
    history_series,
)
from snapshots.services import SnapshotRow, snapshot_upsert_many
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

END = dt.date(2026, 3, 31)


def orm_series(account_id: int, date_from=None, date_to=None) -> dict:
    """The history as the ORM reads it, gaps filled day by day: what `history_series` must equal."""
    queryset = Snapshot.objects.filter(account_id=account_id).order_by("date")
    if date_from:
        queryset = queryset.filter(date__gte=date_from)
    if date_to:
        queryset = queryset.filter(date__lte=date_to)
    rows = {row[0]: row for row in queryset.values_list("date", *HISTORY_SERIES, "anomaly_reason")}
    series = {"dates": [], **{n: [] for n in HISTORY_SERIES}, "engagement_rate": []}
    series |= {"engagement_rate_avg": None, "anomaly": [], "anomaly_reason": []}
    if not rows:
        return series
    day, last = min(rows), max(rows)
    while day <= last:
        row = rows.get(day, (None,) * (len(HISTORY_SERIES) + 2))
        series["dates"].append(day.isoformat())
        for name, value in zip(HISTORY_SERIES, row[1:-1], strict=True):
            series[name].append(value)
        series["engagement_rate"].append(engagement_rate(row[-2], row[1]))
        series["anomaly"].append(None if row[0] is None else row[-1] is not None)
        series["anomaly_reason"].append(row[-1])
        day += dt.timedelta(days=1)
    series["engagement_rate_avg"] = average_rate(series["engagement_rate"])
    return series


@pytest.fixture
def nasa():
    acc = account("NaSa")
    history(acc, days=40, end=END, followers=1000, step=7, skip={0, 3, 4, 17})
    snapshot_upsert_many(rows=[SnapshotRow(account_id=acc.pk, date=END - dt.timedelta(days=9), followers=5)])
    Snapshot.objects.filter(account=acc, date=END - dt.timedelta(days=9)).update(anomaly_reason="fell 99 %")
    return acc


@pytest.mark.parametrize(
    ("date_from", "date_to"),
    [
        (None, None),
        (END - dt.timedelta(days=20), None),
        (None, END - dt.timedelta(days=5)),
        (END - dt.timedelta(days=18), END - dt.timedelta(days=2)),
        (END + dt.timedelta(days=1), None),  # nothing in the range
    ],
)
def test_history_is_the_orm_series(nasa, date_from, date_to):
    expected = orm_series(nasa.pk, date_from, date_to)
    for expect in (None, ("x", "nasa")):
        series = history_series(account_id=nasa.pk, date_from=date_from, date_to=date_to, expect=expect)
        assert series == expected
        assert JSONRenderer().render(series) == JSONRenderer().render(expected)
    assert all(type(v) is int for v in expected["followers"] if v is not None) or not expected["dates"]


def test_history_checks_the_expected_handle_in_its_query(nasa, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert len(history_series(account_id=nasa.pk, expect=("x", "nasa"))["dates"]) == 39
    with django_assert_num_queries(2), pytest.raises(AccountChanged):  # the series, then the handle
        history_series(account_id=nasa.pk, expect=("youtube", "nasa"))
    with pytest.raises(AccountChanged):
        history_series(account_id=nasa.pk, expect=("x", "other"))
    assert history_series(account_id=nasa.pk + 1000)["dates"] == []


def test_history_of_a_handle_with_quotes_and_percent(api):
    acc = account("o'brien%_", platform=Platform.MASTODON)
    history(acc, days=3, end=END)
    body = api.get("/api/history/mastodon/O'Brien%25_").json()
    assert body["dates"] == [(END - dt.timedelta(days=d)).isoformat() for d in (2, 1, 0)]


def orm_rows(queryset) -> list[tuple]:
    return list(queryset.values_list(*ACCOUNT_COLUMNS, *(f"latest__{n}" for n in LATEST_FIELDS)))


def test_account_rows_have_the_orm_values_and_types(nasa):
    account("quiet", platform=Platform.YOUTUBE, organization=None, is_core=True, is_active=False)
    queryset = account_queryset()
    rows = account_page(queryset=queryset, offset=0, limit=10)
    expected = orm_rows(queryset)
    assert [
        (r.id, r.platform, r.handle, r.org_name, r.display_name, r.is_core, r.is_active, r.url) for r in rows
    ] == [e[: len(ACCOUNT_COLUMNS)] for e in expected]
    first, second = rows
    assert first.latest == dict(zip(LATEST_FIELDS, expected[0][len(ACCOUNT_COLUMNS) :], strict=True))
    assert type(first.latest["date"]) is dt.date
    assert type(first.latest["engagement_rate"]) is float
    assert type(first.latest["followers"]) is int
    assert (first.is_core, first.is_active) == (False, True)
    assert all(type(flag) is bool for row in rows for flag in (row.is_core, row.is_active))  # not 0 and 1
    assert (second.is_core, second.is_active, second.latest, second.org_name) == (True, False, None, None)


def test_account_page_slices_and_an_empty_filter(nasa):
    for i in range(5):
        account(f"a{i}")
    queryset = account_queryset()
    in_order = list(queryset.values_list("handle", flat=True))
    assert [r.handle for r in account_page(queryset=queryset, offset=2, limit=2)] == in_order[2:4]
    assert account_page(queryset=queryset, offset=50, limit=10) == []
    assert account_page(queryset=Account.objects.filter(pk__in=[]), offset=0, limit=10) == []
    assert account_detail(account_id=nasa.pk).latest["followers"] == 1000 + 7 * 38
    assert account_detail(account_id=nasa.pk + 1000) is None


def test_the_written_out_list_page_is_the_orm_page_and_its_total(nasa, django_assert_num_queries):
    account("quiet", platform=Platform.YOUTUBE, organization=None, is_core=True, is_active=False)
    for i in range(5):
        account(f"a{i}", display_name=f'It\'s {i} % "quoted"')
    queryset = account_queryset()
    for offset, limit in ((0, 100), (0, 3), (2, 2), (6, 10)):
        with django_assert_num_queries(1):  # the total in the page's own query
            total, rows = account_list_page(offset=offset, limit=limit)
        assert total == 7
        assert rows == account_page(queryset=queryset, offset=offset, limit=limit)
    assert all(type(flag) is bool for row in rows for flag in (row.is_core, row.is_active))
    with django_assert_num_queries(2):  # past the end: an empty page, then the total on its own
        assert account_list_page(offset=50, limit=10) == (7, [])
    Account.objects.all().delete()
    assert account_list_page(offset=0, limit=10) == (0, [])


def test_the_list_without_filters_equals_the_list_through_them(api, nasa):
    account("tube", platform=Platform.YOUTUBE, display_name="Rocket TV")
    plain = api.get("/api/accounts?page=1&per_page=5")
    through_filters = api.get("/api/accounts?page=1&per_page=5&search=")  # an empty filter
    assert plain.status_code == through_filters.status_code == 200
    assert plain.content == through_filters.content
    assert [a["handle"] for a in plain.json()["data"]] == ["NaSa", "tube"]
    assert api.get("/api/accounts?is_core=maybe").status_code == 400  # named filters still validate

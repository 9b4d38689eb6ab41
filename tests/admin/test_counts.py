"""Changelist totals: exact when that is cheap, clearly "about" or "more than" when it is not."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import Account
from scraping.models import CollectionOutcome, CollectionRun, OutcomeStatus
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics import admin_tools
from socialmetrics.admin_tools import EstimatedCountPaginator
from socialmetrics.dates import local_today
from tests.admin.conftest import page_text
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
SNAPSHOTS = "admin:snapshots_snapshot_changelist"


@pytest.fixture
def twelve_snapshots():
    """Three accounts, four days each (today and the three days before)."""
    today = local_today()
    accounts = AccountFactory.create_batch(3)
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=today - dt.timedelta(days=d), followers=100 + d)
            for a in accounts
            for d in range(4)
        ]
    )
    return today


@pytest.fixture
def limit_of_five(monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_LIMIT", 5)


def test_a_small_list_is_counted_exactly(staff_client, twelve_snapshots):
    response = staff_client.get(reverse(SNAPSHOTS), {"source__exact": "manual"})
    assert response.context["cl"].result_count == 12
    assert response.context["cl"].paginator.count_display == "12"
    assert "12 snapshots" in page_text(response)


def test_every_snapshot_or_a_date_hierarchy_range_is_counted_exactly_however_many(
    staff_client, twelve_snapshots, limit_of_five
):
    today = twelve_snapshots
    cases = [
        ({}, 12),
        ({"date__year": today.year}, None),
        ({"date__year": today.year, "date__month": today.month}, None),
        ({"date__year": today.year, "date__month": today.month, "date__day": today.day}, 3),
        ({"o": "3", "p": "1"}, 12),
    ]
    for params, expected in cases:
        if expected is None:  # the days of the year / month among the four
            days = params.get("date__month")
            expected = 3 * sum(
                1
                for d in range(4)
                if (today - dt.timedelta(days=d)).year == today.year
                and (days is None or (today - dt.timedelta(days=d)).month == today.month)
            )
        response = staff_client.get(reverse(SNAPSHOTS), params)
        cl = response.context["cl"]
        assert cl.result_count == expected, params
        assert cl.paginator.count_kind == EstimatedCountPaginator.EXACT, params
        assert f"{expected} snapshots" in page_text(response), params


def test_beyond_the_limit_a_filtered_list_says_more_than(
    staff_client, twelve_snapshots, limit_of_five, monkeypatch
):
    monkeypatch.setattr(admin_tools, "planner_estimate", lambda queryset: None)
    response = staff_client.get(reverse(SNAPSHOTS), {"source__exact": "manual"})
    cl = response.context["cl"]
    assert cl.result_count == 5
    assert cl.paginator.count_kind == EstimatedCountPaginator.AT_LEAST
    text = page_text(response)
    assert "more than 5 snapshots" in text
    assert "more than 5 results" in text  # the search bar's count says the same
    assert "Select all more than 5 snapshots" in text


def test_an_estimate_is_rounded_and_said_to_be_one(
    staff_client, twelve_snapshots, limit_of_five, monkeypatch
):
    monkeypatch.setattr(admin_tools, "planner_estimate", lambda queryset: 177_834)
    response = staff_client.get(reverse(SNAPSHOTS), {"anomaly": "no"})
    cl = response.context["cl"]
    assert cl.paginator.count_kind == EstimatedCountPaginator.ESTIMATE
    assert cl.result_count == 177_834
    assert "about 178,000 snapshots" in page_text(response)


def test_a_search_is_never_counted_from_the_date_counts(staff_client, twelve_snapshots, limit_of_five):
    handle = Account.objects.order_by("pk").first().handle
    response = staff_client.get(reverse(SNAPSHOTS), {"q": handle})
    assert response.context["cl"].result_count == 4
    assert response.context["cl"].paginator.count_kind == EstimatedCountPaginator.EXACT


def test_other_changelists_group_their_totals(staff_client):
    Account.objects.bulk_create(Account(platform="x", handle=f"bulk{n}") for n in range(1_234))
    response = staff_client.get(reverse("admin:accounts_account_changelist"))
    assert "1,234 accounts" in page_text(response)


def test_the_hierarchy_range_reads_years_months_and_days():
    from socialmetrics.admin_tools import hierarchy_range

    assert hierarchy_range({"date__year": "2026"}, field="date") == (
        dt.date(2026, 1, 1),
        dt.date(2026, 12, 31),
    )
    assert hierarchy_range({"date__year": "2026", "date__month": "12"}, field="date") == (
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 31),
    )
    assert hierarchy_range({"date__year": "2024", "date__month": "2", "date__day": "29"}, field="date") == (
        dt.date(2024, 2, 29),
        dt.date(2024, 2, 29),
    )
    for bad in ({"date__year": "x"}, {"date__year": "2026", "date__month": "13"}, {"date__month": "1"}, {}):
        assert hierarchy_range(bad, field="date") is None


@pytest.mark.postgres
def test_postgresql_estimates_a_big_table_before_it_was_ever_analysed(staff_client, monkeypatch):
    """Before ANALYZE the table's statistics say nothing (the snapshot list once said "10000 results"
    of 177,834 rows): the planner's estimate follows the table's size, so the list says "about N"."""
    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_LIMIT", 100)
    accounts = Account.objects.bulk_create(Account(platform="x", handle=f"est{n}") for n in range(2_000))
    run = CollectionRun.objects.create(accounts_total=2_000)
    CollectionOutcome.objects.bulk_create(
        CollectionOutcome(run=run, account=a, status=OutcomeStatus.SUCCEEDED) for a in accounts
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'scraping_collectionoutcome'::regclass")
        assert cursor.fetchone()[0] <= 0  # never analysed
    response = staff_client.get(reverse("admin:scraping_collectionoutcome_changelist"))
    paginator = response.context["cl"].paginator
    assert paginator.count_kind == EstimatedCountPaginator.ESTIMATE
    assert 500 <= paginator.count <= 8_000, paginator.count
    assert paginator.count_display.startswith("about ")
    assert f"{paginator.count_display} collection outcomes" in page_text(response)

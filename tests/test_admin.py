"""The admin: every page opens, no page issues a query per row, actions go through services."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import Max, Min
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account
from scraping.models import CollectionOutcome, CollectionRun, OutcomeStatus
from snapshots.models import AccountLatest, Snapshot
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.dates import local_today
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(user)
    return client


def make_data(accounts: int, days: int) -> list[Account]:
    made = AccountFactory.create_batch(accounts)
    today = local_today()
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=today - dt.timedelta(days=d), followers=100 + d, likes=d)
            for a in made
            for d in range(days)
        ]
    )
    run = CollectionRun.objects.create(accounts_total=accounts)
    CollectionOutcome.objects.bulk_create(
        CollectionOutcome(run=run, account=a, status=OutcomeStatus.SUCCEEDED) for a in made
    )
    return made


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


CHANGELISTS = [
    "admin:accounts_account_changelist",
    "admin:accounts_organization_changelist",
    "admin:snapshots_snapshot_changelist",
    "admin:scraping_collectionrun_changelist",
    "admin:scraping_collectionoutcome_changelist",
]


@pytest.mark.parametrize("name", CHANGELISTS)
def test_changelists_cost_the_same_queries_for_few_or_many_rows(staff_client, name):
    make_data(3, 2)
    few = queries(staff_client, reverse(name))
    make_data(40, 2)
    many = queries(staff_client, reverse(name))
    assert many == few


def test_account_page_shows_latest_values_and_recent_snapshots(staff_client):
    account = make_data(1, 40)[0]
    response = staff_client.get(reverse("admin:accounts_account_change", args=[account.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "snapshots of the last 30 days" in content.lower()
    inline = response.context["inline_admin_formsets"][0]
    assert len(inline.formset.queryset) == 31  # today and the 30 days before
    assert "Latest values" in content


def test_run_pages_are_read_only(staff_client):
    make_data(2, 1)
    run = CollectionRun.objects.get()
    response = staff_client.get(reverse("admin:scraping_collectionrun_change", args=[run.pk]))
    assert response.status_code == 200
    assert b'name="_save"' not in response.content
    assert staff_client.get(reverse("admin:scraping_collectionrun_add")).status_code == 403


def test_actions_mark_core_and_deactivate(staff_client):
    accounts = make_data(3, 1)
    ids = [a.pk for a in accounts[:2]]
    url = reverse("admin:accounts_account_changelist")
    staff_client.post(url, {"action": "mark_core", "_selected_action": ids})
    staff_client.post(url, {"action": "deactivate", "_selected_action": ids})
    assert set(Account.objects.filter(is_core=True, is_active=False).values_list("pk", flat=True)) == set(ids)


def test_editing_a_snapshot_in_the_admin_keeps_the_latest_row_right(staff_client):
    account = make_data(1, 2)[0]
    snapshot = Snapshot.objects.get(account=account, date=local_today())
    url = reverse("admin:snapshots_snapshot_change", args=[snapshot.pk])
    data = {
        "account": account.pk,
        "date": snapshot.date.isoformat(),
        "followers": 999,
        "source": "manual",
        "precision": "exact",
    }
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.content
    assert AccountLatest.objects.get(account=account).followers == 999
    staff_client.post(reverse("admin:snapshots_snapshot_delete", args=[snapshot.pk]), {"post": "yes"})
    assert AccountLatest.objects.get(account=account).date == local_today() - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("followers", -5, False),
        ("followers", 10_000_000_001, False),
        ("views", 10**15, True),
        ("likes", 0, True),
    ],
)
def test_an_impossible_count_is_refused_in_the_admin_with_the_reason(staff_client, field, value, allowed):
    account = make_data(1, 1)[0]
    snapshot = Snapshot.objects.get(account=account)
    url = reverse("admin:snapshots_snapshot_change", args=[snapshot.pk])
    data = {
        "account": account.pk,
        "date": snapshot.date.isoformat(),
        "source": "manual",
        "precision": "exact",
    }
    response = staff_client.post(url, {**data, field: value})
    snapshot.refresh_from_db()
    if allowed:
        assert response.status_code == 302
        assert getattr(snapshot, field) == value
    else:
        assert response.status_code == 200
        assert "Expected a whole number from 0 to 10,000,000,000." in response.content.decode()
        assert getattr(snapshot, field) != value


def test_search_and_filters_work(staff_client):
    make_data(5, 1)
    url = reverse("admin:accounts_account_changelist")
    assert staff_client.get(url, {"q": "account"}).status_code == 200
    assert staff_client.get(url, {"platform__exact": "x", "is_core__exact": "0"}).status_code == 200
    snapshots = reverse("admin:snapshots_snapshot_changelist")
    assert staff_client.get(snapshots, {"date__year": local_today().year}).status_code == 200


def test_date_hierarchy_offers_the_range_without_scanning(staff_client):
    from socialmetrics.admin_tools import with_range_dates

    account = AccountFactory()
    for day in (dt.date(2025, 11, 30), dt.date(2026, 1, 2), dt.date(2026, 1, 4)):
        Snapshot.objects.create(account=account, date=day, followers=1)
    qs = with_range_dates(Snapshot.objects.all())
    assert qs.dates("date", "year") == [dt.date(2025, 1, 1), dt.date(2026, 1, 1)]
    assert qs.filter(date__year=2026).dates("date", "month") == [dt.date(2026, 1, 1)]
    assert qs.dates("date", "month", order="DESC")[0] == dt.date(2026, 1, 1)
    assert len(qs.filter(date__year=2026).dates("date", "day")) == 3  # Jan 2, 3 and 4
    assert qs.aggregate(first=Min("date"), last=Max("date")) == {
        "first": dt.date(2025, 11, 30),
        "last": dt.date(2026, 1, 4),
    }
    response = staff_client.get(reverse("admin:snapshots_snapshot_changelist"), {"date__year": 2026})
    assert response.status_code == 200
    assert b"January 2026" in response.content


def test_filtered_lists_count_at_most_a_bounded_number(staff_client, monkeypatch):
    from socialmetrics.admin_tools import EstimatedCountPaginator

    monkeypatch.setattr(EstimatedCountPaginator, "COUNT_LIMIT", 5)
    make_data(3, 4)
    response = staff_client.get(reverse("admin:snapshots_snapshot_changelist"), {"source__exact": "manual"})
    # Beyond the limit: PostgreSQL's planner estimate when it is above the limit, else the limit.
    assert response.context["cl"].result_count >= 5
    assert "about" in response.content.decode() or "more than 5" in response.content.decode()


@pytest.mark.django_db
def test_a_snapshot_dated_in_the_future_is_refused_by_the_form(staff_client):
    from snapshots.models import Snapshot
    from socialmetrics.dates import local_today
    from tests.factories import AccountFactory

    account = AccountFactory()
    tomorrow = (local_today() + dt.timedelta(days=1)).isoformat()
    data = {"account": account.pk, "date": tomorrow, "followers": 5, "source": "manual", "precision": "exact"}
    response = staff_client.post(reverse("admin:snapshots_snapshot_add"), data)
    assert response.status_code == 200
    assert "is in the future" in response.content.decode()
    assert not Snapshot.objects.exists()

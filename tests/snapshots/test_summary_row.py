"""The summary objects the latest rows carry (`AccountLatest.summary_object`, its order and its
account's activity): whichever way an account or an organization changes (the API, the admin, an
account import, a queryset's update(), a deleted organization), the next /api/summary shows it, byte
for byte what JSONRenderer writes from the accounts as they are now, and every latest row stays what
`latest_compute` computes. On PostgreSQL a change and a refresh of the same row at the same moment
end with the change shown, whichever commits first."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.renderers import JSONRenderer

from accounts.models import Account, Organization, Platform
from accounts.services import account_update, accounts_import, accounts_set_flags
from snapshots.models import AccountLatest
from snapshots.selectors import summary_body, summary_queryset
from snapshots.services import SnapshotRow, latest_compute, snapshot_upsert_many
from tests.factories import AccountFactory, OrganizationFactory
from tests.snapshots.test_summary_fast import expected_summary_body

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 5, 1)
#: Names JSON writers escape differently if they differ at all, and whose code point order differs
#: from a natural language's.
AWKWARD = [
    'quo"te',
    "back\\slash",
    "ctl\x01\x08\x09\x0a\x0c\x0d\x1f\x7f",
    "ünïcödé",
    "emoji\U0001f600",
    "line\u2028para\u2029",
    "Zed",
    "éclair",
    "_under",
]


def write(accounts, *, day: dt.date = DAY, days: int = 3) -> None:
    snapshot_upsert_many(
        rows=[
            SnapshotRow(
                account_id=a.pk, date=day - dt.timedelta(days=d), followers=1000 + 10 * n - d, likes=n
            )
            for n, a in enumerate(accounts)
            for d in range(days)
        ]
    )


def expected_body() -> bytes:
    """What JSONRenderer writes for the active accounts' latest rows."""
    return expected_summary_body(AccountLatest.objects.filter(account__is_active=True))


def latest_differences() -> list[str]:
    """Where the stored latest rows differ from what `latest_compute` computes now."""
    fields = [f.attname for f in AccountLatest._meta.concrete_fields if f.name != "account"]
    expected = latest_compute(account_ids=Account.objects.values_list("pk", flat=True))
    stored = {row.account_id: row for row in AccountLatest.objects.all()}
    assert stored.keys() == expected.keys()
    return [
        f"{a}.{name}: stored {getattr(stored[a], name)!r}, computed {getattr(expected[a], name)!r}"
        for a in sorted(stored)
        for name in fields
        if getattr(stored[a], name) != getattr(expected[a], name)
    ]


def summary(api) -> bytes:
    """The next /api/summary as an anonymous reader gets it (cached between writes)."""
    response = api.get("/api/summary")
    assert response.status_code == 200
    return response.content


def assert_shown(api, *, present: list[str] = (), absent: list[str] = ()) -> None:
    body = summary(api)
    assert body == expected_body()
    text = body.decode()
    for name in present:
        assert f":{JSONRenderer().render(name).decode()}," in text, name
    for name in absent:
        assert f":{JSONRenderer().render(name).decode()}," not in text, name
    assert latest_differences() == []


@pytest.fixture
def world() -> list[Account]:
    first, second = OrganizationFactory(name="First org"), OrganizationFactory(name="Second org")
    accounts = [
        AccountFactory(platform=Platform.X, handle="mmm", organization=first),
        AccountFactory(platform=Platform.X, handle="zzz", organization=second),
        AccountFactory(platform=Platform.YOUTUBE, handle="yyy", organization=first),
        AccountFactory(platform=Platform.TRUTH_SOCIAL, handle="ttt", organization=None),
        AccountFactory(platform=Platform.GITHUB, handle="ggg", organization=second),
        AccountFactory(platform=Platform.GITHUB, handle="idle", organization=first, is_active=False),
    ]
    write(accounts)
    return accounts


def test_the_rows_are_filled_as_they_are_written(world):
    assert summary_body(queryset=summary_queryset()) == expected_body()
    assert latest_differences() == []
    assert not AccountLatest.objects.get(account__handle="idle").is_active


def test_names_changed_behind_the_services_back_are_rendered_as_jsonrenderer_writes_them(world):
    """queryset.update() sends no signal: the database's triggers render the new names."""
    first, second = Organization.objects.order_by("pk")
    for account, name in zip(world, AWKWARD, strict=False):
        Account.objects.filter(pk=account.pk).update(handle=name)
    first_name, second_name = "Org " + AWKWARD[2], "Org " + AWKWARD[5]
    Organization.objects.filter(pk=first.pk).update(name=first_name)
    Organization.objects.filter(pk=second.pk).update(name=second_name)
    body = summary_body(queryset=summary_queryset())
    assert body == expected_body()
    for escaped in (b"\\u2028", b"\\u0001", "emoji\U0001f600".encode()):
        assert escaped in body
    assert latest_differences() == []
    Account.objects.filter(platform=Platform.X).update(platform=Platform.REDDIT, is_active=False)
    Account.objects.filter(pk=world[5].pk).update(is_active=True, organization=None)
    assert summary_body(queryset=summary_queryset()) == expected_body()
    assert latest_differences() == []


def test_an_account_renamed_through_the_api_shows_in_the_next_summary(world, api, staff_api):
    assert_shown(api, present=["zzz"])
    zzz = world[1]
    response = staff_api.patch(f"/api/accounts/{zzz.pk}", {"handle": "aaa"}, format="json")
    assert response.status_code == 200, response.content
    assert_shown(api, present=["aaa"], absent=["zzz"])
    assert summary(api).index(b'"handle":"aaa"') < summary(api).index(b'"handle":"mmm"')  # its new place
    response = staff_api.patch(f"/api/accounts/{zzz.pk}", {"org_name": "Brand new org"}, format="json")
    assert response.status_code == 200, response.content
    assert_shown(api, present=["Brand new org"])


def test_an_organization_renamed_in_the_admin_shows_in_the_next_summary(
    world, api, client, django_user_model
):
    assert_shown(api, present=["First org"])
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.org", "pw"))
    first = Organization.objects.get(name="First org")
    response = client.post(
        reverse("admin:accounts_organization_change", args=[first.pk]), {"name": "Renamed org"}
    )
    assert response.status_code == 302, response.content
    assert_shown(api, present=["Renamed org"], absent=["First org"])


def test_accounts_moved_between_organizations_and_organizations_deleted(world, api):
    assert_shown(api)
    mmm = Account.objects.get(handle="mmm")
    account_update(account=mmm, organization="Second org")
    assert_shown(api)
    account_update(account=mmm, organization=None)
    assert_shown(api)
    Organization.objects.get(name="Second org").delete()  # its accounts are left without one
    assert_shown(api, absent=["Second org"])
    report = accounts_import(
        entries=[{"platform": "github", "handle": "ggg", "organization": "Imported org"}]
    )
    assert report.updated == 1
    assert_shown(api, present=["Imported org"])


def test_deactivated_accounts_leave_the_summary_and_come_back(world, api, staff_api):
    assert_shown(api, present=["yyy"], absent=["idle"])
    yyy, idle = world[2], world[5]
    assert staff_api.delete(f"/api/accounts/{yyy.pk}").status_code == 200  # deactivates
    assert_shown(api, absent=["yyy", "idle"])
    accounts_set_flags(account_ids=[yyy.pk, idle.pk], is_active=True)
    assert_shown(api, present=["yyy", "idle"])


def test_a_platform_change_moves_the_account(world, api):
    account_update(
        account=Account.objects.get(handle="ttt"), platform=Platform.BLUESKY, handle="ttt.bsky.social"
    )
    assert_shown(api, present=["ttt.bsky.social"], absent=["ttt"])


def test_new_days_keep_the_new_names(world, api):
    Organization.objects.filter(name="First org").update(name="Quietly renamed")
    write(world, day=DAY + dt.timedelta(days=1), days=1)
    assert_shown(api, present=["Quietly renamed"], absent=["First org"])


def test_rebuild_latest_restores_damaged_summary_objects(world):
    AccountLatest.objects.update(summary_object="{}", summary_key="", is_active=False)
    call_command("rebuild_latest", verbosity=0)
    assert summary_body(queryset=summary_queryset()) == expected_body()
    assert latest_differences() == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_rows_that_exist(world):
    call_command("migrate", "snapshots", "0008", verbosity=0)
    try:
        Account.objects.filter(handle="mmm").update(handle="moved on")  # no trigger yet
        Organization.objects.filter(name="Second org").update(name="Second's new name")
    finally:
        call_command("migrate", "snapshots", verbosity=0)
    assert summary_body(queryset=summary_queryset()) == expected_body()
    assert latest_differences() == []


# --- Changes and refreshes at the same moment (PostgreSQL) ----------------------------------------

TIMEOUT = 30


def _waiting_on_latest(thread: threading.Thread) -> None:
    """Until `thread` waits for the latest table's lock, or has ended."""
    deadline = time.monotonic() + TIMEOUT
    with connection.cursor() as cursor:
        while thread.is_alive() and time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                [AccountLatest._meta.db_table],
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)


def _started(target) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def _held_open(work, done: threading.Event, release: threading.Event, then=None):
    """`work` in a transaction that stays open until `release`, then `then` in it too."""

    def run() -> None:
        with transaction.atomic():
            work()
            done.set()
            assert release.wait(TIMEOUT)
            if then is not None:
                then()

    return run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first", ["refresh", "rename", "refresh, then the account's id"])
def test_a_rename_and_a_refresh_at_the_same_moment_end_with_the_new_name(first):
    """Whichever starts first, the other waits for it and the summary ends with the new names. The
    third: a collection's transaction refreshes the latest row, then records the account's id on
    the platform (`scraping.runner`) while the rename waits: no deadlock."""
    organization = OrganizationFactory(name="Before org")
    account = AccountFactory(handle="before", organization=organization)  # no latest row yet

    def refresh() -> None:
        write([account], days=1)

    def rename() -> None:
        account_update(account=Account.objects.get(pk=account.pk), handle="after", organization="After org")

    def learn_id() -> None:
        Account.objects.bulk_update([Account(pk=account.pk, external_id="12345")], ["external_id"])

    held, other = (rename, refresh) if first == "rename" else (refresh, rename)
    done, release = threading.Event(), threading.Event()
    then = learn_id if first.endswith("id") else None
    holder, errors = _started(_held_open(held, done, release, then))
    assert done.wait(TIMEOUT)
    waiter, more_errors = _started(other)
    _waiting_on_latest(waiter)  # without the triggers' lock it would end now, writing old names
    release.set()
    for thread in (holder, waiter):
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert errors + more_errors == []
    body = summary_body(queryset=summary_queryset())
    assert b'"handle":"after","org_name":"After org"' in body
    assert body == expected_body()
    assert latest_differences() == []

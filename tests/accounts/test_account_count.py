"""The number of accounts kept by database triggers (`AccountCount`): the account list's total.

Every way accounts are added or removed must leave it equal to a plain count, inside a transaction
as after its commit, and the rebuild command restores it when the triggers were bypassed."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from accounts.models import Account, AccountCount, AccountCountChange, Organization, Platform
from accounts.selectors import account_count
from snapshots.selectors import account_list_page
from tests.factories import AccountFactory


def assert_exact() -> None:
    assert account_count() == Account.objects.count()
    assert account_list_page(offset=0, limit=5)[0] == Account.objects.count()


@pytest.mark.django_db
def test_every_write_path_keeps_the_count_exact():
    assert account_count() == 0
    first = AccountFactory()
    assert_exact()
    Account.objects.bulk_create([Account(platform=Platform.X, handle=f"bulk{n}") for n in range(7)])
    assert_exact()
    organization = Organization.objects.create(name="Agency")
    first.organization = organization
    first.save()  # an update: no change
    organization.delete()  # its accounts stay (SET_NULL)
    assert_exact()
    Account.objects.filter(handle__startswith="bulk").exclude(handle="bulk0").delete()
    assert_exact()
    first.delete()
    assert_exact()
    assert account_count() == 1


@pytest.mark.django_db
def test_a_rolled_back_savepoint_takes_its_accounts_back():
    AccountFactory()

    seen = []

    def add_two_then_fail() -> None:
        with transaction.atomic():
            AccountFactory()
            AccountFactory()
            seen.append(account_count())
            raise LookupError("rolled back")

    with pytest.raises(LookupError):
        add_two_then_fail()
    assert seen == [3]
    assert_exact()
    assert account_count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_commits_fold_the_changes_into_the_one_row():
    for _ in range(3):
        AccountFactory()
    Account.objects.filter(pk=Account.objects.order_by("pk").first().pk).delete()
    assert_exact()
    assert not AccountCountChange.objects.exists()  # folded as each write committed
    assert AccountCount.objects.get().account_count == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_accountcount_open")
        assert cursor.fetchone()[0] == 0
        cursor.execute("TRUNCATE accounts_account CASCADE")
    assert account_count() == 0
    AccountFactory()
    assert account_count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgresql_an_uncommitted_account_is_counted_only_by_its_own_transaction():
    AccountFactory()
    with transaction.atomic():
        AccountFactory()
        assert account_count() == 2
        assert AccountCountChange.objects.count() == 1  # waiting for the commit
        other = connection.copy()  # a second connection: what another request sees meanwhile
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT account_count FROM accounts_accountcount")
                assert cursor.fetchall() == [(1,)]
        finally:
            other.close()
    assert account_count() == 2
    assert AccountCount.objects.get().account_count == 2


@pytest.mark.django_db
def test_the_rebuild_command_restores_a_count_the_triggers_did_not_see():
    for _ in range(4):
        AccountFactory()
    AccountCount.objects.update(account_count=40)
    AccountCountChange.objects.all().delete()  # PostgreSQL: the test's transaction's own changes
    out = io.StringIO()
    call_command("rebuild_grid_counts", "--dry-run", stdout=out)
    assert "accounts: 40 counted, 4 accounts" in out.getvalue()
    call_command("rebuild_grid_counts", stdout=io.StringIO())
    assert_exact()
    assert account_count() == 4

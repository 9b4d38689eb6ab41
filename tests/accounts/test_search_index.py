"""The account search on PostgreSQL reads the trigram indexes (migration 0002), never every account."""

import pytest
from django.db import connection

from accounts.models import Account
from snapshots.filters import AccountListFilter
from tests.api.conftest import account

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def _plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # On a handful of rows a scan is cheaper and the planner rightly prefers it: forbid it, so
        # the plan shows whether the indexes match the expressions the search compares.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_search_reads_the_trigram_and_organization_indexes():
    account("nasa", organization="Space Agency", display_name="NASA (X)")
    account("esa", organization="European Space Agency")
    account("tube", organization="Video", display_name="Rocket tube")

    found = AccountListFilter({"search": "agency"}, queryset=Account.objects.order_by("handle")).qs

    assert [a.handle for a in found] == ["esa", "nasa"]  # by their organization
    plan = _plan(found.order_by())  # as the page count reads it
    assert "account_handle_trgm_idx" in plan
    assert "account_display_name_trgm_idx" in plan
    assert "accounts_account_organization_id" in plan
    assert "Seq Scan on accounts_account" not in plan


def test_organization_names_are_searched_through_their_trigram_index():
    account("nasa", organization="Space Agency")

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM accounts_organization WHERE UPPER(name::text) LIKE UPPER('%agen%')"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "organization_name_trgm_idx" in plan

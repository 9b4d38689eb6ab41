"""Fixtures of the API tests: clients for each kind of caller, and data written through the services."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Account, Organization, Platform
from snapshots.api.views import account_ids
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.dates import local_today
from tests.factories import AccountFactory, OrganizationFactory


@pytest.fixture(autouse=True)
def _forget_account_ids():
    """The history view remembers account ids per process; each test starts without them."""
    account_ids.clear()
    yield
    account_ids.clear()


@pytest.fixture
def today() -> dt.date:
    return local_today()


def account(
    handle: str,
    *,
    platform: str = Platform.X,
    organization: Organization | str | None = "Org A",
    **fields,
) -> Account:
    if isinstance(organization, str):
        organization = Organization.objects.filter(name=organization).first() or OrganizationFactory(
            name=organization
        )
    return AccountFactory(
        handle=handle,
        platform=platform,
        organization=organization,
        profile_url=f"https://example.org/{handle}",
        **fields,
    )


def history(acc: Account, *, days: int, end: dt.date, followers: int = 1000, step: int = 10, skip=()):
    """`days` daily snapshots ending on `end` (followers grow by `step` a day), written through the
    service so the latest row is maintained; days in `skip` (offsets from `end`) are left out."""
    rows = [
        SnapshotRow(
            account_id=acc.pk,
            date=end - dt.timedelta(days=offset),
            followers=followers + step * (days - 1 - offset),
            following=5,
            posts=100 + (days - 1 - offset),
            likes=10,
            comments=2,
            shares=1,
            views=500,
        )
        for offset in range(days)
        if offset not in skip
    ]
    return snapshot_upsert_many(rows=rows)

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from snapshots.models import Snapshot
from tests.factories import AccountFactory, SnapshotFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 1)


def test_one_snapshot_per_account_per_day():
    snapshot = SnapshotFactory(date=DAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        Snapshot.objects.create(account=snapshot.account, date=DAY, followers=5)


def test_unknown_metrics_stay_null_never_zero():
    account = AccountFactory()
    Snapshot.objects.create(account=account, date=DAY, followers=120)
    stored = Snapshot.objects.get(account=account, date=DAY)
    assert stored.followers == 120
    for name in ("following", "posts", "likes", "comments", "shares", "views", "engagement"):
        assert getattr(stored, name) is None, name


def test_engagement_is_always_likes_plus_comments_plus_shares():
    snapshot = SnapshotFactory(likes=10, comments=2, shares=3)
    snapshot.refresh_from_db()
    assert snapshot.engagement == 15
    Snapshot.objects.filter(pk=snapshot.pk).update(likes=100, comments=None)
    snapshot.refresh_from_db()
    assert snapshot.engagement == 103  # a known part counts; the unknown one adds nothing


def test_zero_is_kept_as_a_real_zero():
    snapshot = SnapshotFactory(followers=0, likes=0, comments=0, shares=0)
    snapshot.refresh_from_db()
    assert snapshot.followers == 0
    assert snapshot.engagement == 0

"""Growth percentages: Python and the database's SQL round a tie the same way (half away from zero)."""

import datetime as dt

import pytest

from snapshots.models import AccountLatest
from snapshots.services import SnapshotRow, _growth, latest_compute, snapshot_upsert_many
from tests.factories import AccountFactory


def test_a_tie_rounds_half_away_from_zero():
    assert _growth(3201, 3200) == (1, 0.0313)  # 0.03125 %
    assert _growth(3199, 3200) == (-1, -0.0313)
    assert _growth(5, 0) == (5, None)
    assert _growth(None, 3) == (None, None)


@pytest.mark.django_db
def test_the_maintained_latest_row_equals_a_recomputation_on_a_tie():
    account = AccountFactory()
    day = dt.date(2026, 11, 30)
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=account.pk, date=day - dt.timedelta(days=1), followers=3200),
            SnapshotRow(account_id=account.pk, date=day, followers=3201),
        ],
        per_batch=False,
    )
    stored = AccountLatest.objects.get(pk=account.pk)
    assert stored.followers_change_pct_1d == 0.0313
    assert latest_compute(account_ids=[account.pk])[account.pk].followers_change_pct_1d == 0.0313

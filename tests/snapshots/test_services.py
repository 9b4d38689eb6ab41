"""The write layer: idempotent bulk upserts and the maintained latest row."""

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from snapshots.models import AccountLatest, Snapshot
from snapshots.services import (
    GROWTH_TOLERANCE_DAYS,
    SnapshotRow,
    latest_compute,
    latest_rebuild_all,
    snapshot_delete_many,
    snapshot_save,
    snapshot_upsert_many,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
START = dt.date(2026, 1, 1)


def rows_for(accounts, days, followers=lambda a, d: 1000 + 10 * d):
    return [
        SnapshotRow(
            account_id=a.pk,
            date=START + dt.timedelta(days=d),
            followers=followers(a, d),
            likes=d,
            comments=1,
            shares=2,
        )
        for a in accounts
        for d in range(days)
    ]


def test_upsert_creates_then_is_idempotent():
    accounts = AccountFactory.create_batch(3)
    first = snapshot_upsert_many(rows=rows_for(accounts, 10))
    assert (first.created, first.updated, first.unchanged) == (30, 0, 0)
    again = snapshot_upsert_many(rows=rows_for(accounts, 10))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 30)
    assert Snapshot.objects.count() == 30


def test_upsert_updates_changed_values_only():
    account = AccountFactory()
    snapshot_upsert_many(rows=rows_for([account], 5))
    changed = rows_for([account], 5, followers=lambda a, d: 5000 if d == 2 else 1000 + 10 * d)
    result = snapshot_upsert_many(rows=changed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 4)
    assert Snapshot.objects.get(account=account, date=START + dt.timedelta(days=2)).followers == 5000


@pytest.mark.parametrize("copy_from", [1, 10**9], ids=["staged-by-copy", "arrays"])
def test_unknown_value_never_erases_a_known_one(monkeypatch, copy_from):
    from snapshots import services

    monkeypatch.setattr(services, "COPY_FROM_ROWS", copy_from)
    account = AccountFactory()
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=START, followers=10, likes=4)])
    result = snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=START, following=7)])
    assert result.updated == 1
    stored = Snapshot.objects.get(account=account, date=START)
    assert (stored.followers, stored.following, stored.likes, stored.comments) == (10, 7, 4, None)
    assert stored.engagement == 4


def test_the_last_row_wins_when_a_batch_repeats_a_day():
    account = AccountFactory()
    rows = [
        SnapshotRow(account_id=account.pk, date=START, followers=1),
        SnapshotRow(account_id=account.pk, date=START, followers=2),
    ]
    result = snapshot_upsert_many(rows=rows)
    assert result.created == 1
    assert Snapshot.objects.get().followers == 2


def _queries_for(accounts, days, start_day=0):
    rows = [
        SnapshotRow(account_id=a.pk, date=START + dt.timedelta(days=start_day + d), followers=d)
        for a in accounts
        for d in range(days)
    ]
    with CaptureQueriesContext(connection) as ctx:
        snapshot_upsert_many(rows=rows, batch_size=10_000)
    return len(ctx.captured_queries)


def test_a_batch_costs_the_same_number_of_queries_whatever_its_size():
    small = _queries_for(AccountFactory.create_batch(2), 3)
    large = _queries_for(AccountFactory.create_batch(40), 30)
    assert small == large
    # SQLite: savepoint, read, which latest rows the days written reach, write, the anomaly flags,
    # three latest-row reads, latest upsert, release. PostgreSQL: savepoint, the upsert statement (it
    # also says which latest rows the days written reach), the anomaly flags of the days written,
    # the latest rows' refresh (which also drops the rows of accounts left with no snapshot), release.
    assert large <= 11
    if connection.vendor == "postgresql":
        assert large == 5


def naive_latest(account_id):
    """What the latest row says, computed the slow, obvious way."""
    snaps = list(Snapshot.objects.filter(account_id=account_id).order_by("date"))
    if not snaps:
        return None
    last = snaps[-1]
    by_day = {s.date: s.followers for s in snaps if s.followers is not None}
    result = {"date": last.date, "followers": last.followers, "engagement": last.engagement}
    for period in (1, 7, 30):
        base = next(
            (
                by_day[last.date - dt.timedelta(days=period + extra)]
                for extra in range(GROWTH_TOLERANCE_DAYS + 1)
                if last.date - dt.timedelta(days=period + extra) in by_day
            ),
            None,
        )
        change = None if base is None or last.followers is None else last.followers - base
        result[f"change_{period}d"] = change
    return result


def stored_latest(account_id):
    row = AccountLatest.objects.filter(account_id=account_id).first()
    if row is None:
        return None
    return {
        "date": row.date,
        "followers": row.followers,
        "engagement": row.engagement,
        "change_1d": row.followers_change_1d,
        "change_7d": row.followers_change_7d,
        "change_30d": row.followers_change_30d,
    }


def test_latest_row_always_equals_what_the_snapshots_say():
    rng = random.Random(7)
    accounts = AccountFactory.create_batch(6)
    for _ in range(12):  # random writes: backfills, gaps, corrections, nulls, deletions
        rows = []
        for account in rng.sample(accounts, 3):
            for _ in range(rng.randint(1, 15)):
                rows.append(
                    SnapshotRow(
                        account_id=account.pk,
                        date=START + dt.timedelta(days=rng.randint(0, 60)),
                        followers=rng.choice([None, rng.randint(0, 10_000)]),
                        likes=rng.choice([None, rng.randint(0, 50)]),
                    )
                )
        snapshot_upsert_many(rows=rows)
        if rng.random() < 0.3:
            victim = rng.choice(accounts)
            snapshot_delete_many(
                snapshots=Snapshot.objects.filter(account=victim, date__gte=START + dt.timedelta(days=50))
            )
        for account in accounts:
            assert stored_latest(account.pk) == naive_latest(account.pk), account.pk


def test_growth_compares_with_the_right_days():
    account = AccountFactory()
    rows = [
        SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=d), followers=100 + d)
        for d in range(40)
    ]
    snapshot_upsert_many(rows=rows)
    latest = AccountLatest.objects.get(account=account)
    assert latest.date == START + dt.timedelta(days=39)
    assert (latest.followers_change_1d, latest.followers_change_7d, latest.followers_change_30d) == (1, 7, 30)
    assert latest.followers_change_pct_7d == pytest.approx(7 * 100 / 132, abs=1e-4)


def test_growth_is_unknown_rather_than_invented_when_no_earlier_day_exists():
    account = AccountFactory()
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=START, followers=5)])
    latest = AccountLatest.objects.get(account=account)
    assert latest.followers_change_1d is None
    assert latest.followers_change_pct_30d is None


def test_single_save_and_delete_keep_the_latest_row_right():
    account = AccountFactory()
    snapshot_save(snapshot=Snapshot(account=account, date=START, followers=10))
    assert AccountLatest.objects.get(account=account).followers == 10
    snapshot_delete_many(snapshots=Snapshot.objects.filter(account=account))
    assert not AccountLatest.objects.filter(account=account).exists()


def test_one_refresh_drops_the_rows_of_emptied_accounts_and_keeps_the_others():
    kept, emptied = AccountFactory.create_batch(2)
    snapshot_upsert_many(rows=rows_for([kept, emptied], 5))
    snapshot_delete_many(
        snapshots=Snapshot.objects.filter(account=emptied)
        | Snapshot.objects.filter(account=kept, date=START + dt.timedelta(days=4))
    )
    assert not AccountLatest.objects.filter(account=emptied).exists()
    assert stored_latest(kept.pk) == naive_latest(kept.pk)
    assert AccountLatest.objects.get(account=kept).date == START + dt.timedelta(days=3)


def test_rebuild_restores_a_damaged_latest_table():
    accounts = AccountFactory.create_batch(4)
    snapshot_upsert_many(rows=rows_for(accounts, 35))
    expected = latest_compute(account_ids=[a.pk for a in accounts])
    AccountLatest.objects.all().update(followers=-1, followers_change_7d=None)
    AccountLatest.objects.filter(account=accounts[0]).delete()
    assert latest_rebuild_all() == 4
    for account in accounts:
        row = AccountLatest.objects.get(account=account)
        assert row.followers == expected[account.pk].followers
        assert row.followers_change_7d == 70


def test_rebuild_latest_command():
    from io import StringIO

    from django.core.management import call_command

    accounts = AccountFactory.create_batch(2)
    snapshot_upsert_many(rows=rows_for(accounts, 3))
    AccountLatest.objects.all().delete()
    out = StringIO()
    call_command("rebuild_latest", stdout=out)
    assert "2 accounts" in out.getvalue()
    assert AccountLatest.objects.count() == 2


def test_saving_one_snapshot_keeps_the_latest_rows_right():
    account = AccountFactory()
    snapshot_save(snapshot=Snapshot(account=account, date=START, followers=10))
    assert AccountLatest.objects.get(account=account).followers == 10
    newer = snapshot_save(snapshot=Snapshot(account=account, date=START + dt.timedelta(days=1), followers=12))
    latest = AccountLatest.objects.get(account=account)
    assert (latest.followers, latest.followers_change_1d) == (12, 2)
    snapshot_delete_many(snapshots=Snapshot.objects.filter(pk=newer.pk))
    assert AccountLatest.objects.get(account=account).followers == 10


def test_moving_a_snapshot_to_another_account_refreshes_both_latest_rows():
    first, second = AccountFactory(), AccountFactory()
    snapshot_save(snapshot=Snapshot(account=first, date=START, followers=10))
    moved = snapshot_save(snapshot=Snapshot(account=first, date=START + dt.timedelta(days=1), followers=12))
    moved.account = second
    snapshot_save(snapshot=moved)
    assert AccountLatest.objects.get(account=first).followers == 10
    assert AccountLatest.objects.get(account=second).followers == 12


def test_deleting_an_account_does_not_refresh_per_snapshot(django_assert_max_num_queries):
    account = AccountFactory()
    snapshot_upsert_many(rows=rows_for([account], 50))
    with django_assert_max_num_queries(15):
        account.delete()
    assert not AccountLatest.objects.exists()


@pytest.mark.parametrize("copy_from", [1, 10**9], ids=["staged-by-copy", "arrays"])
def test_both_ways_in_upsert_the_same(monkeypatch, copy_from):
    from snapshots import services

    monkeypatch.setattr(services, "COPY_FROM_ROWS", copy_from)
    accounts = AccountFactory.create_batch(3)
    assert snapshot_upsert_many(rows=rows_for(accounts, 4)).created == 12
    changed = rows_for(accounts, 4, followers=lambda a, d: 7 if d == 0 else 1000 + 10 * d)
    result = snapshot_upsert_many(rows=changed)
    assert (result.created, result.updated, result.unchanged) == (0, 3, 9)
    assert Snapshot.objects.filter(followers=7).count() == 3


def test_a_backfill_beyond_growths_reach_leaves_the_latest_row_alone_and_right():
    account = AccountFactory()
    snapshot_upsert_many(rows=rows_for([account], 40))  # days 0..39: latest day 39
    before = AccountLatest.objects.get(account=account)
    far = snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=START, followers=1)])
    assert (far.updated, far.account_ids, far.latest_stale) == (1, {account.pk}, set())
    assert stored_latest(account.pk) == naive_latest(account.pk)
    assert AccountLatest.objects.get(account=account).followers_change_30d == before.followers_change_30d
    # Day 9 is the day the 30-day growth of day 39 compares with: within reach, so refreshed.
    near = snapshot_upsert_many(
        rows=[SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=9), followers=1)]
    )
    assert near.latest_stale == {account.pk}
    assert AccountLatest.objects.get(account=account).followers_change_30d == 1000 + 390 - 1
    assert stored_latest(account.pk) == naive_latest(account.pk)


def test_the_latest_row_is_refreshed_for_every_reach_of_a_write():
    """Each day from far before to after an account's latest day: the latest row equals the naive
    computation after the write, whichever way the reach test went."""
    account = AccountFactory()
    snapshot_upsert_many(rows=rows_for([account], 45, followers=lambda a, d: 100 + d * d))
    for day in [*range(0, 45, 3), 44, 50]:
        snapshot_upsert_many(
            rows=[SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=day), followers=7 + day)]
        )
        assert stored_latest(account.pk) == naive_latest(account.pk), day


def test_an_import_sized_call_counts_exactly_and_refreshes_once():
    accounts = AccountFactory.create_batch(5)
    rows = rows_for(accounts, 12)
    first = snapshot_upsert_many(rows=rows, batch_size=7, per_batch=False)
    assert (first.created, first.updated, first.unchanged) == (60, 0, 0)
    again = snapshot_upsert_many(rows=rows, batch_size=7, per_batch=False)
    assert (again.created, again.updated, again.unchanged, again.account_ids) == (0, 0, 60, set())
    for account in accounts:
        assert stored_latest(account.pk) == naive_latest(account.pk)


@pytest.mark.postgres
def test_a_row_inserted_meanwhile_by_another_transaction_is_merged_not_an_error(monkeypatch):
    """A large batch inserts its new rows without ON CONFLICT; when another transaction inserted one of
    them in between (simulated: the statement is made to insert a row that exists), it falls back to
    INSERT ... ON CONFLICT and the counts stay exact."""
    from snapshots import services

    monkeypatch.setattr(services, "COPY_FROM_ROWS", 1)
    account = AccountFactory()
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=START, followers=1, likes=5)])
    racing = services._PG_SPLIT_STAGE.replace(" WHERE NOT EXISTS ", " WHERE t.date IS NOT NULL OR EXISTS ")
    assert racing != services._PG_SPLIT_STAGE
    monkeypatch.setattr(services, "_PG_SPLIT_STAGE", racing)
    rows = [
        SnapshotRow(account_id=account.pk, date=START, followers=2),
        SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=1), followers=3),
        SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=-1), followers=3),
    ]
    result = snapshot_upsert_many(rows=rows)
    assert (result.created, result.updated, result.unchanged) == (2, 1, 0)
    assert Snapshot.objects.get(account=account, date=START).likes == 5  # None kept the known value
    assert stored_latest(account.pk) == naive_latest(account.pk)
    with connection.cursor() as cursor:  # the planner settings the statement changes are restored
        cursor.execute("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
        assert cursor.fetchone() == ("on", "on")


@pytest.mark.postgres
def test_a_row_inserted_meanwhile_before_a_straight_copy_is_merged_not_an_error(monkeypatch):
    """A large batch none of whose days is stored is copied straight into the table; when another
    transaction inserted one of them in between (simulated: the check is made to see nothing
    stored), the COPY fails on the unique index and the batch is written through the staging table,
    with exact counts."""
    from snapshots import services

    monkeypatch.setattr(services, "COPY_FROM_ROWS", 1)
    account = AccountFactory()
    snapshot_upsert_many(rows=[SnapshotRow(account_id=account.pk, date=START, followers=1, likes=5)])
    blind = services._PG_BATCH_ACCOUNTS.replace("EXISTS (SELECT 1 FROM", "false AND EXISTS (SELECT 1 FROM", 1)
    assert blind != services._PG_BATCH_ACCOUNTS
    monkeypatch.setattr(services, "_PG_BATCH_ACCOUNTS", blind)
    rows = [
        SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=-1), followers=3),
        SnapshotRow(account_id=account.pk, date=START, followers=2),
        SnapshotRow(account_id=account.pk, date=START + dt.timedelta(days=1), followers=3),
    ]
    result = snapshot_upsert_many(rows=rows)
    assert (result.created, result.updated, result.unchanged) == (2, 1, 0)
    assert Snapshot.objects.filter(account=account).count() == 3
    assert Snapshot.objects.get(account=account, date=START).likes == 5
    assert stored_latest(account.pk) == naive_latest(account.pk)


def test_a_staged_batch_may_not_map_a_key_again():
    from snapshots.services import StagedBatch, snapshot_upsert_staged

    accounts = AccountFactory.create_batch(2)
    text = f"\t{START.isoformat()}\t1\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\tcsv\texact\t2026-01-01T00:00:00+00:00\n"
    batches = [
        StagedBatch(rows={(0, START.isoformat()): (2, text)}, accounts={0: accounts[0].pk}),
        StagedBatch(rows={}, accounts={0: accounts[1].pk}),
    ]
    with pytest.raises(ValueError, match="maps an account key"):
        snapshot_upsert_staged(batches=batches)
    assert not Snapshot.objects.exists()  # one transaction: the first batch is not kept either

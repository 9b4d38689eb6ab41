"""The anomaly rule (`snapshots.anomalies`): its boundaries, its reasons, and its recomputation by
every write path (upserts in small and bulk batches, staged imports, single saves, moves, deletes),
on SQLite in the embedded pass and on PostgreSQL in the services pass."""

from __future__ import annotations

import datetime as dt
import io
import random
import re

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.models import Account
from snapshots import anomalies
from snapshots.models import AccountLatest, Snapshot
from snapshots.selectors import summary_body, summary_queryset
from snapshots.services import (
    COPY_FROM_ROWS,
    STAGED_NULL,
    SnapshotRow,
    StagedBatch,
    anomalies_rebuild_all,
    anomalies_refresh,
    snapshot_delete_many,
    snapshot_save,
    snapshot_upsert_many,
    snapshot_upsert_staged,
)
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

DAY0 = dt.date(2026, 1, 1)


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def write(account: Account, counts: dict[int, int | None], **options):
    """Follower counts by day number (None: a snapshot without a follower count)."""
    rows = [
        SnapshotRow(account_id=account.pk, date=day(n), followers=f, likes=None if f is None else 1)
        for n, f in sorted(counts.items())
    ]
    return snapshot_upsert_many(rows=rows, **options)


def steady(start: int, step: int, days: int, *, first: int = 0) -> dict[int, int]:
    """`days` days from day `first`, growing by `step` a day from `start`."""
    return {first + n: start + step * n for n in range(days)}


def flags(account: Account) -> dict[int, str]:
    """Day number -> reason of the account's flagged days."""
    return {
        (d - DAY0).days: reason
        for d, reason in Snapshot.objects.filter(account=account, anomaly_reason__isnull=False)
        .order_by("date")
        .values_list("date", "anomaly_reason")
    }


def rebuilt_nothing() -> bool:
    """What the services stored is what recomputing everything gives."""
    return anomalies_rebuild_all(dry_run=True).changed == 0


@pytest.fixture
def acc():
    return AccountFactory()


# --- The rule's boundaries --------------------------------------------------------------------------


class TestWithHistory:
    """At least MIN_HISTORY changes in the TYPICAL_DAYS before: more than 1 % of the earlier count
    and more than 5x the typical daily change (and at least MIN_CHANGE followers)."""

    def test_one_percent_of_the_earlier_count_is_not_enough(self, acc):
        write(acc, steady(10_000, 10, 11))  # typical 10 (5x = 50); day 10 has 10,100: 1 % is 101
        write(acc, {11: 10_100 + 101})
        assert flags(acc) == {}
        write(acc, {11: 10_100 + 102})
        assert flags(acc) == {11: "followers rose 102 (+1.0 %) in a day, 10x the typical daily change of 10"}

    def test_five_times_the_typical_change_is_not_enough(self, acc):
        write(acc, steady(10_000, 50, 11))  # typical 50 (5x = 250); 1 % of 10,500 is 105
        write(acc, {11: 10_500 - 250})
        assert flags(acc) == {}
        write(acc, {11: 10_500 - 251})
        assert flags(acc) == {11: "followers fell 251 (-2.4 %) in a day, 5.0x the typical daily change of 50"}

    def test_a_small_account_needs_a_change_of_min_change(self, acc):
        write(acc, steady(100, 1, 11))  # typical 1 (5x = 5); 1 % of 110 is 1.1
        write(acc, {11: 110 + anomalies.MIN_CHANGE - 1})
        assert flags(acc) == {}
        write(acc, {11: 110 + anomalies.MIN_CHANGE})
        assert flags(acc) == {11: "followers rose 10 (+9.1 %) in a day, 10x the typical daily change of 1.0"}

    def test_a_flat_account(self, acc):
        write(acc, dict.fromkeys(range(10), 50000) | {10: 50_000 + 501})
        assert flags(acc) == {10: "followers rose 501 (+1.0 %) in a day, when the typical daily change is 0"}

    def test_the_typical_change_is_the_mean_over_the_28_days_before(self, acc):
        # +10 a day, except a jump of +1,000 on day 10. Day 38's typical change counts it (it is 28
        # days before); day 39's does not. A change of 200 is > 1 % (~125) and > 5x 10, < 5x 45.4.
        counts = steady(10_000, 10, 40)
        counts = {n: f + (990 if n >= 10 else 0) for n, f in counts.items()}
        write(acc, counts)
        assert flags(acc) == {10: flags(acc)[10]}  # the jump itself
        write(acc, {38: counts[37] + 200})
        assert 38 not in flags(acc)
        write(acc, {38: counts[38], 39: counts[38] + 200})
        assert flags(acc)[39] == "followers rose 200 (+1.8 %) in a day, 20x the typical daily change of 10"

    def test_an_extreme_change_counts_whatever_the_typical_change(self, acc):
        # Swings of 40 % a day: the typical change is huge, a fall by half is still flagged.
        write(acc, {n: 100_000 if n % 2 else 60_000 for n in range(12)} | {12: 30_000})
        assert flags(acc) == {
            12: "followers fell 70,000 (-70.0 %) in a day, 1.8x the typical daily change of 40,000"
        }


class TestWithTooLittleHistory:
    """Fewer than MIN_HISTORY changes in the TYPICAL_DAYS before: only extreme changes count."""

    def test_a_rise_to_ten_times(self, acc):
        write(acc, steady(1_000, 1, 7))  # 6 changes before day 7; day 6 has 1,006
        write(acc, {7: 10_059})
        assert flags(acc) == {}
        write(acc, {7: 10_060})
        assert flags(acc) == {
            7: "followers rose 9,054 (+900.0 %) in a day, with too little history for a typical change"
        }

    def test_a_fall_by_half(self, acc):
        write(acc, steady(1_000, 1, 7))
        write(acc, {7: 504})
        assert flags(acc) == {}
        write(acc, {7: 503})
        assert flags(acc) == {
            7: "followers fell 503 (-50.0 %) in a day, with too little history for a typical change"
        }

    def test_seven_changes_are_enough_history(self, acc):
        write(acc, steady(1_000, 1, 8) | {8: 1_007 + 100})  # 7 changes before day 8
        assert flags(acc) == {8: "followers rose 100 (+9.9 %) in a day, 100x the typical daily change of 1.0"}

    def test_a_first_day_and_a_rise_from_zero(self, acc):
        write(acc, {0: 0, 1: 500})
        assert flags(acc) == {
            1: "followers rose 500 (from 0) in a day, with too little history for a typical change"
        }

    def test_a_thousandfold_jump(self, acc):
        write(acc, {0: 1_000, 1: 1_000_000})
        assert flags(acc) == {
            1: "followers rose 999,000 (+99,900 %) in a day, with too little history for a typical change"
        }


class TestTheEarlierCount:
    def test_within_three_days(self, acc):
        write(acc, {0: 1_000, 3: 100})
        assert flags(acc) == {
            3: "followers fell 900 (-90.0 %) in 3 days, with too little history for a typical change"
        }

    def test_not_four_days_before(self, acc):
        write(acc, {0: 1_000, 4: 100})
        assert flags(acc) == {}

    def test_a_day_without_a_follower_count_is_skipped(self, acc):
        write(acc, {0: 1_000, 1: None, 2: 100})
        assert flags(acc) == {
            2: "followers fell 900 (-90.0 %) in 2 days, with too little history for a typical change"
        }

    def test_the_stored_values_are_never_altered(self, acc):
        write(acc, {0: 1_000, 1: 1, 2: 1_000})
        assert list(flags(acc)) == [1, 2]  # the fall and the recovery
        assert list(
            Snapshot.objects.filter(account=acc).order_by("date").values_list("followers", flat=True)
        ) == [
            1_000,
            1,
            1_000,
        ]


# --- Recomputation by every write path ----------------------------------------------------------


class TestRecomputation:
    def test_a_backfill_flags_a_later_day(self, acc):
        write(acc, {20: 5_000})
        assert flags(acc) == {}
        write(acc, steady(10_000, 10, 20))  # day 19 has 10,190: day 20 fell by half
        assert list(flags(acc)) == [20]

    def test_a_backfill_changes_the_typical_change_of_the_days_after(self, acc):
        write(acc, steady(10_000, 10, 11, first=0) | {11: 10_100 + 200})
        assert list(flags(acc)) == [11]
        # Days 1-10 again, now +40 a day from day 1: the typical change of day 11 becomes 40ish.
        write(acc, {n: 10_000 + 40 * n for n in range(1, 11)} | {11: 10_400 + 200})
        assert flags(acc) == {}

    def test_a_correction_clears_the_flag_and_the_recovery(self, acc):
        write(acc, steady(10_000, 10, 10) | {10: 100, 11: 10_110})
        assert list(flags(acc)) == [10, 11]
        write(acc, {10: 10_100})
        assert flags(acc) == {}

    def test_deleting_the_earlier_days_clears_the_flag(self, acc):
        write(acc, {0: 1_000, 1: 1_001, 2: 10})
        assert list(flags(acc)) == [2]
        snapshot_delete_many(snapshots=Snapshot.objects.filter(account=acc, date__lte=day(1)))
        assert flags(acc) == {}

    def test_deleting_the_flagged_day_measures_the_next_from_the_day_before(self, acc):
        write(acc, steady(10_000, 10, 10) | {10: 100, 11: 10_110})
        snapshot_delete_many(snapshots=Snapshot.objects.filter(account=acc, date=day(10)))
        assert flags(acc) == {}

    def test_a_save_recomputes_and_a_move_recomputes_both_days(self, acc):
        write(acc, steady(10_000, 10, 10))
        snapshot = snapshot_save(snapshot=Snapshot(account=acc, date=day(10), followers=1_000))
        assert snapshot.anomaly_reason.startswith("followers fell 9,090 (-90.1 %) in a day")
        snapshot.date = day(20)  # moved far from its neighbours: no earlier count any more
        snapshot_save(snapshot=snapshot)
        assert flags(acc) == {}
        snapshot.date = day(10)
        snapshot.followers = None  # a day without a follower count is never flagged
        snapshot_save(snapshot=snapshot)
        assert flags(acc) == {}

    def test_a_save_that_moves_a_snapshot_to_another_account(self, acc):
        other = AccountFactory()
        write(acc, {0: 1_000, 1: 1_000, 2: 1_000})
        write(other, {0: 1_000, 1: 1_000})
        moved = Snapshot.objects.get(account=acc, date=day(2))
        moved.account, moved.followers = other, 5_000_000
        snapshot_save(snapshot=moved)
        assert flags(acc) == {}
        assert list(flags(other)) == [2]

    def test_rewriting_the_same_values_changes_nothing(self, acc, django_assert_num_queries):
        write(acc, steady(10_000, 10, 10) | {10: 100})
        before = flags(acc)
        result = write(acc, steady(10_000, 10, 10) | {10: 100})
        assert result.unchanged == 11
        assert flags(acc) == before
        assert rebuilt_nothing()

    def test_the_latest_row_and_the_summary_carry_the_latest_days_flag(self, acc):
        write(acc, steady(10_000, 10, 10) | {10: 100})
        latest = AccountLatest.objects.get(account=acc)
        assert latest.anomaly_reason == flags(acc)[10]
        assert (
            f',"anomaly":true,"anomaly_reason":"{latest.anomaly_reason}"'
            in summary_body(queryset=summary_queryset()).decode()
        )
        write(acc, {11: 10_100})  # the recovery is flagged too
        write(acc, {12: 10_110})
        assert AccountLatest.objects.get(account=acc).anomaly_reason is None
        assert (
            summary_body(queryset=summary_queryset())
            .decode()
            .endswith('"anomaly":false,"anomaly_reason":null}]')
        )


class TestBulkPaths:
    """Batches large enough for COPY on PostgreSQL (straight into the table, or staged when some
    rows are stored), and the staged import; the generic upsert elsewhere."""

    def test_bulk_writes_flag_what_the_rule_says(self):
        accounts = AccountFactory.create_batch(12)
        rows = []
        for index, account in enumerate(accounts):
            for n in range(400):
                followers = 100_000 + 10 * n
                if index % 3 == 0 and n == 200:
                    followers //= 10  # a glitch: flagged, and so is the recovery the next day
                rows.append(SnapshotRow(account_id=account.pk, date=day(n), followers=followers))
        assert len(rows) >= COPY_FROM_ROWS
        snapshot_upsert_many(rows=rows, batch_size=len(rows), per_batch=False)  # all new: COPY
        assert Snapshot.objects.filter(anomaly_reason__isnull=False).count() == 4 * 2
        assert rebuilt_nothing()
        # Again with the glitches corrected: stored rows, so the staged path.
        fixed = [
            SnapshotRow(account_id=r.account_id, date=r.date, followers=100_000 + 10 * (r.date - DAY0).days)
            for r in rows
        ]
        snapshot_upsert_many(rows=fixed, batch_size=len(fixed))
        assert Snapshot.objects.filter(anomaly_reason__isnull=False).count() == 0
        assert rebuilt_nothing()

    def test_a_staged_import(self, acc):
        def text(n: int, followers: int) -> str:
            nulls = "\t".join([STAGED_NULL] * 6)
            return f"\t{day(n).isoformat()}\t{followers}\t{nulls}\tcsv\texact\t2026-02-01T00:00:00+00:00\n"

        lines = {(1, day(n).isoformat()): (n + 2, text(n, 20_000 + n)) for n in range(30)}
        lines[(1, day(30).isoformat())] = (32, text(30, 2_000))
        result = snapshot_upsert_staged(batches=[StagedBatch(rows=lines, accounts={1: acc.pk})])
        assert result.created == 31
        assert list(flags(acc)) == [30]
        assert AccountLatest.objects.get(account=acc).anomaly_reason == flags(acc)[30]


def test_random_histories_written_in_random_batches_match_a_full_recomputation():
    """Whatever the order and grouping of the writes, the stored flags are the rule's."""
    randomizer = random.Random(20261203)
    accounts = AccountFactory.create_batch(6)
    for _ in range(25):
        rows = []
        for account in randomizer.sample(accounts, 3):
            for n in randomizer.sample(range(90), randomizer.randint(1, 30)):
                followers = None if randomizer.random() < 0.05 else 10_000 + 20 * n
                if randomizer.random() < 0.05:
                    followers = randomizer.choice([0, 10, 500_000])
                rows.append(SnapshotRow(account_id=account.pk, date=day(n), followers=followers))
        snapshot_upsert_many(rows=rows, batch_size=randomizer.choice([5, 50, 5000]))
        if randomizer.random() < 0.3:
            account = randomizer.choice(accounts)
            start = randomizer.randrange(90)
            snapshot_delete_many(
                snapshots=Snapshot.objects.filter(account=account, date__range=(day(start), day(start + 5)))
            )
    assert Snapshot.objects.filter(anomaly_reason__isnull=False).exists()
    assert rebuilt_nothing()


def test_one_statement_for_any_number_of_accounts(django_assert_num_queries):
    few, many = AccountFactory.create_batch(1), AccountFactory.create_batch(40)
    for group in (few, many):
        with django_assert_num_queries(1):
            anomalies_refresh(days={a.pk: [day(0), day(100)] for a in group})


# --- Rebuilding every flag ------------------------------------------------------------------------


def test_rebuild_anomalies_restores_flags_lost_behind_the_services_back(acc):
    write(acc, steady(10_000, 10, 10) | {10: 100})
    expected = flags(acc)
    write(acc, {20: None})  # a day without a follower count, flagged behind the services' back below
    with connection.cursor() as cursor:
        cursor.execute("UPDATE snapshots_snapshot SET anomaly_reason = NULL")
        cursor.execute("UPDATE snapshots_snapshot SET anomaly_reason = 'made up' WHERE followers IS NULL")
        cursor.execute("UPDATE snapshots_accountlatest SET anomaly_reason = NULL")
    out = io.StringIO()
    call_command("rebuild_anomalies", "--dry-run", stdout=out)
    assert "2 flags of 1 account would change; nothing was written." in out.getvalue()
    assert flags(acc) == {20: "made up"}
    other = AccountFactory()
    write(other, {0: 1_000, 1: 1_000})
    out = io.StringIO()
    call_command("rebuild_anomalies", "--chunk-size", "1", "-v", "2", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["1 of 2 accounts, 2 flags changed", "2 of 2 accounts, 2 flags changed"]
    assert lines[2].startswith("Rebuilt the anomaly flags of 2 accounts in ")
    assert lines[2].endswith(": 2 flags changed.")
    assert flags(acc) == expected
    assert AccountLatest.objects.get(account=acc).anomaly_reason is None  # day 20, without a count


# --- A day written after the latest one (a collection's day) ----------------------------------------


def _anomaly_statements(captured) -> int:
    """The rule's statements among the queries (`anomalies.refresh_sql`)."""
    return sum(bool(re.search(r"SET anomaly_reason = [uf]\.reason", q["sql"])) for q in captured)


def test_an_unremarkable_new_day_is_judged_from_the_latest_row_alone(django_assert_max_num_queries):
    """No anomaly statement for a batch of ordinary next days: the latest rows (read by the write
    anyway) show their change cannot be an anomaly."""
    from django.test.utils import CaptureQueriesContext

    accounts = AccountFactory.create_batch(30)
    for account in accounts:
        write(account, steady(10_000, 10, 10))
    rows = [SnapshotRow(account_id=a.pk, date=day(10), followers=10_100) for a in accounts]
    with CaptureQueriesContext(connection) as plain:
        snapshot_upsert_many(rows=rows)
    assert _anomaly_statements(plain.captured_queries) == 0
    glitched = [SnapshotRow(account_id=a.pk, date=day(11), followers=100) for a in accounts]
    with CaptureQueriesContext(connection) as flagged:
        snapshot_upsert_many(rows=glitched)
    assert _anomaly_statements(flagged.captured_queries) == 1  # one statement for the batch
    assert Snapshot.objects.filter(date=day(11), anomaly_reason__isnull=False).count() == 30
    assert AccountLatest.objects.filter(anomaly_reason__isnull=False).count() == 30
    assert len(flagged.captured_queries) - len(plain.captured_queries) == 1


@pytest.mark.parametrize(
    ("counts", "new_day", "followers", "settled"),
    [
        ({0: 1_000}, 1, 1_009, True),  # within 1 %: cannot be an anomaly
        ({0: 1_000}, 1, 5_000, False),  # may be: the rule reads the history
        ({0: 1_000}, 5, 5_000, True),  # no earlier count within GAP_DAYS: no change at all
        ({0: 1_000, 1: None}, 3, 5_000, False),  # the latest day has no count: the one before may
        ({0: 1_000, 1: None}, 4, 5_000, True),  # ... unless it is too far back
        ({}, 0, 5_000, True),  # the account's first day
        ({0: 1_000, 5: 1_000}, 3, 5_000, False),  # not after the latest day: a backfill
    ],
)
def test_settled_by_latest(acc, counts, new_day, followers, settled):
    write(acc, counts)
    latest = AccountLatest.objects.filter(account=acc).values_list("date", "followers").first() or (
        None,
        None,
    )
    assert (
        anomalies.settled_by_latest(
            day=day(new_day), followers=followers, latest_day=latest[0], latest_followers=latest[1]
        )
        is settled
    )
    write(acc, {new_day: followers})  # and what the write stores agrees with the whole rule
    assert rebuilt_nothing()


def test_daily_runs_of_many_accounts_match_a_full_recomputation():
    """Day after day, accounts get their next day in batches (some skip days, some glitch, one
    batch writes an account twice): the flags are the rule's."""
    randomizer = random.Random(7)
    accounts = AccountFactory.create_batch(8)
    counts = {a.pk: 5_000 + 1_000 * i for i, a in enumerate(accounts)}
    for n in range(60):
        rows = []
        for account in accounts:
            if randomizer.random() < 0.1:
                continue  # a missed day
            counts[account.pk] += randomizer.randint(-5, 25)
            followers = counts[account.pk]
            if randomizer.random() < 0.04:
                followers = randomizer.choice([0, followers // 10, followers * 20])
            rows.append(SnapshotRow(account_id=account.pk, date=day(n), followers=followers))
        if n == 30:
            rows.append(SnapshotRow(account_id=accounts[0].pk, date=day(n - 1), followers=1))
        snapshot_upsert_many(rows=rows, batch_size=randomizer.choice([3, 100]))
    assert Snapshot.objects.filter(anomaly_reason__isnull=False).count() >= 10
    assert rebuilt_nothing()


# --- The admin, the demo -------------------------------------------------------------------------


def test_the_admin_shows_the_flag_read_only_and_filters_by_it(admin_client, acc):
    from django.urls import reverse

    write(acc, steady(10_000, 10, 10) | {10: 100})
    flagged = Snapshot.objects.get(account=acc, date=day(10))
    changelist = reverse("admin:snapshots_snapshot_changelist")
    only = admin_client.get(changelist, {"anomaly": "yes"})
    assert only.status_code == 200
    assert list(only.context["cl"].result_list) == [flagged]
    assert admin_client.get(changelist, {"anomaly": "no"}).context["cl"].result_count == 10
    page = admin_client.get(reverse("admin:snapshots_snapshot_change", args=[flagged.pk])).content.decode()
    assert flagged.anomaly_reason in page
    assert 'name="anomaly_reason"' not in page  # shown, never edited


def test_the_demo_data_show_anomalies():
    """The demo's history has real jumps and falls, and now and then a count a platform got wrong
    (`scraping.simulation.is_glitch`): both are flagged; the stored values are the simulation's."""
    call_command("seed_demo", "--accounts", "60", "--days", "180", stdout=io.StringIO())
    flagged = Snapshot.objects.filter(anomaly_reason__isnull=False)
    assert flagged.filter(anomaly_reason__contains="(-90.0 %) in a day").exists()  # a wrong count
    assert flagged.filter(anomaly_reason__contains="rose").exclude(anomaly_reason__contains="+900").exists()
    assert rebuilt_nothing()

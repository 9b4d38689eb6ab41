"""The collection runner: parallel, capped per platform, core first, recorded, repeatable."""

import datetime as dt
import gc
import threading

import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from accounts.models import Platform
from scraping import runner
from scraping.collectors.base import Metrics, Outcome
from scraping.collectors.simulated import SimulatedCollector
from scraping.locks import LockHeld, run_lock
from scraping.models import CollectionOutcome, CollectionRun, OutcomeStatus, RunStatus
from scraping.runner import RunOptions, collect
from snapshots.models import AccountLatest, Snapshot
from tests.factories import AccountFactory
from tests.scraping.runs import FakeCollector, factory_with, lock_is_free
from tests.snapshots.test_services import naive_latest, stored_latest

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 11, 20)


def test_simulated_run_writes_one_snapshot_per_account_however_often_it_runs():
    accounts = AccountFactory.create_batch(30)
    first = collect(options=RunOptions(date=DAY))
    assert first.status == RunStatus.COMPLETED
    assert (first.accounts_total, first.accounts_succeeded) == (30, 30)
    assert Snapshot.objects.filter(date=DAY).count() == 30
    again = collect(options=RunOptions(date=DAY))
    assert again.accounts_succeeded == 30
    assert Snapshot.objects.count() == 30
    assert AccountLatest.objects.count() == len(accounts)
    assert CollectionOutcome.objects.filter(run=again, status=OutcomeStatus.SUCCEEDED).count() == 30
    assert again.duration_seconds > 0
    assert again.accounts_per_second > 0


def test_core_accounts_are_collected_first(log):
    plain = AccountFactory.create_batch(5, is_core=False)
    core = AccountFactory.create_batch(3, is_core=True, platform=Platform.GITHUB)
    collect(options=RunOptions(date=DAY, workers=1), collector_factory=factory_with(log))
    assert set(log["order"][:3]) == {a.pk for a in core}
    assert set(log["order"][3:]) == {a.pk for a in plain}


def test_per_platform_concurrency_cap_holds_with_20_workers(log, settings):
    settings.SOCIALMETRICS_MAX_CONCURRENCY = {"x": 2, "github": 3}
    AccountFactory.create_batch(20, platform=Platform.X)
    AccountFactory.create_batch(20, platform=Platform.GITHUB)
    run = collect(options=RunOptions(date=DAY, workers=20), collector_factory=factory_with(log, delay=0.02))
    assert run.accounts_succeeded == 40
    assert log["peak"]["x"] == 2
    assert log["peak"]["github"] == 3


def test_one_accounts_failure_never_stops_the_run_and_nothing_is_invented(log):
    ok = AccountFactory(handle="fine")
    bad = AccountFactory(handle="gone")
    blank = AccountFactory(handle="blank")
    run = collect(
        options=RunOptions(date=DAY, workers=3),
        collector_factory=factory_with(log, fail={"gone"}, empty={"blank"}),
    )
    assert run.status == RunStatus.COMPLETED
    assert (run.accounts_succeeded, run.accounts_failed) == (1, 2)
    assert list(Snapshot.objects.values_list("account", flat=True)) == [ok.pk]
    outcome = CollectionOutcome.objects.get(run=run, account=bad)
    assert outcome.error_message == "X 404: account suspended"
    assert not Snapshot.objects.filter(account=blank).exists()


def test_a_wait_longer_than_max_wait_defers_the_rest_of_the_platform(log):
    AccountFactory.create_batch(5, platform=Platform.X)
    AccountFactory.create_batch(2, platform=Platform.GITHUB)
    run = collect(
        options=RunOptions(date=DAY, workers=1, max_wait=5),
        collector_factory=factory_with(log, wait_after=2),
    )
    x = run.by_platform["x"]
    assert x.get("succeeded") == 2
    assert x.get("deferred") == 3
    assert run.by_platform["github"].get("succeeded") == 2
    deferred = CollectionOutcome.objects.filter(run=run, status=OutcomeStatus.DEFERRED).first()
    assert "asked to wait 3600 s" in deferred.error_message


def test_an_interrupted_run_keeps_what_it_wrote(log, monkeypatch):
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 5)
    AccountFactory.create_batch(40)
    flushes = []

    def interrupt(progress):
        flushes.append(progress.done)
        if len(flushes) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(
            options=RunOptions(date=DAY, workers=1),
            on_progress=interrupt,
            collector_factory=factory_with(log, delay=0.01),
        )
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.INTERRUPTED
    written = Snapshot.objects.count()
    assert 5 <= written < 40
    assert run.accounts_succeeded == written
    assert "interrupted" in run.message
    assert lock_is_free()  # the lock was released


@pytest.mark.parametrize("mid_run", [False, True])
def test_a_run_whose_writes_fail_is_recorded_as_ended(log, monkeypatch, mid_run):
    """Whether the writes fail at a flush during the run (the error goes on up) or at the last one."""
    from django.db import OperationalError

    def refuse(**kwargs):
        raise OperationalError("database table is locked: snapshots_snapshot")

    monkeypatch.setattr(runner, "snapshot_upsert_many", refuse)
    if mid_run:
        monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 1)
    AccountFactory.create_batch(3)
    options = RunOptions(date=DAY, workers=1)
    if mid_run:
        with pytest.raises(OperationalError):
            collect(options=options, collector_factory=factory_with(log, delay=0.01))
    else:
        collect(options=options, collector_factory=factory_with(log))
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.INTERRUPTED  # not left "running" for ever
    assert run.finished_at is not None
    assert "could not be written" in run.message
    assert lock_is_free()


def test_two_runs_cannot_overlap():
    AccountFactory.create_batch(2)
    holder, lock = runner.run_start(options=RunOptions(date=DAY))
    try:
        with pytest.raises(
            LockHeld, match=f"another collection run is in progress \\(run {holder.pk}\\)"
        ) as refused:
            collect(options=RunOptions(date=DAY))
        assert refused.value.run_id == holder.pk
        assert list(CollectionRun.objects.values_list("pk", flat=True)) == [holder.pk]  # no record of it
    finally:
        lock.release()
    assert collect(options=RunOptions(date=DAY)).status == RunStatus.COMPLETED


def test_a_run_that_cannot_begin_collecting_is_recorded_as_failed_and_frees_the_lock():
    AccountFactory()

    def broken(platform, options, days):
        raise RuntimeError("no collector for this platform")

    with pytest.raises(RuntimeError):
        collect(options=RunOptions(date=DAY), collector_factory=broken)
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert run.message == "ended by an error: RuntimeError: no collector for this platform"
    assert run.finished_at is not None
    assert lock_is_free()


@pytest.mark.redis
def test_the_redis_lock_is_shared_between_processes():
    import subprocess
    import sys

    holder = run_lock(timeout=30)
    holder.acquire()
    try:
        code = (
            "import django, os\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'socialmetrics.settings.test')\n"
            "django.setup()\n"
            "from scraping.locks import run_lock, LockHeld\n"
            "try:\n    run_lock(timeout=30).acquire()\n    print('acquired')\n"
            "except LockHeld as e:\n    print('held:', e.token)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == f"held: {holder.token}", result.stderr
    finally:
        holder.release()


def test_empty_selection_is_a_failed_run():
    run = collect(options=RunOptions(date=DAY, platforms=["github"]))
    assert run.status == RunStatus.FAILED
    assert run.message == "no active accounts match the selection"


def test_inactive_accounts_are_not_collected():
    AccountFactory(is_active=False)
    active = AccountFactory()
    collect(options=RunOptions(date=DAY))
    assert list(Snapshot.objects.values_list("account", flat=True)) == [active.pk]


def test_learned_platform_ids_are_remembered(log):
    account = AccountFactory(platform=Platform.BLUESKY, handle="nasa.gov", external_id=None)

    class Learning(FakeCollector):
        def collect(self, accounts):
            return [
                Outcome(a, OutcomeStatus.SUCCEEDED, metrics=Metrics(followers=5, external_id="did:plc:x"))
                for a in accounts
            ]

    collect(options=RunOptions(date=DAY), collector_factory=lambda p, o, d: Learning(p, log))
    account.refresh_from_db()
    assert account.external_id == "did:plc:x"


def test_an_outcome_already_recorded_is_kept_and_the_rest_are_recorded():
    """Outcomes go in by COPY on PostgreSQL; one already there for the run (nothing in the runner
    records an account twice, but a retried flush could) keeps the first and records the others."""
    accounts = AccountFactory.create_batch(3)
    run = CollectionRun.objects.create(date=DAY)
    CollectionOutcome.objects.create(
        run=run, account=accounts[0], status=OutcomeStatus.FAILED, error_message="first"
    )
    refs = [runner.AccountRef(a.pk, a.platform, a.handle) for a in accounts]
    runner._record_outcomes(
        run, [Outcome(ref, OutcomeStatus.SUCCEEDED, attempts=1, duration=0.5) for ref in refs]
    )
    assert dict(run.outcomes.values_list("account_id", "status")) == {
        accounts[0].pk: OutcomeStatus.FAILED,
        accounts[1].pk: OutcomeStatus.SUCCEEDED,
        accounts[2].pk: OutcomeStatus.SUCCEEDED,
    }
    assert run.outcomes.get(account=accounts[1]).duration_seconds == 0.5


def test_a_collection_backfilling_an_old_day_keeps_the_latest_rows_right():
    accounts = AccountFactory.create_batch(4)
    assert collect(options=RunOptions(date=DAY)).status == RunStatus.COMPLETED
    latest = {row.account_id: (row.date, row.followers) for row in AccountLatest.objects.all()}
    old = DAY - dt.timedelta(days=400)
    assert collect(options=RunOptions(date=old)).status == RunStatus.COMPLETED
    assert Snapshot.objects.filter(date=old).count() == len(accounts)
    assert {row.account_id: (row.date, row.followers) for row in AccountLatest.objects.all()} == latest
    newer = DAY + dt.timedelta(days=1)
    assert collect(options=RunOptions(date=newer)).status == RunStatus.COMPLETED
    for row in AccountLatest.objects.all():
        day_before = Snapshot.objects.get(account_id=row.account_id, date=DAY).followers
        assert row.date == newer
        assert row.followers_change_1d == row.followers - day_before


def test_collectors_that_compute_rather_than_wait_get_one_worker_thread(log):
    """Simulated collection is pure Python: threads would only contend with the writer for the GIL.
    Collectors that wait on the network keep the pool (see the concurrency cap test)."""
    AccountFactory.create_batch(6, platform=Platform.X)
    AccountFactory.create_batch(6, platform=Platform.GITHUB)
    threads: set[str] = set()

    class Computing(FakeCollector):
        cpu_bound = True

        def collect(self, batch):
            threads.add(threading.current_thread().name)
            return super().collect(batch)

    run = collect(
        options=RunOptions(date=DAY, workers=8),
        collector_factory=lambda p, o, d: Computing(p, log, delay=0.01),
    )
    assert run.accounts_succeeded == 12
    assert len(threads) == 1
    assert run.options["workers"] == 8  # what was asked for is recorded as asked


@pytest.mark.parametrize("frozen_before", [False, True], ids=["unfrozen", "frozen-by-an-app-server"])
def test_a_run_leaves_the_garbage_collector_as_it_found_it(log, monkeypatch, frozen_before):
    """A run keeps what existed before it out of the collector's full passes, and undoes that after
    it, unless something else had frozen objects (then unfreezing would undo that too)."""
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 1)  # a flush, and a progress report, during the run
    AccountFactory.create_batch(2)
    seen = []

    def during(progress):
        seen.append(gc.get_freeze_count())

    if frozen_before:
        gc.freeze()
    try:
        collect(options=RunOptions(date=DAY), on_progress=during, collector_factory=factory_with(log))
        assert bool(gc.get_freeze_count()) == frozen_before
    finally:
        gc.unfreeze()
    assert seen[0] > 0


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 5 outcomes (more in a simulated run: its collector hands over 3 at a time), made
    by count only, so which accounts a batch holds never depends on timing."""
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 5)
    monkeypatch.setattr(runner, "FLUSH_SECONDS", float("inf"))
    monkeypatch.setattr(SimulatedCollector, "batch_size", 3)


def record_flushes(monkeypatch, *, first_two_together: bool = False) -> list[tuple[threading.Thread, object]]:
    """Records the thread and the database connection that write each batch. With
    `first_two_together` the first two batches wait for each other, so the run completes only if
    two of its batches are written at the same time."""
    flush, seen, lock, both = runner._flush, [], threading.Lock(), threading.Barrier(2, timeout=30)

    def recording(run, outcomes, *args):
        with lock:
            seen.append((threading.current_thread(), connections[DEFAULT_DB_ALIAS]))
            wait = first_two_together and len(seen) <= 2
        if wait:
            both.wait()
        return flush(run, outcomes, *args)

    monkeypatch.setattr(runner, "_flush", recording)
    return seen


def assert_written_exactly_once(run, account_ids, day):
    """One snapshot of the day and one outcome per account; latest rows as the snapshots say."""
    expected = sorted(account_ids)
    assert sorted(Snapshot.objects.filter(date=day).values_list("account_id", flat=True)) == expected
    assert sorted(run.outcomes.values_list("account_id", flat=True)) == expected
    for account_id in account_ids:
        assert stored_latest(account_id) == naive_latest(account_id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_two_writer_threads_write_every_batch_once(monkeypatch, small_batches):
    """Outside a transaction, batches are written by WRITERS threads at once, each on a connection of
    its own that it closes; the record ends with exact counts and the latest rows are right."""
    monkeypatch.setattr(runner, "WRITERS", 2)
    accounts = AccountFactory.create_batch(23)
    ids = [a.pk for a in accounts]
    for day in (DAY - dt.timedelta(days=1), DAY):  # the second run changes growth too
        seen = record_flushes(monkeypatch, first_two_together=True)
        run = collect(options=RunOptions(date=day))
        run.refresh_from_db()
        assert run.status == RunStatus.COMPLETED
        assert (run.accounts_total, run.accounts_succeeded, run.accounts_failed) == (23, 23, 0)
        assert sum(run.by_platform[p]["succeeded"] for p in run.by_platform) == 23
        assert_written_exactly_once(run, ids, day)
        threads = {thread for thread, _ in seen}
        assert len(threads) == 2
        assert threading.current_thread() not in threads
        assert all(db.connection is None for _, db in seen)  # each writer closed its connection
    assert Snapshot.objects.count() == 2 * 23


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writer_threads_write_a_backfill_through_the_same_batches(monkeypatch, small_batches):
    """Many rows per account: a batch goes by COPY through a staging table, one per connection."""
    from snapshots import services

    monkeypatch.setattr(services, "COPY_FROM_ROWS", 1)
    accounts = AccountFactory.create_batch(12)
    seen = record_flushes(monkeypatch, first_two_together=True)
    run = collect(options=RunOptions(date=DAY, backfill_days=3))
    assert run.status == RunStatus.COMPLETED
    assert Snapshot.objects.count() == 4 * 12
    assert_written_exactly_once(run, [a.pk for a in accounts], DAY)
    assert len({thread for thread, _ in seen}) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_writer_threads_failure_ends_the_run_and_keeps_what_was_written(log, monkeypatch, small_batches):
    """The second batch fails halfway through its transaction (after its snapshots): nothing of it is
    kept, the first batch is, the error reaches the caller and the record says what happened."""
    from django.db import OperationalError

    accounts = AccountFactory.create_batch(20, platform=Platform.X, is_core=False)
    first, second = {a.pk for a in accounts[:5]}, {a.pk for a in accounts[5:10]}
    record = runner._record_outcomes

    def failing(run, outcomes):
        if {o.account.id for o in outcomes} == second:
            raise OperationalError("could not extend file: No space left on device")
        record(run, outcomes)

    monkeypatch.setattr(runner, "_record_outcomes", failing)
    with pytest.raises(OperationalError, match="No space left"):
        collect(options=RunOptions(date=DAY, workers=1), collector_factory=factory_with(log))
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.INTERRUPTED
    assert run.finished_at is not None
    assert "outcomes could not be written: could not extend file: No space left on device" in run.message
    written = set(Snapshot.objects.values_list("account_id", flat=True))
    assert first <= written
    assert not written & second
    assert set(run.outcomes.values_list("account_id", flat=True)) == written  # later batches: all or nothing
    for account_id in written:
        assert stored_latest(account_id) == naive_latest(account_id)
    assert lock_is_free()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_interrupted_run_with_writer_threads_writes_what_it_handed_over(log, monkeypatch, small_batches):
    AccountFactory.create_batch(40)
    seen = record_flushes(monkeypatch)
    reports = []

    def interrupt(progress):
        reports.append(progress.done)
        if len(reports) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(
            options=RunOptions(date=DAY, workers=1),
            on_progress=interrupt,
            collector_factory=factory_with(log),
        )
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.INTERRUPTED
    assert "interrupted" in run.message
    assert Snapshot.objects.count() == run.outcomes.count() == run.accounts_succeeded == 10
    assert threading.current_thread() not in {thread for thread, _ in seen}
    assert lock_is_free()


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_while_the_last_batches_are_written_still_ends_the_run(log, monkeypatch, small_batches):
    """A Ctrl-C (or SIGTERM) that comes while the run waits for its writers at the end: they finish
    what they were given, the run is recorded as interrupted and the lock freed, and the interrupt
    goes on up. (Writer threads on PostgreSQL; on SQLite the calling thread wrote before waiting.)"""
    AccountFactory.create_batch(23)
    wait, waits = runner._Writers.wait, []

    def interrupted(writers):
        waits.append(writers)
        if len(waits) == 1:
            raise KeyboardInterrupt
        return wait(writers)

    monkeypatch.setattr(runner._Writers, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        collect(options=RunOptions(date=DAY, workers=1), collector_factory=factory_with(log))
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.INTERRUPTED
    assert run.finished_at is not None
    assert Snapshot.objects.count() == run.outcomes.count() == run.accounts_succeeded == 23
    assert lock_is_free()


def test_inside_a_transaction_the_calling_thread_writes_every_batch(monkeypatch, small_batches):
    """pytest-django's tests run inside a transaction, as any caller may: writer threads on connections
    of their own would not see its rows, nor could it roll theirs back. (On SQLite, one writer at a
    time, the calling thread always writes.)"""
    accounts = AccountFactory.create_batch(23)
    seen = record_flushes(monkeypatch)
    run = collect(options=RunOptions(date=DAY))
    assert run.status == RunStatus.COMPLETED
    assert len(seen) > 1
    assert {thread for thread, _ in seen} == {threading.current_thread()}
    assert_written_exactly_once(run, [a.pk for a in accounts], DAY)


def test_a_batch_written_late_never_takes_the_runs_counts_back():
    """Writer threads may commit out of order: the counts of an earlier batch committing after those
    of a later one are not written."""
    account = AccountFactory()
    run = CollectionRun.objects.create(date=DAY)
    ref = runner.AccountRef(account.pk, account.platform, account.handle)
    later = runner._Counts(succeeded=6, failed=1, skipped=0, by_platform={"x": {"succeeded": 6, "failed": 1}})
    earlier = runner._Counts(succeeded=3, failed=0, skipped=0, by_platform={"x": {"succeeded": 3}})
    runner._flush(run, [Outcome(ref, OutcomeStatus.FAILED, error="gone")], [DAY], "simulated", later, True)
    runner._flush(run, [], [DAY], "simulated", earlier, True)
    run.refresh_from_db()
    assert (run.accounts_succeeded, run.accounts_failed, run.by_platform) == (6, 1, later.by_platform)
    equal = runner._Counts(succeeded=5, failed=2, skipped=0, by_platform={"x": {"succeeded": 5, "failed": 2}})
    runner._flush(run, [], [DAY], "simulated", equal, True)
    run.refresh_from_db()
    assert (run.accounts_succeeded, run.accounts_failed) == (5, 2)  # as many done: written

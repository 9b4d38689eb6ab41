"""The collection runner: parallel, capped per platform, core first, recorded, repeatable."""

import datetime as dt
import gc
import threading
import time
from collections import Counter

import pytest

from accounts.models import Platform
from scraping import runner
from scraping.collectors.base import Metrics, Outcome
from scraping.locks import DatabaseLock, LockHeld, RedisLock, collection_lock
from scraping.models import CollectionOutcome, CollectionRun, OutcomeStatus, RunLock, RunStatus
from scraping.ratelimit import WaitTooLong
from scraping.runner import RunOptions, collect
from snapshots.models import AccountLatest, Snapshot
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 11, 20)


class FakeCollector:
    """Records the batches it is given and how many run at once per platform."""

    batch_size = 1
    lock = threading.Lock()

    def __init__(self, platform, log, *, delay=0.0, fail=(), empty=(), wait_after=None):
        self.platform = platform
        self.log = log
        self.delay = delay
        self.fail = set(fail)
        self.empty = set(empty)
        self.wait_after = wait_after
        self.calls = 0

    def unavailable_reason(self):
        return None

    def collect(self, accounts):
        with self.lock:
            self.log["running"][self.platform] += 1
            self.log["peak"][self.platform] = max(
                self.log["peak"][self.platform], self.log["running"][self.platform]
            )
            self.log["order"].extend(a.id for a in accounts)
            self.calls += 1
            calls = self.calls
        try:
            time.sleep(self.delay)
            if self.wait_after is not None and calls > self.wait_after:
                raise WaitTooLong(self.platform, 3600)
            outcomes = []
            for a in accounts:
                if a.handle in self.fail:
                    outcomes.append(Outcome(a, OutcomeStatus.FAILED, error="X 404: account suspended"))
                elif a.handle in self.empty:
                    outcomes.append(Outcome(a, OutcomeStatus.FAILED, error="no count"))
                else:
                    outcomes.append(Outcome(a, OutcomeStatus.SUCCEEDED, metrics=Metrics(followers=10 + a.id)))
            return outcomes
        finally:
            with self.lock:
                self.log["running"][self.platform] -= 1


@pytest.fixture
def log():
    return {"running": Counter(), "peak": Counter(), "order": []}


def factory_with(log, **kwargs):
    made = {}

    def make(platform, options, days):
        made[platform] = FakeCollector(platform, log, **kwargs)
        return made[platform]

    return make


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
    assert not RunLock.objects.exists()  # the lock was released


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
    assert not RunLock.objects.exists()


def test_two_runs_cannot_overlap():
    AccountFactory.create_batch(2)
    lock = collection_lock()
    lock.acquire(run_id=None)
    try:
        with pytest.raises(LockHeld, match="another collection run is in progress"):
            collect(options=RunOptions(date=DAY))
        assert CollectionRun.objects.get().status == RunStatus.FAILED
    finally:
        lock.release()
    assert collect(options=RunOptions(date=DAY)).status == RunStatus.COMPLETED


def test_a_dead_holders_database_lock_expires():
    first = DatabaseLock(ttl=0.01)
    first.acquire()
    time.sleep(0.05)
    second = DatabaseLock(ttl=60)
    second.acquire()  # the first holder stopped refreshing: its lock expired
    with pytest.raises(LockHeld):
        DatabaseLock().acquire()
    second.release()


@pytest.mark.redis
def test_the_redis_lock_is_shared_between_processes():
    import subprocess
    import sys

    holder = RedisLock(ttl=30)
    holder.acquire(run_id=77)
    try:
        code = (
            "import django, os\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'socialmetrics.settings.test')\n"
            "django.setup()\n"
            "from scraping.locks import RedisLock, LockHeld\n"
            "try:\n    RedisLock().acquire()\n    print('acquired')\n"
            "except LockHeld as e:\n    print('held:', e.holder)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "held: run 77", result.stderr
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

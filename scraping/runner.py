"""The collection runner: parallel, within each platform's limits, recorded, and safe to repeat.

`run_start` takes the lock and records a run; `run_execute` collects and writes, while a heartbeat
thread renews the lock and the record; `collect` does both. Accounts are collected in batches on a
thread pool: core accounts' batches are handed out first, and no platform ever has more batches in
flight than its concurrency cap. Results are written through the bulk upsert service in batches (by
writer threads on PostgreSQL, else by the calling thread: see `_Writers`), so a run can be repeated
the same day (values are updated, nothing is duplicated), what was written before a crash or Ctrl-C
stays written, and the dashboard fills in as the run goes. A run that loses its database stops at
once and records itself as failed, with that reason, when the database answers again. A run asked
to cancel (the API, the admin: `services.run_cancel`) starts no new batch, writes what it has
collected, and ends cancelled.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import logging
import queue
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from accounts.models import Account
from snapshots.grid_buckets import grid_buckets_split
from snapshots.models import Source
from snapshots.services import PostRow, SnapshotRow, post_upsert_many, snapshot_upsert_many
from socialmetrics import cache as generations
from socialmetrics import db, redis_policy
from socialmetrics.dates import local_today

from . import selectors, services
from .collectors.base import AccountRef, Outcome, get_collector, platform_label
from .collectors.simulated import SimulatedCollector
from .locks import LockHeld, LockUnavailable, run_lock
from .models import CollectionOutcome, CollectionRun, OutcomeStatus, RunMode, RunStatus
from .progress import run_plan
from .ratelimit import FALLBACK_CONCURRENCY, WaitTooLong, configured_concurrency

logger = logging.getLogger(__name__)

__all__ = [
    "DatabaseUnreachable", "LockHeld", "LockLost", "Progress", "RunOptions", "collect", "run_execute",
    "run_start",
]  # fmt: skip

FLUSH_ACCOUNTS = 2000
FLUSH_SECONDS = 1.0
#: How often a run looks whether a cancel was asked for (one query by primary key; see `run_cancel`).
CANCEL_CHECK_SECONDS = 1.0
#: Threads that write a run's batches on PostgreSQL, each on a connection of its own (see `_Writers`).
#: Writing a batch is mostly the database's work, on the one backend of the connection (a daily
#: run's 2000 accounts: 0.2 to 0.5 s, against about 0.12 s to collect them in this process, under
#: the GIL): with one writer the batches are written one after another while a core idles. Two
#: backends and the collecting thread fill a 2-core machine; a third writer measured no faster
#: there, and each holds one more connection for the run. A constant, like FLUSH_ACCOUNTS, not a
#: setting: a value found by measuring the runner against the database's cores, not a choice a
#: deployment makes.
WRITERS = 2
#: How long a run that lost its database waits for it to answer again, to record how the run ended:
#: a restart or a failover is over well within it. After a longer outage the stale-run reaper ends
#: the record (interrupted) when the database is back.
DATABASE_WAIT_SECONDS = 900.0


@dataclass
class RunOptions:
    mode: str = RunMode.SIMULATED
    platforms: list[str] = field(default_factory=list)
    account_ids: list[int] = field(default_factory=list)
    organization: str = ""
    core_only: bool = False
    date: dt.date | None = None
    backfill_days: int = 0
    workers: int = 5
    max_wait: float = 60.0
    dry_run: bool = False
    #: "threads" (this process) or "celery" (batches on any number of workers: scraping.distributed).
    backend: str = "threads"
    #: Accounts per Celery batch; 0: the default (see scraping.distributed.batch_size).
    batch_size: int = 0

    def as_json(self) -> dict:
        data = asdict(self)
        data["date"] = self.date.isoformat() if self.date else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunOptions:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if values.get("date"):
            values["date"] = dt.date.fromisoformat(values["date"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class _Counts:
    """The run's counts as they were when a batch was handed over to be written (see `_flush`)."""

    succeeded: int
    failed: int
    skipped: int
    by_platform: dict[str, dict[str, int]]

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.skipped


@dataclass
class Progress:
    total: int
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.perf_counter)
    by_platform: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    errors: list[dict] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def count(self, outcome: Outcome) -> None:
        self.done += 1
        status = outcome.status
        self.by_platform[outcome.account.platform][status] += 1
        if status == OutcomeStatus.SUCCEEDED:
            self.succeeded += 1
        elif status == OutcomeStatus.FAILED:
            self.failed += 1
            if len(self.errors) < 100:
                account = outcome.account
                self.errors.append(
                    {"account_id": account.id, "handle": account.handle, "platform": account.platform,
                     "error": outcome.error}
                )  # fmt: skip
        else:
            self.skipped += 1

    def counts(self) -> _Counts:
        """A copy of the counts for a writer thread: this thread goes on changing them."""
        by_platform = {p: dict(c) for p, c in self.by_platform.items()}
        return _Counts(self.succeeded, self.failed, self.skipped, by_platform)


class _Scheduler:
    """Hands out batches: core first, at most `cap` batches of one platform at a time."""

    def __init__(self, batches: list[tuple[str, list[AccountRef]]], caps: dict[str, int]):
        self._pending = deque(batches)
        self._caps = caps
        self._in_flight: Counter = Counter()
        self._cond = threading.Condition()
        self._stopped = False
        self.peak: Counter = Counter()

    def next(self) -> tuple[str, list[AccountRef]] | None:
        with self._cond:
            while True:
                if self._stopped or not self._pending:
                    return None
                for index, (platform, batch) in enumerate(self._pending):
                    if self._in_flight[platform] < self._caps.get(platform, FALLBACK_CONCURRENCY):
                        del self._pending[index]
                        self._in_flight[platform] += 1
                        self.peak[platform] = max(self.peak[platform], self._in_flight[platform])
                        return platform, batch
                self._cond.wait()

    def done(self, platform: str) -> None:
        with self._cond:
            self._in_flight[platform] -= 1
            self._cond.notify_all()

    def withdraw(self, platform: str) -> list[AccountRef]:
        """Take the platform's remaining batches out of the queue (a deferred platform)."""
        with self._cond:
            kept, withdrawn = deque(), []
            for item in self._pending:
                (withdrawn.extend(item[1]) if item[0] == platform else kept.append(item))
            self._pending = kept
            self._cond.notify_all()
            return withdrawn

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()


@dataclass
class _Failure:
    """The first write that failed, and how many outcomes were not written because of it."""

    error: Exception
    last: bool  # the run's last batch (handed over by `close`), not one during the run
    unwritten: int = 0


class _Writers:
    """Writes the run's batches: in the calling thread (`threads=0`), or on threads of their own.

    With threads, at most `threads` batches handed over wait for a writer (`put` waits for room), so
    memory stays bounded and collection waits when the writers lag. Each thread writes on its own
    database connection (Django's are per thread) and closes it when it ends. Batches hold disjoint
    accounts, so the writers wait on each other only for the run's record (see `_flush`), and may
    commit out of order. After a failure nothing more is written: what was handed over is only
    counted, and the failure is raised in the calling thread at its next `put`, or returned by
    `wait`. The threads are daemons: should the wait for them be given up (Ctrl-C, twice), the
    process still exits, and PostgreSQL rolls back the transaction a writer had open.
    """

    def __init__(self, write: Callable[[list[Outcome], _Counts], None], *, threads: int, run_id: int | None):
        self._write = write
        self._run_id = run_id
        self._lock = threading.Lock()
        self.failure: _Failure | None = None
        self._jobs: queue.SimpleQueue[tuple[list[Outcome], _Counts, bool] | None] = queue.SimpleQueue()
        self._room = threading.Semaphore(threads)
        self._threads = [
            threading.Thread(target=self._work, name=f"collect-writer-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def put(self, outcomes: list[Outcome], counts: _Counts) -> None:
        """Hand a batch of the run over to the writers (without threads: write it); raises the first
        failure so far, which ends the run."""
        if not self._threads:
            self._write(outcomes, counts)
            return
        if self.failure is not None:
            raise self.failure.error
        self._room.acquire()
        self._jobs.put((outcomes, counts, False))

    def close(self, outcomes: list[Outcome], counts: _Counts) -> None:
        """Hand over the run's last outcomes and tell the writers to end once everything is written.
        With threads this never waits (it goes beyond the bound, by one batch), so no Ctrl-C can
        leave the writers half told. Without threads it writes them, and a failure is kept for
        `wait`: when a `put` failed, its batch is still the caller's buffer, tried once more here."""
        if not self._threads:
            if outcomes:
                try:
                    self._write(outcomes, counts)
                except Exception as exc:
                    if not isinstance(exc, LockLost | DatabaseUnreachable):
                        logger.exception("writing the last outcomes of run %s failed", self._run_id)
                    self.failure = _Failure(exc, last=True, unwritten=len(outcomes))
            return
        if outcomes:
            if self.failure is None:
                self._jobs.put((outcomes, counts, True))
            else:
                self._not_written(outcomes)
        for _ in self._threads:
            self._jobs.put(None)

    def wait(self) -> _Failure | None:
        """Wait until every batch handed over is written (or, after a failure, counted as not
        written); returns the first failure, not raised: the run's record must still be finished."""
        for thread in self._threads:
            thread.join()
        return self.failure

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                outcomes, counts, last = job
                if not last:
                    self._room.release()  # as a bounded queue: room for the next while this is written
                if self.failure is None:
                    try:
                        self._write(outcomes, counts)
                        continue
                    except Exception as exc:
                        if not isinstance(exc, LockLost | DatabaseUnreachable):  # those say it themselves
                            logger.exception("writing a batch of run %s failed", self._run_id)
                        with self._lock:
                            self.failure = self.failure or _Failure(exc, last=last)
                self._not_written(outcomes)
        finally:
            connection.close()

    def _not_written(self, outcomes: list[Outcome]) -> None:
        with self._lock:
            self.failure.unwritten += len(outcomes)


CollectorFactory = Callable[[str, RunOptions, list[dt.date]], object]


def default_collector_factory(platform: str, options: RunOptions, days: list[dt.date]):
    if options.mode == RunMode.SIMULATED:
        return SimulatedCollector(platform, days=days)
    return get_collector(platform, max_wait=options.max_wait)


def run_days(options: RunOptions) -> list[dt.date]:
    """The days a run writes: its date, after the --backfill-days before it."""
    day = options.date
    return [day - dt.timedelta(days=n) for n in range(options.backfill_days, 0, -1)] + [day]


def run_source(options: RunOptions) -> str:
    return Source.SIMULATED if options.mode == RunMode.SIMULATED else Source.API


def run_start(*, options: RunOptions, status: str = RunStatus.RUNNING) -> tuple[CollectionRun, object | None]:
    """Take the collection lock, then record a new run: when a run is going, LockHeld names it and no
    record is made. Runs found dead are ended first (their locks freed). A queued run's lock lives
    for SOCIALMETRICS_RUN_QUEUE_SECONDS; a running run's is renewed by its heartbeat (run_execute)."""
    options.date = options.date or local_today()
    fields = {"mode": options.mode, "status": status, "options": options.as_json(), "date": options.date}
    if options.dry_run:
        return CollectionRun(**fields), None
    timing = services.run_timing()
    services.runs_reap_stale()
    held = run_lock(timeout=timing.queue if status == RunStatus.PENDING else timing.stale)
    try:
        held.acquire()
    except LockHeld as exc:
        raise LockHeld(run_id=selectors.run_holding_lock(token=exc.token), token=exc.token) from None
    try:
        run = CollectionRun.objects.create(**fields, heartbeat_at=timezone.now(), lock_token=held.token)
    except BaseException:
        held.release()
        raise
    return run, held


def run_take_over(*, run_id: int, lock_token: str) -> tuple[CollectionRun, object] | None:
    """For the Celery worker about to carry out a queued run: claim the run (pending to running, once)
    and take its lock over by token. None when either fails (the run failed or expired meanwhile,
    another worker has it, or another run holds the lock): then the run is not carried out."""
    if not redis_policy.enabled():
        message = "the worker has no REDIS_URL, so it cannot take over the run's lock"
        services.run_fail(run_id=run_id, message=message)
        raise ImproperlyConfigured(f"CELERY_BROKER_URL needs REDIS_URL: {message}")
    if not services.run_claim(run_id=run_id):
        logger.warning("collection run %s is no longer queued; not carried out", run_id)
        return None
    lock = run_lock(token=lock_token, timeout=services.run_timing().stale)
    try:
        taken = lock.take_over()
    except LockUnavailable as exc:
        services.run_fail(run_id=run_id, message=f"the worker could not take over its lock: {exc}")
        return None
    if not taken:
        message = "its lock expired before a worker took it up (another run may hold it now)"
        services.run_fail(run_id=run_id, message=message)
        logger.warning("collection run %s: %s; not carried out", run_id, message)
        return None
    return CollectionRun.objects.get(pk=run_id), lock


class LockLost(Exception):
    """The run can no longer prove it holds the collection lock, so it writes nothing more."""

    def __init__(self, reason: str):
        super().__init__(f"stopped writing: {reason}; what was written before is kept")


class DatabaseUnreachable(Exception):
    """The database cannot be reached: the run stops at once (nothing more is collected or written)
    and is recorded as failed, with this reason, when the database answers again."""

    def __init__(self, cause: BaseException | str, *, then: str = ""):
        self.reason = cause if isinstance(cause, str) else str(cause).strip().split("\n", 1)[0]
        message = f"the database could not be reached ({self.reason})"
        super().__init__(f"{message}; {then}" if then else message)


def _unreachable(exc: BaseException) -> DatabaseUnreachable | None:
    """`exc` as DatabaseUnreachable when it says the database cannot be reached, else None."""
    if isinstance(exc, DatabaseUnreachable):
        return exc
    # Only with the driver's error behind it: a bare django.db error says nothing of the connection.
    if isinstance(exc, DatabaseError) and exc.__cause__ is not None and db.unavailable(exc):
        return DatabaseUnreachable(exc)
    return None


class Heartbeat:
    """A thread that, every SOCIALMETRICS_RUN_HEARTBEAT_SECONDS, renews the run's lock and writes the
    run's heartbeat_at (not inside a caller's transaction: other connections cannot see that record).

    `check()` comes before each batch is written: a flag and a clock reading, no round trip. It
    fails once a renewal said the lock or the record is no longer the run's, or when no renewal
    has succeeded for the lock's timeout less one interval: the run stops before a lock it could
    not renew expires and another run takes it. A lock that ended with the database (an advisory
    lock's session) fails it as DatabaseUnreachable.
    """

    def __init__(self, *, run_id: int, lock, write_record: bool):
        timing = services.run_timing()
        self._run_id = run_id
        self._lock = lock
        self._write_record = write_record
        self._interval = timing.heartbeat
        self._window = timing.stale - timing.heartbeat
        self._renewed = time.monotonic()  # when the last successful renewal was sent
        self._problem = "no answer"
        self.lost: str | None = None
        self.unreachable: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"collection-heartbeat-{run_id}", daemon=True)

    def start(self) -> None:
        self._renewed = time.monotonic()
        self._thread.start()

    def check(self) -> None:
        if self.lost is None and time.monotonic() - self._renewed < self._window:
            return
        if self.unreachable is not None:
            raise DatabaseUnreachable(self.unreachable)
        silent = f"could not renew its collection lock for {self._window:g} s ({self._problem})"
        raise LockLost(self.lost or silent)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _beat(self) -> None:
        while self.lost is None and not self._stop.wait(self._interval):
            sent = time.monotonic()
            try:
                if not self._lock.renew():
                    self.lost = "it lost its collection lock (expired, or freed as stale)"
                elif self._write_record and not services.run_beat(run_id=self._run_id):
                    self.lost = "its record was ended by another process"
                else:
                    self._renewed = sent
            except LockUnavailable as exc:  # the lock ended with its database
                self.unreachable = str(exc)
                self.lost = "its collection lock ended with the database"
            except Exception as exc:  # the store did not answer: this renewal did not happen
                self._problem = f"{type(exc).__name__}: {exc}"
                logger.warning("collection run %s could not renew its lock: %s", self._run_id, exc)
            finally:
                connection.close()  # back to the pool between beats, not held for the whole run
        if self.lost and not self.unreachable:  # (the run itself says when the database is gone)
            logger.error("collection run %s: %s", self._run_id, self.lost)


def _let_go(heartbeat: Heartbeat | None, lock) -> None:
    """Stop renewing, and free the lock (a no-op the second time)."""
    if heartbeat is not None:
        heartbeat.stop()
    if lock is not None:
        lock.release()


def run_execute(
    *,
    run: CollectionRun,
    options: RunOptions,
    held_lock=None,
    on_progress: Callable[[Progress], None] | None = None,
    collector_factory: CollectorFactory = default_collector_factory,
) -> CollectionRun:
    """Collect the selected accounts and write what was found. Records the run as it goes, renews
    `held_lock` (the run's, from run_start or run_take_over) while it runs and frees it at the end.

    A run that loses its lock stops writing and ends interrupted, with the reason; one that cannot
    even begin collecting ends failed. One that loses its database stops at once and ends failed,
    recorded when the database answers again (see `_recorded`); DatabaseUnreachable when it does
    not within DATABASE_WAIT_SECONDS."""
    heartbeat = None
    if held_lock is not None:
        heartbeat = Heartbeat(run_id=run.pk, lock=held_lock, write_record=not connection.in_atomic_block)
        heartbeat.start()
    try:
        return _execute(run, options, heartbeat, held_lock, on_progress, collector_factory)
    except BaseException as exc:
        unreachable = _unreachable(exc)
        if run.pk and run.finished_at is None:  # ended before its record was finished: say how
            if unreachable is None:
                services.run_fail(run_id=run.pk, message=f"ended by an error: {type(exc).__name__}: {exc}")
            else:
                _let_go(heartbeat, held_lock)
                message = f"{unreachable}; nothing was collected"
                _recorded(run, lambda: services.run_fail(run_id=run.pk, message=message))
        if unreachable is not None and unreachable is not exc:
            raise unreachable from exc
        raise
    finally:
        _let_go(heartbeat, held_lock)


def _execute(
    run: CollectionRun,
    options: RunOptions,
    heartbeat: Heartbeat | None,
    held_lock,
    on_progress: Callable[[Progress], None] | None,
    collector_factory: CollectorFactory,
) -> CollectionRun:
    write = not options.dry_run
    if write and run.status != RunStatus.RUNNING:
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status"])
    if write:  # buckets grown by new accounts split before this run's rows are counted in them
        grid_buckets_split()
    days, source = run_days(options), run_source(options)
    accounts = selectors.collection_accounts(
        platforms=options.platforms,
        account_ids=options.account_ids,
        organization=options.organization,
        core_only=options.core_only,
    )
    progress = Progress(total=len(accounts))
    run.accounts_total = len(accounts)
    if write:
        run.save(update_fields=["accounts_total"])

    results: queue.Queue[list[Outcome]] = queue.Queue()
    batches: list[tuple[int, str, list[AccountRef]]] = []
    collectors: dict[str, object] = {}
    by_platform: dict[tuple[bool, str], list[AccountRef]] = defaultdict(list)
    for is_core, ref in accounts:
        by_platform[(is_core, ref.platform)].append(ref)
    for (is_core, platform), refs in by_platform.items():
        collector = collectors.get(platform) or collectors.setdefault(
            platform, collector_factory(platform, options, days)
        )
        reason = collector.unavailable_reason()
        if reason:
            results.put([Outcome(ref, OutcomeStatus.SKIPPED, error=reason) for ref in refs])
            continue
        size = max(1, collector.batch_size)
        for start in range(0, len(refs), size):
            batches.append((0 if is_core else 1, platform, refs[start : start + size]))
    batches.sort(key=lambda item: item[0])  # stable: core batches first, platforms interleaved below
    ordered = interleave(batches)
    if write:  # what the run has to do, for its time left (scraping.progress)
        run.planned = run_plan(accounts=(ref for _, ref in accounts), collector=collectors.__getitem__)
        CollectionRun.objects.filter(pk=run.pk).update(planned=run.planned)
    concurrency = configured_concurrency()
    caps = {platform: max(1, concurrency.get(platform, FALLBACK_CONCURRENCY)) for platform in collectors}
    scheduler = _Scheduler(ordered, caps)
    workers = max(1, min(options.workers, len(ordered) or 1))
    if all(getattr(c, "cpu_bound", False) for c in collectors.values()):
        # Collectors that compute rather than wait (simulated) run no faster on more threads: they
        # would only take the GIL from this thread and the writers more often.
        workers = 1

    def work() -> None:  # collectors touch no database: only the writers write
        while (item := scheduler.next()) is not None:
            platform, batch = item
            try:
                outcomes = collect_batch(
                    collector=collectors[platform], platform=platform, batch=batch,
                    withdraw=functools.partial(scheduler.withdraw, platform),
                )  # fmt: skip
            finally:
                scheduler.done(platform)
            results.put(outcomes)

    def write_batch(outcomes: list[Outcome], counts: _Counts) -> None:
        if heartbeat is not None:
            heartbeat.check()  # in memory: the runner's writing speed allows no round trip per batch
        try:
            _flush(run, outcomes, days, source, counts, write)
        except DatabaseError as exc:
            unreachable = _unreachable(exc)
            if unreachable is None:
                raise
            raise unreachable from exc

    buffer: list[Outcome] = []
    last_flush = time.perf_counter()
    cancel_due, cancelled = last_flush + CANCEL_CHECK_SECONDS, False
    status = RunStatus.COMPLETED
    stopped: KeyboardInterrupt | None = None
    lost: LockLost | None = None
    unreachable: DatabaseUnreachable | None = None
    if write:
        generations.connect()  # while this thread still has the GIL to itself
    writers = _Writers(write_batch, threads=_writer_threads(write=write, total=progress.total), run_id=run.pk)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect")
    futures = [pool.submit(work) for _ in range(workers)]
    unfreeze = _gc_freeze()
    try:
        while True:
            finished = all(f.done() for f in futures)
            try:
                outcomes = results.get(timeout=0.05)
            except queue.Empty:
                if finished and results.empty():
                    break
                outcomes = []
            if write and not cancelled and time.perf_counter() >= cancel_due:
                cancelled, cancel_due = _cancel_requested(run), time.perf_counter() + CANCEL_CHECK_SECONDS
                if cancelled:  # no batch starts any more; those being collected are written
                    scheduler.stop()
            for outcome in outcomes:
                progress.count(outcome)
            buffer.extend(outcomes)
            if buffer and (
                len(buffer) >= FLUSH_ACCOUNTS or time.perf_counter() - last_flush >= FLUSH_SECONDS
            ):
                writers.put(buffer, progress.counts())
                buffer, last_flush = [], time.perf_counter()
                if on_progress:
                    on_progress(progress)
        for future in futures:
            future.result()
        if cancelled:
            status = RunStatus.CANCELLED
    except LockLost as exc:  # the record says so; nothing more is collected or written
        status, lost = RunStatus.INTERRUPTED, exc
        scheduler.stop()
    except DatabaseUnreachable as exc:  # likewise
        status, unreachable = RunStatus.FAILED, exc
        scheduler.stop()
    except BaseException:
        status = RunStatus.INTERRUPTED
        scheduler.stop()
        raise
    finally:
        pool.shutdown(wait=status == RunStatus.COMPLETED, cancel_futures=True)
        try:
            writers.close(buffer if lost is None and unreachable is None else [], progress.counts())
            failure = writers.wait()
        except KeyboardInterrupt as exc:  # the writers go on with what they were given: wait once more
            status, stopped = RunStatus.INTERRUPTED, exc
            failure = writers.wait()
        if failure is not None and isinstance(failure.error, LockLost):
            lost, failure = failure.error, None
        if failure is not None and isinstance(failure.error, DatabaseUnreachable):
            unreachable, failure = unreachable or failure.error, None
        if failure is not None:  # the record must still say how the run ended
            status = RunStatus.INTERRUPTED
            run.message = f"the last {failure.unwritten} outcomes could not be written: {failure.error}"
        if lost is not None:
            status = RunStatus.INTERRUPTED
            run.message = str(lost)
        if unreachable is not None:  # the cause, whatever else went wrong with it
            status = RunStatus.FAILED
            run.message = str(unreachable)
            logger.error(
                "collection run %s: %s; it stopped after collecting %s of %s accounts, and waits up to %g s "
                "for the database to record it as failed",
                run.pk, unreachable, progress.done, progress.total, DATABASE_WAIT_SECONDS,
            )  # fmt: skip
        if unfreeze:
            gc.unfreeze()
        if on_progress:
            on_progress(progress)
        if status == RunStatus.COMPLETED and not progress.succeeded:
            status = RunStatus.FAILED
        _let_go(heartbeat, held_lock)  # before the record says "finished": a new run may start then
        if write and not cancelled and unreachable is None:
            _cancel_requested(run)  # one asked for since the last look is kept in the record
        _finish(run, progress, status, write, written_only=unreachable is not None)
    if stopped is not None:
        raise stopped
    if failure is not None and not failure.last:  # a batch of the run failed, seen only by `wait`
        raise failure.error
    return run


def _writer_threads(*, write: bool, total: int) -> int:
    """How many threads write the run's batches: WRITERS on PostgreSQL. None (the calling thread
    writes) on SQLite, which takes one writer at a time anyway; when the caller is inside a
    transaction, as everything must then be written in it (other connections would neither see its
    rows nor be rolled back with it); and for a run of at most FLUSH_ACCOUNTS accounts, which has
    little to write alongside."""
    if not write or connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0
    return WRITERS if total > FLUSH_ACCOUNTS else 0


def _gc_freeze() -> bool:
    """Keep the objects that exist before a run out of the garbage collector's full passes; says
    whether to unfreeze them after the run (not when something else froze objects, as an app server
    does before it forks: unfreezing would undo that).

    A full pass walks every object of the process (over 100,000 before a run of 10,000 accounts has
    made any), holding the GIL: the writing thread stalls for 0.1 s or more each time, over objects
    the run does not turn into garbage. The run's own objects are collected as usual.
    """
    if gc.get_freeze_count():
        return False
    gc.freeze()
    return True


def interleave(batches: list[tuple[int, str, list[AccountRef]]]) -> list[tuple[str, list[AccountRef]]]:
    """Within each priority, alternate platforms so every platform starts early."""
    ordered: list[tuple[str, list[AccountRef]]] = []
    for priority in sorted({b[0] for b in batches}):
        lanes: dict[str, deque] = defaultdict(deque)
        for p, platform, refs in batches:
            if p == priority:
                lanes[platform].append(refs)
        while lanes:
            for platform in list(lanes):
                ordered.append((platform, lanes[platform].popleft()))
                if not lanes[platform]:
                    del lanes[platform]
    return ordered


def collect_batch(
    *,
    collector,
    platform: str,
    batch: list[AccountRef],
    withdraw: Callable[[], list[AccountRef]] = list,
) -> list[Outcome]:
    """One outcome per account of one batch (the threads' and the Celery workers' batches alike).

    A platform that asks for a wait longer than --max-wait defers the rest of the batch, and what
    `withdraw` takes back of the platform's batches still to come, to a later run. An unexpected
    error fails the batch's accounts with its reason, not the run."""
    try:
        outcomes = collector.collect(batch)
    except WaitTooLong as exc:
        decided = {o.account.id: o for o in exc.outcomes}
        message = (
            f"deferred: {platform_label(platform)} asked to wait {exc.wait_seconds:.0f} s, "
            f"longer than --max-wait; collect it in a later run"
        )
        rest = [ref for ref in batch if ref.id not in decided] + withdraw()
        return list(decided.values()) + [Outcome(ref, OutcomeStatus.DEFERRED, error=message) for ref in rest]
    except Exception as exc:  # one batch's bug must not stop the run
        logger.exception("collecting %s failed", platform)
        error = f"unexpected error: {type(exc).__name__}: {exc}"
        return [Outcome(ref, OutcomeStatus.FAILED, error=error) for ref in batch]
    if collect_posts := getattr(collector, "collect_posts", None):
        try:  # the recent posts of the accounts read: their failure never fails an account
            collect_posts(outcomes)
        except Exception:
            logger.exception("reading the recent posts of %s accounts failed", platform)
    return outcomes


def _flush(
    run: CollectionRun,
    outcomes: list[Outcome],
    days: list[dt.date],
    source: str,
    counts: _Counts,
    write: bool,
) -> None:
    """Write one batch in one transaction: its snapshots, its outcomes, and the run's counts as they
    were when it was handed over.

    Writer threads may commit batches out of order, so the counts are only written when they are at
    least those stored: the WHERE clause is re-checked on the row's newest version once a writer has
    waited for another's lock on it (READ COMMITTED), so the counts never go backwards.
    """
    if not write:
        return
    with transaction.atomic():
        write_outcomes(run=run, outcomes=outcomes, days=days, source=source)
        CollectionRun.objects.filter(pk=run.pk).alias(
            stored_done=F("accounts_succeeded") + F("accounts_failed") + F("accounts_skipped")
        ).filter(stored_done__lte=counts.done).update(
            accounts_succeeded=counts.succeeded,
            accounts_failed=counts.failed,
            accounts_skipped=counts.skipped,
            heartbeat_at=timezone.now(),
            by_platform=counts.by_platform,
        )


def write_outcomes(*, run: CollectionRun, outcomes: list[Outcome], days: list[dt.date], source: str) -> None:
    """Write one batch's snapshots (the upsert: a batch written twice writes nothing twice), the
    external ids the platforms told, and the accounts' outcomes, in one transaction (the caller's,
    when it has one, so it can record the batch in the same commit)."""
    rows: list[SnapshotRow] = []
    posts: list[PostRow] = []
    external_ids: dict[int, str] = {}
    for outcome in outcomes:
        if outcome.status != OutcomeStatus.SUCCEEDED or outcome.metrics is None:
            continue
        if outcome.posts:
            posts += outcome.posts
        series = getattr(outcome, "series", None) or [(days[-1], outcome.metrics)]
        for day, m in series:
            if m.is_empty():
                continue  # nothing read is never written as zeros
            rows.append(
                SnapshotRow(
                    outcome.account.id, day, m.followers, m.following, m.posts, m.likes, m.comments,
                    m.shares, m.views, source, m.precision,
                )
            )  # fmt: skip
        learned = outcome.metrics.external_id
        if learned and learned != outcome.account.external_id:
            external_ids[outcome.account.id] = learned
    with transaction.atomic():
        if rows:
            snapshot_upsert_many(rows=rows, batch_size=5000)
        if posts:
            post_upsert_many(rows=posts)
        if external_ids:
            _remember_external_ids(external_ids)
        _record_outcomes(run, outcomes)


_OUTCOME_TABLE = CollectionOutcome._meta.db_table
_OUTCOME_COLUMNS = "run_id, account_id, status, error_message, duration_seconds, attempts"
_PG_OUTCOMES_COPY = f"COPY {_OUTCOME_TABLE} ({_OUTCOME_COLUMNS}) FROM STDIN"
_PG_OUTCOMES = (
    f"INSERT INTO {_OUTCOME_TABLE} ({_OUTCOME_COLUMNS}) "
    "SELECT %s, * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[], %s::int[]) "
    "ON CONFLICT (run_id, account_id) DO NOTHING"
)


def _record_outcomes(run: CollectionRun, outcomes: list[Outcome]) -> None:
    """One row per account of the run (by COPY on PostgreSQL: an account has one outcome per run, so
    there is nothing to merge; should one be recorded already, the first one stays)."""
    durations = [round(o.duration, 4) if o.duration else None for o in outcomes]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            try:
                with (
                    transaction.atomic(),
                    connection.wrap_database_errors,  # psycopg's errors as Django's
                    cursor.cursor.copy(_PG_OUTCOMES_COPY) as copy,
                ):
                    write, run_id = copy.write_row, run.pk
                    for o, duration in zip(outcomes, durations, strict=True):
                        write((run_id, o.account.id, o.status, o.error[:2000], duration, o.attempts))
            except IntegrityError:
                cursor.execute(
                    _PG_OUTCOMES,
                    [
                        run.pk,
                        [o.account.id for o in outcomes],
                        [o.status for o in outcomes],
                        [o.error[:2000] for o in outcomes],
                        durations,
                        [o.attempts for o in outcomes],
                    ],
                )
        return
    CollectionOutcome.objects.bulk_create(
        [
            CollectionOutcome(
                run=run, account_id=o.account.id, status=o.status, error_message=o.error[:2000],
                duration_seconds=duration, attempts=o.attempts,
            )
            for o, duration in zip(outcomes, durations, strict=True)
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )  # fmt: skip


def _remember_external_ids(external_ids: dict[int, str]) -> None:
    accounts = list(Account.objects.filter(pk__in=external_ids).only("pk", "external_id"))
    for account in accounts:
        account.external_id = external_ids[account.pk]
    Account.objects.bulk_update(accounts, ["external_id"], batch_size=500)


def _finish(
    run: CollectionRun, progress: Progress, status: str, write: bool, *, written_only: bool = False
) -> None:
    """Record how the run ended. `written_only` (a run that lost its database, so some outcomes it
    collected were never written): its counts are those of the outcomes written, read once the
    database answers again."""
    run.status = status
    run.finished_at = timezone.now()
    run.duration_seconds = round(progress.elapsed, 3)
    run.accounts_succeeded = progress.succeeded
    run.accounts_failed = progress.failed
    run.accounts_skipped = progress.skipped
    run.by_platform = {p: dict(c) for p, c in progress.by_platform.items()}
    if status == RunStatus.INTERRUPTED and not run.message:
        run.message = (
            f"interrupted after {progress.done} of {progress.total} accounts; what was collected is kept"
        )
    elif status == RunStatus.CANCELLED and not run.message:
        run.message = services.cancelled_message(done=progress.done, total=progress.total)
    elif status == RunStatus.FAILED and not run.message:
        run.message = (
            "nothing could be collected" if progress.total else "no active accounts match the selection"
        )
    if write:
        reason = run.message
        _recorded(run, (lambda: _save_written(run, progress, reason)) if written_only else run.save)


def _cancel_requested(run: CollectionRun) -> bool:
    """Whether a cancel was asked for, noted on `run` so that writing its record keeps it; False when
    the database does not answer (the writers report that)."""
    try:
        run.cancel_requested_at, run.cancelled_by = selectors.run_cancel_state(run_id=run.pk)
    except DatabaseError:
        return False
    return run.cancel_requested_at is not None


def _save_written(run: CollectionRun, progress: Progress, reason: str) -> None:
    by_platform: dict[str, Counter] = defaultdict(Counter)
    written = run.outcomes.order_by().values_list("account__platform", "status").annotate(n=Count("*"))
    for platform, status, n in written:
        by_platform[platform][status] += n
    totals = sum(by_platform.values(), Counter())
    run.accounts_succeeded = totals[OutcomeStatus.SUCCEEDED]
    run.accounts_failed = totals[OutcomeStatus.FAILED]
    run.accounts_skipped = totals.total() - run.accounts_succeeded - run.accounts_failed
    run.by_platform = {p: dict(c) for p, c in by_platform.items()}
    run.message = (
        f"{reason}; the run stopped after collecting {progress.done} of {progress.total} accounts, "
        f"of which {run.accounts_done} were written before and are kept"
    )
    run.save()


def _recorded(run: CollectionRun, write: Callable[[], object]) -> None:
    """Write the run's record; while the database cannot be reached, try again (every 2 s at most,
    for DATABASE_WAIT_SECONDS at most, then DatabaseUnreachable)."""
    deadline = time.monotonic() + DATABASE_WAIT_SECONDS
    pause = 0.5
    while True:
        try:
            write()
            return
        except DatabaseError as exc:
            unreachable = _unreachable(exc)
            if unreachable is None:
                raise
            connection.close()  # a broken connection goes (out of the pool too); the next try takes another
            if time.monotonic() + pause > deadline:
                then = (
                    f"the end of run {run.pk} could not be recorded: it is shown as interrupted once the "
                    "database is back"
                )
                raise DatabaseUnreachable(unreachable.reason, then=then) from exc
            time.sleep(pause)
            pause = min(2 * pause, 2.0)


def collect(
    *,
    options: RunOptions,
    on_progress: Callable[[Progress], None] | None = None,
    collector_factory: CollectorFactory = default_collector_factory,
) -> CollectionRun:
    """Take the lock, collect, record: the whole run in the calling thread. DatabaseUnreachable
    when the database cannot be reached to start the run (or to record its end)."""
    try:
        run, held = run_start(options=options)
    except DatabaseError as exc:
        unreachable = _unreachable(exc)
        if unreachable is None:
            raise
        raise DatabaseUnreachable(unreachable.reason, then="nothing was collected") from exc
    return run_execute(
        run=run, options=options, held_lock=held, on_progress=on_progress, collector_factory=collector_factory
    )


def collect_in_background(*, options: RunOptions) -> CollectionRun:
    """Start a run and return its record at once (for the API): in batches over every Celery worker
    with SOCIALMETRICS_COLLECT_BACKEND=celery (scraping.distributed); else on one Celery worker when
    CELERY_BROKER_URL is set, else on a thread of this process.

    A run queued for a worker holds the lock while it waits, for SOCIALMETRICS_RUN_QUEUE_SECONDS at
    most (the task expires then too); the worker takes the lock over by its token, which only a lock
    in Redis allows: Celery without REDIS_URL is refused rather than run unlocked."""
    from . import distributed

    if distributed.backend() == "celery":
        return distributed.run_dispatch(options=options)
    use_celery = bool(settings.CELERY_BROKER_URL)
    if use_celery and not redis_policy.enabled():
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL needs REDIS_URL: a run's lock can be handed over to a Celery worker only "
            "in Redis; set REDIS_URL, or unset CELERY_BROKER_URL to run collections in the web process"
        )
    total = len(
        selectors.collection_accounts(
            platforms=options.platforms,
            account_ids=options.account_ids,
            organization=options.organization,
            core_only=options.core_only,
        )
    )
    run, held = run_start(options=options, status=RunStatus.PENDING if use_celery else RunStatus.RUNNING)
    run.accounts_total = total
    run.save(update_fields=["accounts_total"])
    if use_celery:
        from .tasks import execute_run

        try:
            execute_run.apply_async(
                kwargs={"run_id": run.pk, "options": options.as_json(), "lock_token": held.token},
                expires=services.run_timing().queue,
            )
        except Exception as exc:
            services.run_fail(run_id=run.pk, message=f"could not be queued for a worker: {exc}")
            held.release()
            raise
        return run

    def target() -> None:
        try:
            run_execute(run=run, options=options, held_lock=held)
        except Exception:
            logger.exception("background collection run %s failed", run.pk)
        finally:
            connection.close()

    threading.Thread(target=target, name=f"collection-run-{run.pk}", daemon=True).start()
    return run

"""Collection runs spread over Celery workers (`--backend celery`, SOCIALMETRICS_COLLECT_BACKEND).

`run_dispatch` takes the collection lock, records the run and its batches (some accounts of one
platform each, core accounts' batches first) and sends one `scraping.collect_batch` task per batch;
any number of workers, on any machine, carry them out with `batch_execute`, which collects and
writes through the threaded runner's own functions (`runner.collect_batch`, `runner.write_outcomes`).

- The run ends in the transaction that records its last batch (services.batch_report): no process
  waits for the workers. A batch delivered twice is written and counted once: its record is locked
  while it is written and says whether it has reported.
- The lock is the run's Redis lock under the run's token: it lives SOCIALMETRICS_RUN_QUEUE_SECONDS
  while the run waits for its first worker, then every batch takes it over and renews it (with the
  run's heartbeat) while it works, and the batch that ends the run frees it. A run whose workers
  all died loses it after SOCIALMETRICS_RUN_STALE_SECONDS, and the stale-run reaper ends the run.
- The platforms' request budgets are shared by every worker through Redis (scraping.ratelimit).
- A cancel (services.run_cancel) cancels the batches no worker has taken up; those being collected
  are written, and the last to report ends the run cancelled.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from snapshots.grid_buckets import grid_buckets_split
from socialmetrics import redis_policy

from . import locks, selectors, services
from .models import BatchStatus, CollectionRun, RunStatus
from .progress import run_plan
from .runner import (
    Heartbeat,
    LockLost,
    Progress,
    RunOptions,
    collect_batch,
    default_collector_factory,
    interleave,
    run_days,
    run_source,
    run_start,
    write_outcomes,
)

BACKENDS = ("threads", "celery")
#: Accounts per batch at least, whatever the collector's own request size: a task costs a few round
#: trips to the broker and the database, and a real-mode batch of this size waits on rate limits for
#: minutes at most, well within the broker's visibility timeout.
MIN_BATCH_ACCOUNTS = 100


def backend(name: str = "") -> str:
    """The collection backend asked for, else SOCIALMETRICS_COLLECT_BACKEND; a clear error otherwise."""
    name = name or settings.SOCIALMETRICS_COLLECT_BACKEND
    if name not in BACKENDS:
        raise ImproperlyConfigured(
            f"unknown collection backend {name!r} (SOCIALMETRICS_COLLECT_BACKEND or --backend); "
            f"expected one of: {', '.join(BACKENDS)}"
        )
    return name


def require_services() -> None:
    """A run spread over workers needs a broker, and Redis for the lock its workers share."""
    if not settings.CELERY_BROKER_URL:
        raise ImproperlyConfigured(
            "the celery backend needs CELERY_BROKER_URL (the workers' broker); set it, or collect with "
            "the threads backend"
        )
    if not redis_policy.enabled():
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL needs REDIS_URL: the workers of a run share its lock in Redis; set "
            "REDIS_URL, or collect with the threads backend"
        )


def batch_size(*, options: RunOptions, collector) -> int:
    """Accounts per batch: --batch-size, else the collector's request size, at least MIN_BATCH_ACCOUNTS."""
    return max(1, options.batch_size or max(collector.batch_size, MIN_BATCH_ACCOUNTS))


def plan(*, accounts: list, options: RunOptions, collector_factory=default_collector_factory) -> list:
    """The run's batches as (platform, account ids): core accounts' first, platforms interleaved, as
    the threaded runner hands them out. A platform its collector cannot read (a missing credential)
    is one batch, skipped at once by the worker."""
    days = run_days(options)
    collectors: dict[str, object] = {}
    grouped: dict[tuple[bool, str], list[int]] = {}
    for is_core, ref in accounts:
        grouped.setdefault((is_core, ref.platform), []).append(ref.id)
    batches: list[tuple[int, str, list[int]]] = []
    for (is_core, platform), ids in grouped.items():
        collector = collectors.get(platform) or collectors.setdefault(
            platform, collector_factory(platform, options, days)
        )
        size = (
            len(ids) if collector.unavailable_reason() else batch_size(options=options, collector=collector)
        )
        for start in range(0, len(ids), size):
            batches.append((0 if is_core else 1, platform, ids[start : start + size]))
    return interleave(batches)


def run_dispatch(*, options: RunOptions) -> CollectionRun:
    """Take the lock, record the run and its batches, send them to the workers; returns the run
    (queued) at once. LockHeld when another run is going; ImproperlyConfigured without a broker or
    Redis."""
    require_services()
    if options.dry_run:
        raise ImproperlyConfigured("a dry run collects in this process: use the threads backend")
    from .tasks import collect_batch as collect_batch_task

    options.backend = "celery"
    run, held = run_start(options=options, status=RunStatus.PENDING)
    try:
        grid_buckets_split()  # before the workers write: buckets grown by new accounts
        accounts = selectors.collection_accounts(
            platforms=options.platforms,
            account_ids=options.account_ids,
            organization=options.organization,
            core_only=options.core_only,
        )
        batches = plan(accounts=accounts, options=options)
        days = run_days(options)
        planned = run_plan(
            accounts=(ref for _, ref in accounts),
            collector=functools.cache(lambda platform: default_collector_factory(platform, options, days)),
        )
        services.batches_create(run=run, batches=batches, total=len(accounts), planned=planned)
        if not batches:
            with transaction.atomic():
                services.run_finish(run_id=run.pk)
            held.release()
        for index in range(len(batches)):
            collect_batch_task.apply_async(kwargs={"run_id": run.pk, "index": index})
    except Exception as exc:
        services.run_fail(run_id=run.pk, message=f"could not be sent to the workers: {exc}")
        held.release()
        raise
    run.refresh_from_db()
    return run


def batch_execute(*, run_id: int, index: int, worker: str = "") -> dict:
    """Collect and write one batch of a run (a worker's task). Nothing is done when the run has ended
    or the batch has reported already. A batch that finds the run's lock gone (no batch renewed it in
    time: another run may hold it now) writes nothing and fails. Database and Redis errors are
    raised, for the task to try again."""
    claimed = services.batch_claim(run_id=run_id, index=index, worker=worker)
    if claimed is None:
        return {"run_id": run_id, "index": index, "status": "not carried out"}
    run, batch = claimed
    require_services()
    lock = locks.run_lock(token=run.lock_token, timeout=services.run_timing().stale)
    if not lock.take_over():
        reason = "the run's collection lock had expired (no batch renewed it in time); nothing was written"
        return batch_fail(run_id=run_id, index=index, reason=reason, worker=worker)
    heartbeat = Heartbeat(run_id=run.pk, lock=lock, write_record=True)
    heartbeat.start()
    try:
        options = RunOptions.from_json(run.options)
        days = run_days(options)
        collector = default_collector_factory(batch.platform, options, days)
        refs = selectors.batch_accounts(account_ids=batch.account_ids)
        outcomes = collect_batch(collector=collector, platform=batch.platform, batch=refs)
        heartbeat.check()
        with transaction.atomic():
            locked = services.batch_lock(run_id=run_id, index=index)
            if locked is None:  # another delivery of the batch wrote it meanwhile
                return {"run_id": run_id, "index": index, "status": "not carried out"}
            write_outcomes(run=run, outcomes=outcomes, days=days, source=run_source(options))
            counts = dict(Counter(str(o.status) for o in outcomes))
            ended = services.batch_report(batch=locked, status=BatchStatus.DONE, counts=counts, worker=worker)
    except LockLost as exc:
        return batch_fail(run_id=run_id, index=index, reason=str(exc), worker=worker)
    finally:
        heartbeat.stop()
    if ended is not None:
        locks.free(token=run.lock_token)
    return {"run_id": run_id, "index": index, "status": BatchStatus.DONE, **counts}


def batch_fail(*, run_id: int, index: int, reason: str, worker: str = "") -> dict:
    """Record a batch as failed with its reason (once), ending the run when it was the last."""
    with transaction.atomic():
        locked = services.batch_lock(run_id=run_id, index=index)
        if locked is None:
            return {"run_id": run_id, "index": index, "status": "not carried out"}
        ended = services.batch_report(
            batch=locked, status=BatchStatus.FAILED, counts={}, worker=worker, message=reason
        )
    if ended is not None:
        locks.free(token=ended.lock_token)
    return {"run_id": run_id, "index": index, "status": BatchStatus.FAILED, "reason": reason}


def run_follow(
    *, run: CollectionRun, on_progress: Callable[[Progress], None] | None = None, interval: float = 0.5
) -> CollectionRun:
    """Follow a run carried out by the workers until it ends, reading its record every `interval`
    seconds (and ending it when it went stale), with the threaded runner's progress reports."""
    progress = Progress(total=run.accounts_total)
    while True:
        services.runs_reap_stale()
        run.refresh_from_db()
        progress.total = run.accounts_total
        progress.succeeded, progress.failed = run.accounts_succeeded, run.accounts_failed
        progress.skipped, progress.done = run.accounts_skipped, run.accounts_done
        progress.by_platform = {p: Counter(c) for p, c in run.by_platform.items()}
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            if on_progress:
                on_progress(progress)
            return run
        if on_progress:
            on_progress(progress)
        time.sleep(interval)

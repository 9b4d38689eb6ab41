"""Writes to collection run records outside the runner's own: a queued run taken up by a worker, the
heartbeat of a running one, the end of runs whose process is gone, and the batches of a run spread
over Celery workers (scraping.distributed), the last of which ends the run."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from socialmetrics import redis_policy

from . import locks
from .models import BatchStatus, CollectionBatch, CollectionRun, OutcomeStatus, RunStatus

logger = logging.getLogger(__name__)
#: A batch in one of these has reported: it is not carried out again.
_REPORTED = (BatchStatus.DONE, BatchStatus.FAILED, BatchStatus.CANCELLED)


@dataclass(frozen=True)
class RunTiming:
    heartbeat: float  # seconds between a running run's renewals of its lock and its record
    stale: float  # a run silent this long has stopped; also how long its lock lives unrenewed
    queue: float  # longest a run waits for a Celery worker, holding the lock


def run_timing() -> RunTiming:
    timing = RunTiming(
        heartbeat=float(settings.SOCIALMETRICS_RUN_HEARTBEAT_SECONDS),
        stale=float(settings.SOCIALMETRICS_RUN_STALE_SECONDS),
        queue=float(settings.SOCIALMETRICS_RUN_QUEUE_SECONDS),
    )
    if not 0 < timing.heartbeat < timing.stale:
        raise ImproperlyConfigured(
            "SOCIALMETRICS_RUN_STALE_SECONDS must be longer than SOCIALMETRICS_RUN_HEARTBEAT_SECONDS "
            f"(> 0): a run must renew its lock before it counts as stopped (now {timing.heartbeat:g} "
            f"and {timing.stale:g})"
        )
    return timing


def runs_reap_stale() -> list[int]:
    """End the runs whose process is gone and free their locks; returns their ids.

    A running run whose heartbeat is older than SOCIALMETRICS_RUN_STALE_SECONDS is interrupted (its
    process died or stopped); a run queued for a worker longer than SOCIALMETRICS_RUN_QUEUE_SECONDS
    has failed. Each update re-checks its condition, so a run that beat meanwhile, or that another
    looker ended first, is left alone; a lock is freed only while still held under the run's token.
    Called by whoever looks at runs: a run's start, the job status, the admin.
    """
    timing = run_timing()
    now = timezone.now()
    silent_since = now - dt.timedelta(seconds=timing.stale)
    silent = Q(status=RunStatus.RUNNING) & (
        Q(heartbeat_at__lt=silent_since) | Q(heartbeat_at__isnull=True, started_at__lt=silent_since)
    )
    unclaimed = Q(status=RunStatus.PENDING, started_at__lt=now - dt.timedelta(seconds=timing.queue))
    reaped = []
    for run in CollectionRun.objects.filter(silent | unclaimed).only(
        "status", "started_at", "heartbeat_at", "lock_token"
    ):
        if run.status == RunStatus.RUNNING:
            last = run.heartbeat_at or run.started_at
            ended = CollectionRun.objects.filter(silent, pk=run.pk).update(
                status=RunStatus.INTERRUPTED,
                finished_at=last,
                duration_seconds=round((last - run.started_at).total_seconds(), 3),
                message=(
                    f"its process stopped sending heartbeats at {last:%Y-%m-%d %H:%M:%S} UTC; "
                    "what was written is kept"
                ),
            )
        else:
            ended = CollectionRun.objects.filter(unclaimed, pk=run.pk).update(
                status=RunStatus.FAILED,
                finished_at=now,
                message=f"no worker picked it up within {timing.queue:g} s",
            )
        if ended:
            reaped.append(run.pk)
            if run.lock_token:
                locks.free(token=run.lock_token)
    return reaped


def run_looks_stale(*, run: CollectionRun, now: dt.datetime | None = None) -> bool:
    """Whether `runs_reap_stale` would end this run (read from the record in hand, no query): a
    status read can then reap before it answers, and answer without a query otherwise."""
    if not run.is_active:
        return False
    timing, now = run_timing(), now or timezone.now()
    if run.status == RunStatus.PENDING:
        return run.started_at < now - dt.timedelta(seconds=timing.queue)
    return (run.heartbeat_at or run.started_at) < now - dt.timedelta(seconds=timing.stale)


def run_claim(*, run_id: int) -> bool:
    """Move a queued run to running for the worker about to carry it out; False when it is no longer
    queued (failed, expired, or claimed by another worker): that worker must not carry it out."""
    now = timezone.now()
    queued = CollectionRun.objects.filter(
        pk=run_id, status=RunStatus.PENDING, started_at__gte=now - dt.timedelta(seconds=run_timing().queue)
    )
    return bool(queued.update(status=RunStatus.RUNNING, heartbeat_at=now))


def run_beat(*, run_id: int) -> bool:
    """Record a running run's sign of life; False when its record no longer says running (another
    process ended it): the run must stop writing."""
    return bool(
        CollectionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())
    )


def run_fail(*, run_id: int, message: str) -> None:
    """End a run that was never carried out (queued or just claimed) as failed, with the reason."""
    CollectionRun.objects.filter(pk=run_id, status__in=[RunStatus.PENDING, RunStatus.RUNNING]).update(
        status=RunStatus.FAILED, finished_at=timezone.now(), message=message
    )


def batches_create(
    *, run: CollectionRun, batches: list[tuple[str, list[int]]], total: int, planned: dict | None = None
) -> None:
    """Record a run's batches, (platform, account ids) each, numbered in the order they are sent, and
    its plan (scraping.progress.run_plan)."""
    CollectionBatch.objects.bulk_create(
        CollectionBatch(run=run, index=index, platform=platform, account_ids=ids)
        for index, (platform, ids) in enumerate(batches)
    )
    run.accounts_total = total
    run.planned = planned or {}
    run.save(update_fields=["accounts_total", "planned"])


def batch_claim(*, run_id: int, index: int, worker: str) -> tuple[CollectionRun, CollectionBatch] | None:
    """For the worker about to collect a batch: the run (moved from queued to running by its first
    batch) and the batch (marked running, one more attempt); the run's heartbeat is written. None when
    the run has ended (failed, reaped, or finished by its other batches) or the batch has reported
    already (a redelivered task): the worker then does nothing."""
    now = timezone.now()
    queued_since = now - dt.timedelta(seconds=run_timing().queue)
    with transaction.atomic():
        CollectionRun.objects.filter(
            pk=run_id, status=RunStatus.PENDING, started_at__gte=queued_since
        ).update(status=RunStatus.RUNNING)
        if not CollectionRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(heartbeat_at=now):
            return None
        claimed = CollectionBatch.objects.filter(
            run_id=run_id, index=index, status__in=[BatchStatus.PENDING, BatchStatus.RUNNING]
        ).update(status=BatchStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, worker=worker[:200])
        if not claimed:
            return None
    return CollectionRun.objects.get(pk=run_id), CollectionBatch.objects.get(run_id=run_id, index=index)


def batch_lock(*, run_id: int, index: int) -> CollectionBatch | None:
    """Inside the transaction that writes a batch: lock its record, so that a second delivery of the
    batch waits for the first and then writes nothing; None when it has reported already."""
    return (
        CollectionBatch.objects.select_for_update()
        .filter(run_id=run_id, index=index)
        .exclude(status__in=_REPORTED)
        .first()
    )


def batch_report(
    *, batch: CollectionBatch, status: str, counts: dict[str, int], worker: str, message: str = ""
) -> CollectionRun | None:
    """In the transaction that wrote the batch (after `batch_lock`): mark it done or failed, add its
    outcomes to the run's counts and, when it is the run's last batch to report, end the run.
    Returns the run when this ended it (its lock is then to be freed once this commits).

    The run's row is updated before the other batches are counted: a batch reporting at the same
    time waits for this transaction, then sees this batch as reported, so exactly one ends the run.
    """
    now = timezone.now()
    batch.status, batch.counts, batch.message = status, counts, message[:2000]
    batch.worker, batch.finished_at = worker[:200], now
    batch.save(update_fields=["status", "counts", "message", "worker", "finished_at"])
    succeeded = counts.get(OutcomeStatus.SUCCEEDED, 0)
    failed = counts.get(OutcomeStatus.FAILED, 0)
    CollectionRun.objects.filter(pk=batch.run_id).update(
        accounts_succeeded=F("accounts_succeeded") + succeeded,
        accounts_failed=F("accounts_failed") + failed,
        accounts_skipped=F("accounts_skipped") + (sum(counts.values()) - succeeded - failed),
        heartbeat_at=now,
    )
    if counts:  # the run's row is this transaction's now: its counts per platform, as they go
        by_platform = CollectionRun.objects.filter(pk=batch.run_id).values_list("by_platform", flat=True)[0]
        merged = Counter((by_platform or {}).get(batch.platform, {}))
        merged.update(counts)
        by_platform = {**(by_platform or {}), batch.platform: dict(merged)}
        CollectionRun.objects.filter(pk=batch.run_id).update(by_platform=by_platform)
    unreported = CollectionBatch.objects.filter(run_id=batch.run_id).exclude(status__in=_REPORTED)
    if unreported.exists():
        return None
    return run_finish(run_id=batch.run_id)


def run_finish(*, run_id: int) -> CollectionRun | None:
    """End a run spread over workers once every batch has reported (None when it had ended already,
    e.g. reaped as stale): cancelled when a cancel was asked for; failed when a batch failed (its
    accounts were not collected; the others' work is kept) or nothing could be collected, else
    completed. The counts per platform are the batches' own."""
    run = CollectionRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
        return None
    by_platform: dict[str, Counter] = defaultdict(Counter)
    failed: list[tuple[int, str]] = []
    batches = run.batches.order_by("index").values_list(
        "platform", "status", "counts", "account_ids", "message"
    )
    for platform, status, counts, account_ids, message in batches:
        by_platform[platform].update(counts)
        if status == BatchStatus.FAILED:
            failed.append((len(account_ids), message))
    now = timezone.now()
    run.finished_at, run.heartbeat_at = now, now
    run.duration_seconds = round((now - run.started_at).total_seconds(), 3)
    run.by_platform = {platform: dict(counts) for platform, counts in by_platform.items()}
    if run.cancel_requested_at is not None:
        run.status = RunStatus.CANCELLED
        run.message = cancelled_message(done=run.accounts_done, total=run.accounts_total)
    elif failed:
        run.status = RunStatus.FAILED
        run.message = (
            f"{len(failed)} of {len(batches)} batches failed, so {sum(n for n, _ in failed)} accounts were "
            f"not collected (first reason: {failed[0][1]}); what the other batches collected is kept"
        )
    elif not run.accounts_succeeded:
        run.status = RunStatus.FAILED
        run.message = (
            "nothing could be collected" if run.accounts_total else "no active accounts match the selection"
        )
    else:
        run.status = RunStatus.COMPLETED
    run.save()
    return run


def cancelled_message(*, done: int, total: int) -> str:
    return f"cancelled after {done:,} of {total:,} accounts; what was collected is kept"


def run_cancel(*, run_id: int, by: str) -> CollectionRun | None:
    """Ask a run to stop (the API's and the admin's cancel); None when there is no such run, else
    the run as it is now. Asking again, or for a run that has ended, changes nothing.

    The run stops cooperatively: the threaded runner sees the request before its next batch (it
    looks once a second), writes what it has collected, frees the lock and ends "cancelled". A run
    spread over Celery workers has its batches no worker has taken up cancelled here; the batches
    being collected are written, and the last to report ends the run (at once here when none is
    being collected). A run still queued for a worker ends here.
    """
    now = timezone.now()
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.is_active:
            return run
        if run.cancel_requested_at is None:
            run.cancel_requested_at, run.cancelled_by = now, by[:150]
            run.save(update_fields=["cancel_requested_at", "cancelled_by"])
        ended = None
        if run.options.get("backend") == "celery":
            run.batches.filter(status=BatchStatus.PENDING).update(
                status=BatchStatus.CANCELLED, finished_at=now, message="the run was cancelled"
            )
            if run.batches.exists() and not run.batches.exclude(status__in=_REPORTED).exists():
                ended = run_finish(run_id=run.pk)
        elif run.status == RunStatus.PENDING:  # queued for a worker that has not claimed it yet
            run.status, run.finished_at, run.heartbeat_at = RunStatus.CANCELLED, now, now
            run.duration_seconds = round((now - run.started_at).total_seconds(), 3)
            run.message = cancelled_message(done=0, total=run.accounts_total)
            run.save(update_fields=["status", "finished_at", "heartbeat_at", "duration_seconds", "message"])
            ended = run
    if ended is not None and ended.lock_token and redis_policy.enabled():
        locks.free(token=ended.lock_token)  # nobody runs it any more (queued runs lock in Redis only)
    run.refresh_from_db()
    return run

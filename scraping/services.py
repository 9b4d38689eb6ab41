"""Writes to collection run records outside the runner's own: a queued run taken up by a worker, the
heartbeat of a running one, and the end of runs whose process is gone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils import timezone

from . import locks
from .models import CollectionRun, RunStatus


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

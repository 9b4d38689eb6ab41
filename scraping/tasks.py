"""Celery tasks: a collection run executed by one worker, a batch of a run spread over every worker
(scraping/distributed.py), and the daily scheduled collection (see socialmetrics/celery.py and
scraping/schedule.py)."""

import logging

from celery import Task, shared_task
from django.db import DatabaseError
from redis.exceptions import RedisError

from . import distributed
from .locks import LockHeld, LockUnavailable
from .models import RunMode
from .runner import DatabaseUnreachable, RunOptions, collect, run_execute, run_take_over
from .schedule import TASK

logger = logging.getLogger(__name__)

#: How often a batch whose database or Redis did not answer is tried again (after 1, 2, 4, 8 and
#: 16 s, with jitter) before it is recorded as failed.
BATCH_RETRIES = 5


# Acknowledged when done, and given back should the worker die: a run that is no longer queued is
# never carried out twice (run_take_over claims it once).
@shared_task(name="scraping.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(*, run_id: int, options: dict, lock_token: str) -> dict:
    """Carry out a run recorded (and locked) by the web process, unless it failed or expired while
    queued, or another run holds the lock: the worker claims the run and takes its lock over."""
    taken = run_take_over(run_id=run_id, lock_token=lock_token)
    if taken is None:
        return {"run_id": run_id, "status": "not carried out"}
    run, lock = taken
    run = run_execute(run=run, options=RunOptions.from_json(options), held_lock=lock)
    return {"run_id": run.pk, "status": run.status, "succeeded": run.accounts_succeeded}


class _BatchTask(Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """Tried for the last time, or failed in a way no retry mends: the batch is recorded as failed
        with the reason (when the database answers), so its run can end."""
        reason = f"{type(exc).__name__}: {exc}".strip()
        try:
            distributed.batch_fail(
                run_id=kwargs["run_id"],
                index=kwargs["index"],
                reason=reason,
                worker=self.request.hostname or "",
            )
        except Exception:  # the stale-run reaper ends the run
            logger.exception(
                "batch %s of run %s failed and could not be recorded", kwargs["index"], kwargs["run_id"]
            )


# Acknowledged when done, and given back when the worker dies, for another worker: a batch that
# has reported already is not carried out again (services.batch_claim, batch_lock).
@shared_task(
    name="scraping.collect_batch",
    base=_BatchTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError, DatabaseUnreachable, LockUnavailable, RedisError),
    retry_backoff=True,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=BATCH_RETRIES,
)
def collect_batch(self, *, run_id: int, index: int) -> dict:
    """Collect and write one batch of a run spread over the workers."""
    return distributed.batch_execute(run_id=run_id, index=index, worker=self.request.hostname or "")


# Sent by Celery beat once a day. Acknowledged when done: a worker lost mid-run leaves the task to
# another, whose run writes each account's day once (the upsert) and finishes the day.
@shared_task(name=TASK, acks_late=True, reject_on_worker_lost=True)
def collect_scheduled(*, mode: str = RunMode.REAL) -> dict:
    """Collect every active account today, in `mode` (the periodic task's keyword arguments): in this
    worker, or with SOCIALMETRICS_COLLECT_BACKEND=celery in batches over every worker. A run already
    going (started by hand, or a scheduled one that is late) is left alone."""
    if mode not in RunMode.values:
        logger.error("the daily collection did not start: unknown mode %r (use real or simulated)", mode)
        return {"status": "not started", "reason": f"unknown mode {mode!r}"}
    try:
        if distributed.backend() == "celery":
            run = distributed.run_dispatch(options=RunOptions(mode=mode))
            logger.info("the daily collection was sent to the workers: run %s", run.pk)
            return {"run_id": run.pk, "status": run.status, "total": run.accounts_total}
        run = collect(options=RunOptions(mode=mode))
    except LockHeld as exc:
        logger.warning("the daily collection did not start: run %s is collecting", exc.run_id)
        return {"status": "not started", "reason": f"run {exc.run_id} is collecting"}
    logger.info("the daily collection ended %s: run %s, %s accounts", run.status, run.pk, run.accounts_done)
    return {"run_id": run.pk, "status": run.status, "succeeded": run.accounts_succeeded}

"""Celery tasks: a collection run executed by a worker, and the daily scheduled collection (see
socialmetrics/celery.py and scraping/schedule.py)."""

import logging

from celery import shared_task

from .locks import LockHeld
from .models import RunMode
from .runner import RunOptions, collect, run_execute, run_take_over
from .schedule import TASK

logger = logging.getLogger(__name__)


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


# Sent by Celery beat once a day. Acknowledged when done: a worker lost mid-run leaves the task to
# another, whose run writes each account's day once (the upsert) and finishes the day.
@shared_task(name=TASK, acks_late=True, reject_on_worker_lost=True)
def collect_scheduled(*, mode: str = RunMode.REAL) -> dict:
    """Collect every active account today, in `mode` (the periodic task's keyword arguments). A run
    already going (started by hand, or a scheduled one that is late) is left alone."""
    if mode not in RunMode.values:
        logger.error("the daily collection did not start: unknown mode %r (use real or simulated)", mode)
        return {"status": "not started", "reason": f"unknown mode {mode!r}"}
    try:
        run = collect(options=RunOptions(mode=mode))
    except LockHeld as exc:
        logger.warning("the daily collection did not start: run %s is collecting", exc.run_id)
        return {"status": "not started", "reason": f"run {exc.run_id} is collecting"}
    logger.info("the daily collection ended %s: run %s, %s accounts", run.status, run.pk, run.accounts_done)
    return {"run_id": run.pk, "status": run.status, "succeeded": run.accounts_succeeded}

"""Celery tasks: a collection run executed by a worker (see socialmetrics/celery.py)."""

from celery import shared_task

from .runner import RunOptions, run_execute, run_take_over


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

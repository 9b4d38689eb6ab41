"""Celery tasks: a collection run executed by a worker (see socialmetrics/celery.py)."""

from celery import shared_task

from .locks import collection_lock
from .models import CollectionRun
from .runner import RunOptions, run_execute


@shared_task(name="scraping.execute_run", acks_late=False)
def execute_run(*, run_id: int, options: dict, lock_token: str) -> dict:
    """Carry out a run recorded (and locked) by the web process; the worker takes the lock over."""
    run = CollectionRun.objects.get(pk=run_id)
    lock = collection_lock()
    lock.adopt(token=lock_token, run_id=run_id)
    lock.keep_alive()
    run = run_execute(run=run, options=RunOptions.from_json(options), held_lock=lock)
    return {"run_id": run.pk, "status": run.status, "succeeded": run.accounts_succeeded}

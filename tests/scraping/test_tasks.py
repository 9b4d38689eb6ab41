"""Runs started from the API go to a Celery worker when CELERY_BROKER_URL is set."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from scraping import tasks
from scraping.locks import LockHeld, collection_lock
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect_in_background
from snapshots.models import Snapshot
from socialmetrics.celery import app as celery_app
from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.django_db
def test_with_a_broker_the_run_is_queued_for_a_worker_holding_the_lock(settings, monkeypatch):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/14"
    sent = []
    monkeypatch.setattr(tasks.execute_run, "delay", lambda **kwargs: sent.append(kwargs))
    AccountFactory.create_batch(2)
    run = collect_in_background(options=RunOptions())
    assert run.status == RunStatus.PENDING
    assert run.accounts_total == 2
    assert sent == [{"run_id": run.pk, "options": run.options, "lock_token": sent[0]["lock_token"]}]
    with pytest.raises(LockHeld):  # the queued run holds the lock until the worker releases it
        collection_lock().acquire()
    tasks.execute_run(**sent[0])  # what the worker does
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert Snapshot.objects.count() == 2
    lock = collection_lock()
    lock.acquire()  # released by the worker
    lock.release()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_carries_out_the_run(settings):
    broker = "redis://127.0.0.1:6379/14"
    settings.CELERY_BROKER_URL = broker
    celery_app.conf.broker_url = broker
    AccountFactory.create_batch(3)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": broker,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "socialmetrics",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run = collect_in_background(options=RunOptions())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
                break
            time.sleep(0.2)
        assert run.status == RunStatus.COMPLETED, run.message
        assert run.accounts_succeeded == 3
        assert Snapshot.objects.count() == 3
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        import redis

        redis.Redis.from_url(broker).flushdb()
    assert CollectionRun.objects.count() == 1

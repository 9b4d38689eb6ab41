"""Runs started from the API go to a Celery worker when CELERY_BROKER_URL is set: the queued run
holds the lock, the worker claims the run once and takes the lock over by its token, and two runs
never execute at once."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from rest_framework.test import APIClient

from scraping import runner, tasks
from scraping.locks import LockHeld
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect_in_background
from snapshots.models import Snapshot
from socialmetrics import redis_policy
from socialmetrics.celery import app as celery_app
from tests.factories import AccountFactory
from tests.scraping.runs import factory_with, lock_is_free

ROOT = Path(__file__).resolve().parent.parent.parent
#: The broker of these tests (a Redis database of their own: the real worker test empties it).
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture
def queued(settings, monkeypatch):
    """Runs queued for Celery: the tasks sent, as (kwargs, options), instead of a broker."""
    settings.CELERY_BROKER_URL = BROKER
    sent = []
    monkeypatch.setattr(
        tasks.execute_run, "apply_async", lambda kwargs, **options: sent.append((kwargs, options))
    )
    return sent


@pytest.mark.redis
@pytest.mark.django_db
def test_with_a_broker_the_run_is_queued_for_a_worker_holding_the_lock(settings, queued):
    settings.SOCIALMETRICS_RUN_QUEUE_SECONDS = 300
    AccountFactory.create_batch(2)
    run = collect_in_background(options=RunOptions())
    assert run.status == RunStatus.PENDING
    assert run.accounts_total == 2
    [(kwargs, options)] = queued
    assert kwargs == {"run_id": run.pk, "options": run.options, "lock_token": run.lock_token}
    assert options == {"expires": 300}  # the task expires with the run's time in the queue
    assert tasks.execute_run.acks_late
    assert tasks.execute_run.reject_on_worker_lost
    with pytest.raises(LockHeld) as refused:  # the queued run holds the lock until its worker ends
        runner.run_start(options=RunOptions())
    assert refused.value.run_id == run.pk
    assert 0 < redis_policy.client().pttl(redis_policy.key("lock:collect_metrics")) <= 300_000
    assert tasks.execute_run(**kwargs) == {"run_id": run.pk, "status": "completed", "succeeded": 2}
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert Snapshot.objects.count() == 2
    assert lock_is_free()  # released by the worker
    # The message again (a worker lost mid-run gives it back): the run is no longer queued.
    assert tasks.execute_run(**kwargs) == {"run_id": run.pk, "status": "not carried out"}
    assert CollectionRun.objects.get().status == RunStatus.COMPLETED


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_queued_run_that_expired_is_not_executed_after_a_newer_run_started(settings, queued, log):
    """The lost-lock overlap: a run waits for a worker beyond its queue time, a second run starts,
    then the first run's task reaches a worker while the second is collecting."""
    settings.SOCIALMETRICS_RUN_QUEUE_SECONDS = 0.3
    accounts = AccountFactory.create_batch(12)
    first = collect_in_background(options=RunOptions())
    [(kwargs, _)] = queued
    time.sleep(0.4)  # no worker took it up in time; its lock expired with it

    options = RunOptions(workers=1)
    second, lock = runner.run_start(options=options)  # the next look ends the first as failed
    collecting = threading.Event()

    def second_run() -> None:
        try:
            runner.run_execute(
                run=second,
                options=options,
                held_lock=lock,
                on_progress=lambda progress: collecting.set(),
                collector_factory=factory_with(log, delay=0.05),
            )
        finally:
            connection.close()

    thread = threading.Thread(target=second_run)
    thread.start()
    assert collecting.wait(10)
    assert tasks.execute_run(**kwargs) == {"run_id": first.pk, "status": "not carried out"}
    thread.join(20)

    first.refresh_from_db()
    assert first.status == RunStatus.FAILED
    assert first.message == "no worker picked it up within 0.3 s"
    assert not first.outcomes.exists()
    second.refresh_from_db()
    assert second.status == RunStatus.COMPLETED
    assert second.outcomes.count() == Snapshot.objects.count() == len(accounts)
    assert log["peak"]["x"] == 1  # the second ran alone
    assert lock_is_free()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_never_carries_out_a_queued_run_whose_lock_another_run_holds(settings, queued, log):
    """Whatever the timing: the queued run's lock is gone (expired, deleted) and another run holds
    it. The worker claims the queued run, cannot take its lock over, and ends it failed."""
    AccountFactory.create_batch(3)
    first = collect_in_background(options=RunOptions())
    [(kwargs, _)] = queued
    redis_policy.client().delete(redis_policy.key("lock:collect_metrics"))
    options = RunOptions()
    second, lock = runner.run_start(options=options)  # the first is still within its queue time
    try:
        assert tasks.execute_run(**kwargs) == {"run_id": first.pk, "status": "not carried out"}
    finally:
        runner.run_execute(run=second, options=options, held_lock=lock)
    first.refresh_from_db()
    assert first.status == RunStatus.FAILED
    assert "its lock expired before a worker took it up" in first.message
    assert not first.outcomes.exists()
    second.refresh_from_db()
    assert second.status == RunStatus.COMPLETED
    assert second.outcomes.count() == 3


@pytest.mark.django_db
def test_celery_without_redis_is_refused_rather_than_run_unlocked(settings, queued, django_user_model):
    settings.CACHES = LOCAL_MEMORY
    AccountFactory()
    with pytest.raises(ImproperlyConfigured, match="CELERY_BROKER_URL needs REDIS_URL"):
        collect_in_background(options=RunOptions())
    staff = APIClient()
    staff.force_authenticate(django_user_model.objects.create_user("staff", is_staff=True))
    response = staff.post("/api/run-scraper", {}, format="json")
    assert response.status_code == 503
    assert "CELERY_BROKER_URL needs REDIS_URL" in response.json()["error"]["message"]
    assert not queued
    assert not CollectionRun.objects.exists()
    assert lock_is_free()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_carries_out_the_run(settings):
    broker = BROKER
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

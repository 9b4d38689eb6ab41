"""The daily collection: a django-celery-beat periodic task made by migration, edited in the admin,
sent by Celery beat, carried out by a worker; the API and the overview show its next and last run."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from rest_framework.test import APIClient

from scraping import tasks
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, run_start
from scraping.schedule import DAILY_TASK, TASK, parse_collect_at
from scraping.selectors import daily_schedule
from snapshots.models import Snapshot
from socialmetrics.dates import local_today
from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parents[2]
BROKER = "redis://127.0.0.1:6379/13"
migration = importlib.import_module("scraping.migrations.0003_daily_schedule")


@pytest.fixture
def daily_task(db, settings):
    """The periodic task as migrating makes it (a transactional test elsewhere may have emptied it)."""
    PeriodicTask.objects.filter(name=DAILY_TASK).delete()
    migration.create_daily_task(django_apps, None)
    return PeriodicTask.objects.get(name=DAILY_TASK)


def test_migrating_makes_the_daily_task_once_and_keeps_admin_changes(daily_task, settings):
    assert daily_task.task == TASK
    assert daily_task.enabled
    assert json.loads(daily_task.kwargs) == {"mode": "real"}
    assert (daily_task.crontab.hour, daily_task.crontab.minute) == ("6", "0")
    assert str(daily_task.crontab.timezone) == settings.SOCIALMETRICS_TIME_ZONE
    daily_task.kwargs = json.dumps({"mode": "simulated"})  # as edited in the admin
    daily_task.save()
    migration.create_daily_task(django_apps, None)
    assert PeriodicTask.objects.filter(name=DAILY_TASK).count() == 1
    assert json.loads(PeriodicTask.objects.get(name=DAILY_TASK).kwargs) == {"mode": "simulated"}


@pytest.mark.parametrize("text", ["6", "25:00", "six", "06:60", ""])
def test_a_wrong_collect_at_names_the_setting(text):
    with pytest.raises(ValueError, match="SOCIALMETRICS_COLLECT_AT"):
        parse_collect_at(text)


def _crontab(daily_task, *, hour: str, minute: str, zone: str) -> None:
    daily_task.crontab = CrontabSchedule.objects.create(hour=hour, minute=minute, timezone=zone)
    daily_task.save()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Berlin is UTC+1 in winter: 06:30 there is 05:30 UTC.
        (dt.datetime(2026, 12, 3, 5, 0, tzinfo=dt.UTC), dt.datetime(2026, 12, 3, 5, 30, tzinfo=dt.UTC)),
        (dt.datetime(2026, 12, 3, 5, 30, tzinfo=dt.UTC), dt.datetime(2026, 12, 4, 5, 30, tzinfo=dt.UTC)),
        # Across the spring clock change (29 March 2026): 06:30 CEST is 04:30 UTC.
        (dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC), dt.datetime(2026, 3, 29, 4, 30, tzinfo=dt.UTC)),
    ],
)
def test_the_next_run_is_the_next_moment_in_the_schedules_time_zone(daily_task, now, expected):
    _crontab(daily_task, hour="6", minute="30", zone="Europe/Berlin")
    schedule = daily_schedule(now=now)
    assert schedule.enabled
    assert schedule.description == "every day at 06:30 (Europe/Berlin)"
    assert schedule.next_run_at == expected


def test_switched_off_or_missing_there_is_no_next_run(daily_task):
    daily_task.enabled = False
    daily_task.save()
    assert daily_schedule().next_run_at is None
    assert daily_schedule().description.endswith("switched off")
    daily_task.delete()
    assert daily_schedule().enabled is False
    assert "no daily schedule" in daily_schedule().description


def test_the_scheduled_task_collects_every_active_account_today(daily_task):
    AccountFactory.create_batch(3)
    AccountFactory(is_active=False)
    result = tasks.collect_scheduled(mode="simulated")
    run = CollectionRun.objects.get()
    assert result == {"run_id": run.pk, "status": "completed", "succeeded": 3}
    assert run.mode == "simulated"
    assert Snapshot.objects.filter(date=local_today()).count() == 3
    assert tasks.collect_scheduled.acks_late
    assert tasks.collect_scheduled.reject_on_worker_lost
    # The last run that ended is what the schedule shows.
    assert daily_schedule().last_run == run


def test_a_scheduled_run_leaves_a_running_one_alone(daily_task):
    AccountFactory()
    run, held = run_start(options=RunOptions())
    try:
        result = tasks.collect_scheduled(mode="simulated")
    finally:
        held.release()
    assert result == {"status": "not started", "reason": f"run {run.pk} is collecting"}
    assert CollectionRun.objects.count() == 1


def test_an_unknown_mode_is_refused_with_the_reason(daily_task):
    assert tasks.collect_scheduled(mode="fast") == {"status": "not started", "reason": "unknown mode 'fast'"}
    assert not CollectionRun.objects.exists()


def test_the_api_shows_the_schedule_the_next_and_the_last_run(daily_task):
    AccountFactory()
    tasks.collect_scheduled(mode="simulated")
    body = APIClient().get("/api/schedule").json()
    assert body["enabled"] is True
    assert body["description"] == f"every day at 06:00 ({daily_task.crontab.timezone})"
    assert dt.datetime.fromisoformat(body["next_run_at"]) > dt.datetime.now(dt.UTC)
    assert body["last_run"]["status"] == "completed"
    assert body["last_run"]["succeeded"] == 1


def test_staff_edit_the_schedule_in_the_admin(daily_task, admin_client):
    listing = admin_client.get("/admin/django_celery_beat/periodictask/")
    assert listing.status_code == 200
    assert DAILY_TASK in listing.content.decode()
    page = admin_client.get(f"/admin/django_celery_beat/periodictask/{daily_task.pk}/change/")
    assert page.status_code == 200


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_celery_beat_sends_the_daily_task_and_a_worker_collects(settings):
    """Real processes: a worker with beat embedded (-B), the database scheduler reading the periodic
    task, the Redis broker. The task is set to every second here so the test need not wait a day."""
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    AccountFactory.create_batch(2)
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name=DAILY_TASK).delete()
    PeriodicTask.objects.create(name=DAILY_TASK, task=TASK, interval=every, kwargs='{"mode": "simulated"}')
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": BROKER,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "socialmetrics", "worker", "-B", "--pool", "solo",
         "--loglevel", "INFO", "--schedule", str(ROOT / ".pytest-beat-schedule")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if CollectionRun.objects.filter(status=RunStatus.COMPLETED).exists():
                break
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(0.3)
        PeriodicTask.objects.filter(name=DAILY_TASK).update(enabled=False)
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        redis.Redis.from_url(BROKER).flushdb()
    completed = CollectionRun.objects.filter(status=RunStatus.COMPLETED)
    assert completed.exists(), output
    assert completed.first().mode == "simulated"
    # However often beat sent it, each account has one snapshot today.
    assert Snapshot.objects.filter(date=local_today()).count() == 2
    assert "Scheduler: Sending due task Daily collection (scraping.collect_scheduled)" in output

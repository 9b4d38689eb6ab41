"""Runs whose process is gone are ended by whoever looks next (a run's start, the job status, the
admin), and their locks freed, never a newer run's."""

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from scraping import services
from scraping.locks import run_lock
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect, run_start
from tests.factories import AccountFactory
from tests.scraping.runs import lock_is_free

pytestmark = pytest.mark.django_db
LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def ago(seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=seconds)


def dead_run(**fields) -> CollectionRun:
    """A run whose process stopped beating a minute ago (the default stale time is 30 s)."""
    return CollectionRun.objects.create(
        **{"status": RunStatus.RUNNING, "started_at": ago(300), "heartbeat_at": ago(60), **fields}
    )


def test_a_silent_run_is_interrupted_and_a_queue_no_worker_emptied_fails():
    silent = dead_run(accounts_total=10, accounts_succeeded=4)
    never_beat = dead_run(heartbeat_at=None)
    unclaimed = CollectionRun.objects.create(status=RunStatus.PENDING, started_at=ago(601))
    alive = dead_run(heartbeat_at=ago(5))
    waiting = CollectionRun.objects.create(status=RunStatus.PENDING, started_at=ago(500))
    ended = dead_run(status=RunStatus.COMPLETED)

    assert sorted(services.runs_reap_stale()) == sorted([silent.pk, never_beat.pk, unclaimed.pk])
    assert services.runs_reap_stale() == []  # each is ended once

    silent.refresh_from_db()
    assert silent.status == RunStatus.INTERRUPTED
    assert silent.finished_at == silent.heartbeat_at
    assert silent.duration_seconds == pytest.approx(240, abs=0.01)
    assert silent.message == (
        f"its process stopped sending heartbeats at {silent.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC; "
        "what was written is kept"
    )
    assert silent.accounts_succeeded == 4
    never_beat.refresh_from_db()
    assert never_beat.status == RunStatus.INTERRUPTED
    unclaimed.refresh_from_db()
    assert unclaimed.status == RunStatus.FAILED
    assert unclaimed.message == "no worker picked it up within 600 s"
    for run in (alive, waiting, ended):
        status = run.status
        run.refresh_from_db()
        assert run.status == status


@pytest.mark.parametrize(
    "installation",
    [
        pytest.param("advisory", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ],
)
def test_a_dead_runs_lock_is_freed_under_its_token_only(settings, installation):
    """A run found dead whose lock is still held under its token (Redis: until it would expire; an
    advisory lock: the session of a process that stopped without dying) is freed. A newer run's lock
    is not: the dead run's token no longer holds it. (A file lock ends with its process, always.)"""
    if installation == "advisory":
        settings.CACHES = LOCAL_MEMORY
    lock = run_lock(timeout=30)
    lock.acquire()
    try:
        stopped = dead_run(lock_token=lock.token)
        old = dead_run(lock_token="a-token-long-gone")
        newer, newer_lock = run_start(options=RunOptions())  # ends both first, and frees the first's lock
        try:
            assert not lock_is_free()
            assert services.runs_reap_stale() == []
            assert not lock_is_free()  # the newer run's lock stays
        finally:
            newer_lock.release()
    finally:
        lock.release()
    assert set(CollectionRun.objects.filter(status=RunStatus.INTERRUPTED).values_list("pk", flat=True)) == {
        stopped.pk,
        old.pk,
    }
    assert CollectionRun.objects.get(pk=newer.pk).status == RunStatus.RUNNING


def test_the_job_status_of_a_dead_run_says_interrupted_without_an_eta():
    run = dead_run(accounts_total=10, accounts_succeeded=4)
    body = APIClient().get(f"/api/job-status/{run.pk}").json()
    assert body["status"] == "interrupted"
    assert body["eta"] is None
    assert body["message"].startswith("its process stopped sending heartbeats at ")
    assert body["rate"] == pytest.approx(4 / 240, abs=0.1)


def test_the_admins_run_pages_show_a_dead_run_as_ended(admin_client):
    listed = dead_run()
    assert admin_client.get(reverse("admin:scraping_collectionrun_changelist")).status_code == 200
    listed.refresh_from_db()
    assert listed.status == RunStatus.INTERRUPTED
    opened = dead_run(lock_token="0123456789abcdef")
    response = admin_client.get(reverse("admin:scraping_collectionrun_change", args=[opened.pk]))
    assert response.status_code == 200
    opened.refresh_from_db()
    assert opened.status == RunStatus.INTERRUPTED
    assert b"stopped sending heartbeats" in response.content
    assert b"0123456789abcdef" not in response.content  # the lock's token is not shown


def test_a_start_ends_dead_runs_first_and_a_refused_start_records_nothing():
    AccountFactory.create_batch(2)
    dead = dead_run()
    holder, lock = run_start(options=RunOptions())
    try:
        dead.refresh_from_db()
        assert dead.status == RunStatus.INTERRUPTED
        with pytest.raises(services.locks.LockHeld) as refused:
            run_start(options=RunOptions())
        assert refused.value.run_id == holder.pk
        assert CollectionRun.objects.count() == 2  # the dead run and the holder: no failed record
    finally:
        lock.release()
    assert collect(options=RunOptions()).status == RunStatus.COMPLETED


def test_timing_that_would_let_a_live_run_count_as_stopped_is_refused(settings):
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = settings.SOCIALMETRICS_RUN_HEARTBEAT_SECONDS
    with pytest.raises(ImproperlyConfigured, match="SOCIALMETRICS_RUN_STALE_SECONDS must be longer"):
        run_start(options=RunOptions())
    assert not CollectionRun.objects.exists()

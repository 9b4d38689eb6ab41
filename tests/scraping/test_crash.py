"""A run whose process is killed (SIGKILL: nothing of it runs again) is ended as interrupted by
whoever looks next, and the next run starts at once: on SQLite (a file lock), on PostgreSQL without
Redis (an advisory lock) and with Redis (redis-py's lock, freed under the dead run's token)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect
from tests.factories import AccountFactory
from tests.scraping.runs import process_env

pytestmark = pytest.mark.django_db(transaction=True)  # the killed process must see the accounts
ROOT = Path(__file__).resolve().parent.parent.parent
LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
ACCOUNTS = 200  # 10 s of the slow run: it is always killed mid-run


@pytest.fixture(
    params=[
        pytest.param("file", id="sqlite"),
        pytest.param("advisory", marks=pytest.mark.postgres, id="postgresql-without-redis"),
        pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    ]
)
def installation(request, settings) -> dict[str, str]:
    """This process as the installation's next looker (a heartbeat of 0.2 s, stale after 0.6 s), and
    the environment of the process to kill."""
    if request.param == "file" and connection.vendor != "sqlite":
        pytest.skip("the file lock is the SQLite installation's; this pass runs on PostgreSQL")
    settings.SOCIALMETRICS_RUN_HEARTBEAT_SECONDS = 0.2
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = 0.6
    if request.param == "redis":
        # The killed run's Redis lock would live 30 s: only freeing it lets the next run start at once.
        return process_env(SOCIALMETRICS_RUN_HEARTBEAT_SECONDS="0.2", SOCIALMETRICS_RUN_STALE_SECONDS="30")
    settings.CACHES = LOCAL_MEMORY
    return process_env(REDIS_URL="", SOCIALMETRICS_RUN_HEARTBEAT_SECONDS="0.2")


def kill_mid_run(env: dict[str, str]) -> CollectionRun:
    """Start the slow run in a process of its own; SIGKILL it once it has written batches and beaten."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.scraping.slow_run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            run = CollectionRun.objects.filter(status=RunStatus.RUNNING, accounts_succeeded__gt=0).first()
            if run and (run.heartbeat_at - run.started_at).total_seconds() > 0.3:  # beaten since it began
                assert APIClient().get(f"/api/job-status/{run.pk}").json()["status"] == "running"
                return run
            time.sleep(0.05)
        raise AssertionError(f"the slow run never got going: {process.communicate(timeout=10)[0]}")
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("looker", ["job-status", "next-run"])
def test_a_killed_run_is_ended_by_the_next_look_and_the_next_run_starts_at_once(installation, looker):
    AccountFactory.create_batch(ACCOUNTS)
    killed = kill_mid_run(installation)
    time.sleep(0.7)  # the killed run's heartbeat is now older than SOCIALMETRICS_RUN_STALE_SECONDS

    if looker == "job-status":
        body = APIClient().get(f"/api/job-status/{killed.pk}").json()
        assert body["status"] == "interrupted"
        assert body["eta"] is None
        assert body["message"].startswith("its process stopped sending heartbeats at ")
    after = collect(options=RunOptions())  # no LockHeld: the dead run's lock is free
    assert after.status == RunStatus.COMPLETED
    assert after.accounts_succeeded == ACCOUNTS

    killed.refresh_from_db()
    assert killed.status == RunStatus.INTERRUPTED
    assert killed.message == (
        f"its process stopped sending heartbeats at {killed.finished_at:%Y-%m-%d %H:%M:%S} UTC; "
        "what was written is kept"
    )
    assert killed.finished_at == killed.heartbeat_at  # its last sign of life
    assert 0 < killed.outcomes.count() < ACCOUNTS
    assert CollectionRun.objects.count() == 2

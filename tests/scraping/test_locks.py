"""The collection lock: redis-py's Lock under the installation's prefix, a PostgreSQL advisory lock,
or flock beside the SQLite database; renewed by the run's heartbeat. A run that cannot prove it
holds its lock stops writing and ends interrupted, saying why."""

import os

import pytest
import redis
from django.db import connection

from scraping import runner
from scraping.locks import AdvisoryRunLock, FileRunLock, LockHeld, RedisRunLock, free, run_lock
from scraping.models import CollectionRun, RunStatus
from scraping.runner import LockLost, RunOptions, collect
from snapshots.models import Snapshot
from socialmetrics import redis_policy
from tests.factories import AccountFactory
from tests.scraping.runs import factory_with, lock_is_free

LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
KEY = "lock:collect_metrics"


@pytest.fixture(
    params=[
        pytest.param("file", id="file"),
        pytest.param("advisory", marks=pytest.mark.postgres, id="advisory"),
        pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    ]
)
def make_lock(request, settings, tmp_path):
    """Makes locks of one kind; the installation is set up to use that kind (`run_lock`, `free`)."""
    if request.param == "redis":
        return lambda **kwargs: RedisRunLock(timeout=30, **kwargs)
    settings.CACHES = LOCAL_MEMORY
    if request.param == "advisory":
        return lambda **kwargs: AdvisoryRunLock(**kwargs)
    return lambda **kwargs: FileRunLock(path=tmp_path / "collect.lock", **kwargs)


@pytest.mark.django_db
def test_one_holder_at_a_time_and_the_refused_learn_whose_it_is(make_lock):
    first, second = make_lock(), make_lock()
    first.acquire()
    try:
        with pytest.raises(LockHeld) as refused:
            second.acquire()
        assert refused.value.token == first.token
        assert first.renew()
    finally:
        first.release()
    assert not first.renew()  # given back
    second.acquire()
    second.release()
    second.release()  # twice: nothing happens


@pytest.mark.django_db
@pytest.mark.parametrize(
    "make_lock",
    [
        pytest.param("advisory", marks=pytest.mark.postgres, id="advisory"),
        pytest.param("redis", marks=pytest.mark.redis, id="redis"),
    ],
    indirect=True,
)
def test_a_lock_is_freed_only_under_its_holders_token(make_lock):
    holder = make_lock()
    holder.acquire()
    try:
        free(token="another-runs-token")
        assert holder.renew()
        free(token=holder.token)
        assert not holder.renew()  # Redis: the key is gone; PostgreSQL: the holder's session ended
        assert lock_is_free()
    finally:
        holder.release()


@pytest.mark.redis
@pytest.mark.django_db
def test_the_redis_lock_key_carries_the_installations_prefix(settings, redis_client):
    """Two installations (CACHE_KEY_PREFIX one and two) on one Redis database: two independent locks."""
    base = settings.CACHES["default"]
    settings.CACHES = {"default": {**base, "KEY_PREFIX": "one"}}
    one = run_lock(timeout=30)
    one.acquire()
    settings.CACHES = {"default": {**base, "KEY_PREFIX": "two"}}
    two = run_lock(timeout=30)
    two.acquire()  # the other installation's run does not hold this one's lock
    assert sorted(redis_client.keys(f"*{KEY}")) == [f"one:1:{KEY}".encode(), f"two:1:{KEY}".encode()]
    assert redis_client.get(f"two:1:{KEY}") == two.token.encode()
    assert not lock_is_free()
    two.release()
    assert lock_is_free()
    settings.CACHES = {"default": {**base, "KEY_PREFIX": "one"}}
    assert not lock_is_free()
    one.release()
    assert redis_client.keys(f"*{KEY}") == []


def take_away(how: str, run: CollectionRun) -> None:
    """What can happen to a running run's lock behind its back."""
    if how == "redis-deleted":
        redis_policy.client().delete(redis_policy.key(KEY))
    elif how == "redis-stolen":
        redis_policy.client().set(redis_policy.key(KEY), "another-runs-token")
    elif how == "advisory-session-ended":
        free(token=run.lock_token)  # as for a run found stale: its lock's session is ended
    else:  # the lock file replaced: its flock no longer locks the file runs open
        path = f"{connection.settings_dict['NAME']}.collect_metrics.lock"
        with open(f"{path}.new", "w") as replacement:
            replacement.write("")
        os.replace(f"{path}.new", path)


@pytest.mark.django_db(transaction=True)  # the heartbeat thread writes the run's record
@pytest.mark.parametrize(
    "how",
    [
        pytest.param("redis-deleted", marks=pytest.mark.redis),
        pytest.param("redis-stolen", marks=pytest.mark.redis),
        pytest.param("advisory-session-ended", marks=pytest.mark.postgres),
        "file-replaced",
    ],
)
def test_a_run_that_loses_its_lock_stops_writing_and_ends_interrupted(how, settings, monkeypatch, log):
    if how == "file-replaced" and connection.vendor != "sqlite":
        pytest.skip("the file lock is the SQLite installation's; this pass runs on PostgreSQL")
    if not how.startswith("redis"):
        settings.CACHES = LOCAL_MEMORY
    settings.SOCIALMETRICS_RUN_HEARTBEAT_SECONDS = 0.05
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = 10  # only the renewal's answer can stop this run
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 1)
    AccountFactory.create_batch(40)
    taken = []

    def behind_its_back(progress):
        if not taken:
            taken.append(progress.done)
            take_away(how, CollectionRun.objects.get(status=RunStatus.RUNNING))

    run = collect(
        options=RunOptions(workers=1),
        on_progress=behind_its_back,
        collector_factory=factory_with(log, delay=0.05),
    )
    assert run.status == RunStatus.INTERRUPTED
    assert run.message == (
        "stopped writing: it lost its collection lock (expired, or freed as stale); "
        "what was written before is kept"
    )
    assert run.finished_at is not None
    written = run.outcomes.count()
    assert taken
    assert written < 40  # it stopped: the rest was neither collected nor written
    assert Snapshot.objects.count() == written
    if how == "redis-stolen":  # whoever holds it now keeps it
        assert redis_policy.client().get(redis_policy.key(KEY)) == b"another-runs-token"
    else:
        assert lock_is_free()


@pytest.mark.django_db(transaction=True)
def test_a_run_that_cannot_renew_its_lock_stops_before_the_lock_could_expire(settings, monkeypatch, log):
    """Its store does not answer (Redis down, say): with no renewal for the lock's timeout less one
    heartbeat, the run stops writing, before another run could take the expired lock."""
    settings.SOCIALMETRICS_RUN_HEARTBEAT_SECONDS = 0.05
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = 0.2
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 1)

    def unanswered(lock):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(type(run_lock(timeout=1)), "renew", unanswered)
    AccountFactory.create_batch(40)
    run = collect(options=RunOptions(workers=1), collector_factory=factory_with(log, delay=0.05))
    assert run.status == RunStatus.INTERRUPTED
    assert run.message == (
        "stopped writing: could not renew its collection lock for 0.15 s "
        "(ConnectionError: Connection refused); what was written before is kept"
    )
    assert run.outcomes.count() < 40


@pytest.mark.django_db
def test_the_check_before_each_batch_asks_no_store(monkeypatch, log):
    """Renewals come from the heartbeat thread, every SOCIALMETRICS_RUN_HEARTBEAT_SECONDS (10): a
    run of 30 batches renews nothing, whatever its speed."""
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 1)
    renewals = []
    monkeypatch.setattr(type(run_lock(timeout=1)), "renew", lambda lock: renewals.append(lock) or True)
    AccountFactory.create_batch(30)
    run = collect(options=RunOptions(workers=1), collector_factory=factory_with(log))
    assert run.status == RunStatus.COMPLETED
    assert run.outcomes.count() == 30
    assert renewals == []


def test_a_lost_lock_says_why_in_the_runs_words():
    assert str(LockLost("its record was ended by another process")) == (
        "stopped writing: its record was ended by another process; what was written before is kept"
    )

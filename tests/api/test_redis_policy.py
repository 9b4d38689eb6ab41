"""One Redis policy: every key carries the installation's prefix, reads stay fresh across a Redis
restart from saved data, and a cached read costs one round trip (a health check none)."""

from __future__ import annotations

import copy
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from rest_framework.test import APIClient

from scraping.ratelimit import RedisRateLimiter
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics import cache as read_cache
from socialmetrics import redis_policy
from tests.api.conftest import account, history

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def _caches(*, location: str, prefix: str) -> dict:
    caches_setting = copy.deepcopy(settings.CACHES)
    caches_setting["default"]["LOCATION"] = location
    caches_setting["default"]["KEY_PREFIX"] = prefix
    return caches_setting


def _write_followers(account_id: int, day, followers: int) -> None:
    snapshot_upsert_many(
        rows=[SnapshotRow(account_id, day, followers, None, None, None, None, None, None, "manual", "exact")]
    )


def _followers(client: APIClient) -> tuple[int, str]:
    response = client.get("/api/history/x/nasa")
    return response.json()["followers"][-1], response["X-Cache"]


def test_two_installations_on_one_redis_database_never_see_each_others_keys(settings, today):
    url = settings.CACHES["default"]["LOCATION"]
    test_prefix = settings.CACHES["default"]["KEY_PREFIX"]
    server = redis.Redis.from_url(url)
    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    api = APIClient()

    for prefix in ("inst-a", "inst-b"):
        settings.CACHES = _caches(location=url, prefix=prefix)
        assert _followers(api) == (110, "MISS")
        assert _followers(api) == (110, "HIT")
        # A budget of one request: the second installation's would wait if they shared it.
        limiter = RedisRateLimiter(
            redis_policy.client(), prefix=redis_policy.key("ratelimit"), limits={"x": (1, 60)}
        )
        limiter.acquire("x", max_wait=0)

    # Each installation keeps its own budget and its own entries; a bump in one leaves the other's.
    settings.CACHES = _caches(location=url, prefix="inst-a")
    read_cache.bump([read_cache.history_group(nasa.pk)])
    assert _followers(api)[1] == "MISS"
    settings.CACHES = _caches(location=url, prefix="inst-b")
    assert _followers(api)[1] == "HIT"

    keys = [k.decode() for k in server.scan_iter("*")]
    assert keys
    # The third prefix is the test settings' own, under which the fixtures wrote the history.
    assert {k.split(":")[0] for k in keys} == {"inst-a", "inst-b", test_prefix}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, saving to a data file it reloads when started again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory), "--dbfilename", "dump.rdb"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def save_and_stop(self) -> None:
        redis.Redis(port=self.port).save()
        self.process.terminate()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    settings.CACHES = _caches(location=server.url, prefix="restart")
    settings.REDIS_BACKOFF_SECONDS = 0.2
    yield server
    server.stop()


@pytest.mark.parametrize("writer_remembers", [True, False], ids=["same-process", "other-process"])
def test_a_write_made_while_redis_was_down_is_read_after_it_restarts_from_saved_data(
    private_redis, today, writer_remembers
):
    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    api = APIClient()
    assert _followers(api) == (110, "MISS")
    assert _followers(api) == (110, "HIT")
    private_redis.save_and_stop()  # the data file holds the entry and the tokens it is stamped with

    _write_followers(nasa.pk, today, 555)  # its invalidation cannot reach Redis
    if not writer_remembers:  # as if another process had written: nothing pending here
        read_cache._pending.take()
    assert _followers(api) == (555, "MISS")  # Redis down: from the database

    private_redis.start()  # the old entry and tokens are back
    _assert_fresh_until_cached(api, 555)


def _assert_fresh_until_cached(api: APIClient, followers: int) -> None:
    """Every read gives `followers` (from the database during the back-off, then cached)."""
    states = []
    for _ in range(30):
        value, state = _followers(api)
        assert value == followers
        states.append(state)
        if state == "HIT":
            return
        time.sleep(0.1)
    pytest.fail(f"never cached again: {states}")


def test_a_write_while_redis_does_not_answer_is_read_fresh_once_it_does(private_redis, today):
    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    api = APIClient()
    _followers(api)
    assert _followers(api) == (110, "HIT")
    control = redis.Redis(port=private_redis.port)
    control.client_pause(1500)  # Redis up but not answering: the write's bump times out
    _write_followers(nasa.pk, today, 777)
    time.sleep(1.6)
    _assert_fresh_until_cached(api, 777)


def test_a_bump_that_never_reached_redis_is_sent_with_the_next_read(private_redis, today, monkeypatch):
    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    api = APIClient()
    _followers(api)
    assert _followers(api) == (110, "HIT")

    def lost(self, *args, **kwargs):
        raise redis.ConnectionError("the bump was lost on the way")

    with monkeypatch.context() as patched:
        patched.setattr(redis.Redis, "mset", lost)
        _write_followers(nasa.pk, today, 777)  # every bump of this write fails
    assert read_cache._pending.groups  # kept to be sent again
    assert _followers(api) == (777, "MISS")  # sent ahead of this read's look-up, in its round trip
    assert not read_cache._pending.groups
    assert _followers(api) == (777, "HIT")


def _round_trips(monkeypatch) -> list[bytes]:
    sent: list[bytes] = []
    original = redis_policy.Connection.send_packed_command

    def counted(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis_policy.Connection, "send_packed_command", counted)
    return sent


def test_a_cached_read_is_one_round_trip_and_a_health_check_none(monkeypatch, today, django_user_model):
    nasa = account("nasa")
    history(nasa, days=2, end=today)
    api = APIClient()
    staff = APIClient()
    staff.force_login(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    for client in (api, staff):
        for path in ("/api/summary", "/api/grid", "/api/history/x/nasa", "/api/accounts"):
            client.get(path)
    sent = _round_trips(monkeypatch)
    for client in (api, staff):
        for path in ("/api/summary", "/api/grid", "/api/history/x/nasa", "/api/accounts"):
            sent.clear()
            assert client.get(path)["X-Cache"] == "HIT", path
            assert len(sent) == 1, path
    sent.clear()
    assert api.get("/health/live").status_code == 200
    assert sent == []


def test_redis_down_is_backed_off_and_served_from_the_database(settings, today, monkeypatch):
    from tests.caches import DEAD_REDIS

    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    settings.CACHES = DEAD_REDIS
    settings.REDIS_BACKOFF_SECONDS = 60
    before = redis_policy.failures()
    api = APIClient()
    connects: list[int] = []
    original = redis.connection.Connection.connect_check_health

    def counted(self, *args, **kwargs):
        connects.append(self.port)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "connect_check_health", counted)
    for _ in range(5):
        assert _followers(api) == (110, "MISS")
    assert redis_policy.failures() == before + 1  # tried once, then left alone
    assert connects.count(1) == 1  # the dead server's port
    assert not redis_policy.available()
    assert caches["default"].get("anything") is None

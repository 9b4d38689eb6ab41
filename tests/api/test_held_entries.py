"""Large entries held by the process (`HeldEntries`): a hit of a held entry reads only the generation
tokens from Redis and answers the same bytes and headers; a write anywhere (here, by another process
or straight into Redis) is read at once; the copy lives no longer than Redis keeps the original; the
memo is bounded; and with Redis down nothing held is served and nothing fails."""

from __future__ import annotations

import json
import types

import pytest
from django.core.cache import caches

from accounts.models import Account, Organization
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.api import response_cache
from socialmetrics.api.response_cache import HOLD_MAX_BYTES, HOLD_MIN_BYTES, HeldEntries
from tests.api.conftest import account, history
from tests.api.test_cache import followers_in_summary, other_process
from tests.caches import DEAD_REDIS

SUMMARY = "/api/summary"


def entry(size: int, tokens=("t",)) -> tuple:
    return (tokens, 200, "application/json", b"x" * size, True)


@pytest.fixture
def hold(monkeypatch):
    """This process's held entries, fresh: `hold()` holds every entry (the test data's bodies are
    a few hundred bytes), `hold(min_bytes=HOLD_MIN_BYTES)` only the large ones, as in production.
    Calling it again starts another empty memo: what a process that built nothing holds."""

    def fresh(min_bytes: int = 0) -> HeldEntries:
        held = HeldEntries(min_bytes=min_bytes, max_bytes=HOLD_MAX_BYTES)
        monkeypatch.setattr(response_cache, "held_entries", held)
        return held

    return fresh


@pytest.fixture
def trips(monkeypatch):
    """Every round trip to the cache's Redis, as the commands it carried:
    ``[[("MGET", key, ...), ...], ...]`` (not the performance figures' own connection)."""
    import redis.client

    pool = caches["default"].client.get_client(write=True).connection_pool
    seen: list[list[tuple]] = []
    execute_command, execute = redis.client.Redis.execute_command, redis.client.Pipeline.execute

    def one(self, *args, **options):
        if self.connection_pool is pool:
            seen.append([args])
        return execute_command(self, *args, **options)

    def pipelined(self, *args, **kwargs):
        if self.connection_pool is pool:
            seen.append([command for command, _ in self.command_stack])
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Redis, "execute_command", one)
    monkeypatch.setattr(redis.client.Pipeline, "execute", pipelined)
    return seen


def names(trips: list[list[tuple]]) -> list[list[str]]:
    return [[command[0] for command in trip] for trip in trips]


def entries_read(trips: list[list[tuple]]) -> list[str]:
    """Response-cache keys whose value some round trip fetched."""
    return [
        str(key)
        for trip in trips
        for command in trip
        if command[0] in ("GET", "MGET")
        for key in command[1:]
        if ":resp:" in str(key)
    ]


def token_keys(group: str) -> list[bytes]:
    return caches["default"].client.get_client().keys(f"*gen:{group}")


@pytest.fixture
def data(db, today):
    for handle in ("nasa", "esa", "jaxa"):
        history(account(handle), days=3, end=today, followers=100)


def as_served(response) -> tuple:
    """Body and headers, but the timings."""
    return response.content, {k: v for k, v in response.items() if k != "Server-Timing"}


@pytest.mark.redis
@pytest.mark.parametrize("caller", ["api", "user_api"])  # the early answer, and the view's look-up
def test_a_held_entry_is_served_from_the_tokens_alone(request, caller, data, hold, trips):
    client = request.getfixturevalue(caller)
    hold()
    assert client.get(SUMMARY)["X-Cache"] == "MISS"  # built here, so held
    for encoding in ("gzip", ""):
        trips.clear()
        held = client.get(SUMMARY, HTTP_ACCEPT_ENCODING=encoding)
        assert held["X-Cache"] == "HIT"
        assert entries_read(trips) == []
        assert sum("MGET" in n for n in names(trips)) == 1  # the tokens, as every hit reads them

        hold()  # as in a process that holds nothing: read from Redis, and held from then on
        trips.clear()
        from_redis = client.get(SUMMARY, HTTP_ACCEPT_ENCODING=encoding)
        assert len(entries_read(trips)) == 1
        assert as_served(held) == as_served(from_redis)
        trips.clear()
        assert as_served(client.get(SUMMARY, HTTP_ACCEPT_ENCODING=encoding)) == as_served(held)
        assert entries_read(trips) == []


@pytest.mark.redis
def test_an_anonymous_hit_of_a_held_entry_is_one_round_trip(api, data, hold, trips):
    hold()
    api.get(SUMMARY)
    trips.clear()
    assert api.get(SUMMARY)["X-Cache"] == "HIT"
    assert names(trips) == [["INCRBY", "EXPIRE", "MGET"]]


@pytest.mark.redis
def test_a_signed_in_hit_is_one_round_trip_held_or_not(staff_token_api, data, hold, trips):
    hold(min_bytes=HOLD_MIN_BYTES)
    staff_token_api.get("/api/accounts")
    trips.clear()
    assert staff_token_api.get("/api/accounts")["X-Cache"] == "HIT"
    assert names(trips) == [["MGET", "GET", "PTTL"]]  # a small entry: tokens and entry together
    hold()
    staff_token_api.get(SUMMARY)
    trips.clear()
    assert staff_token_api.get(SUMMARY)["X-Cache"] == "HIT"
    assert names(trips) == [["MGET"]]


@pytest.mark.redis
def test_a_write_here_is_read_at_once(api, data, hold, today):
    hold()
    api.get(SUMMARY)
    assert api.get(SUMMARY)["X-Cache"] == "HIT"
    nasa = Account.objects.get(handle="nasa").pk
    snapshot_upsert_many(rows=[SnapshotRow(account_id=nasa, date=today, followers=4242)])
    response = api.get(SUMMARY)
    assert response["X-Cache"] == "MISS"
    assert followers_in_summary(api) == 4242


@pytest.mark.redis
def test_tokens_replaced_in_redis_by_another_process_are_read_at_once(api, data, hold, trips):
    hold()
    api.get(SUMMARY)
    assert api.get(SUMMARY).json()[0]["org_name"] == "Org A"
    Organization.objects.update(name="Renamed")  # no signal, no bump here
    client = caches["default"].client
    client.get_client().mset(dict.fromkeys(token_keys("summary"), client.encode("another-process")))
    trips.clear()
    response = api.get(SUMMARY)
    assert response["X-Cache"] == "MISS"
    assert {row["org_name"] for row in response.json()} == {"Renamed"}
    # The stale copy sends the look-up to Redis for the entry (another process may have rebuilt
    # it), which is stale too: the view builds under the tokens read, and stores the new entry.
    assert names(trips) == [["INCRBY", "EXPIRE", "MGET"], ["GET", "PTTL"], ["SET"]]


@pytest.mark.redis
def test_a_stale_copy_is_dropped_even_when_its_successor_is_not_held(api, data, hold, trips):
    everything = hold()
    api.get(SUMMARY)
    held = hold(min_bytes=everything.size)  # the summary of three accounts is held, of one is not
    api.get(SUMMARY)  # read from Redis, and held
    assert held.size == everything.size
    Account.objects.exclude(handle="nasa").delete()  # a write
    assert api.get(SUMMARY)["X-Cache"] == "MISS"
    assert held.size == 0
    trips.clear()
    assert api.get(SUMMARY)["X-Cache"] == "HIT"
    assert names(trips) == [["INCRBY", "EXPIRE", "MGET", "GET", "PTTL"]]  # no look at an old copy first


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_entry_rebuilt_by_another_process_is_read_from_redis_once(api, today, hold, trips):
    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    hold()
    assert followers_in_summary(api) == 110
    assert api.get(SUMMARY)["X-Cache"] == "HIT"
    other_process(
        f"""
        from django.test import Client
        from snapshots.services import SnapshotRow, snapshot_upsert_many
        from socialmetrics.dates import local_today
        snapshot_upsert_many(rows=[SnapshotRow(account_id={nasa.pk}, date=local_today(), followers=555)])
        assert Client().get("/api/summary")["X-Cache"] == "MISS"
        """
    )
    trips.clear()
    response = api.get(SUMMARY)
    assert response["X-Cache"] == "HIT"  # the other process's entry, not the held one
    assert json.loads(response.content)[0]["followers"] == 555
    assert names(trips) == [["INCRBY", "EXPIRE", "MGET"], ["GET", "PTTL"]]
    trips.clear()
    assert followers_in_summary(api) == 555
    assert entries_read(trips) == []  # held from then on


@pytest.mark.redis
def test_roles_never_share_a_held_entry(api, user_api, staff_api, data, hold):
    hold()
    assert user_api.get(SUMMARY)["X-Cache"] == "MISS"
    assert api.get(SUMMARY)["X-Cache"] == "MISS"
    assert staff_api.get(SUMMARY)["X-Cache"] == "MISS"
    assert user_api.get(SUMMARY)["X-Cache"] == "HIT"


@pytest.mark.redis
def test_small_entries_are_read_from_redis_on_every_hit(api, data, hold, trips):
    held = hold(min_bytes=HOLD_MIN_BYTES)
    for path in ("/api/summary", "/api/grid", "/api/accounts", "/api/history/x/nasa"):
        api.get(path)
        for _ in range(2):
            trips.clear()
            assert api.get(path)["X-Cache"] == "HIT", path
            assert len(entries_read(trips)) == 1, path
    assert held.size == 0


@pytest.mark.redis
def test_a_held_copy_lives_no_longer_than_the_entry_in_redis(api, data, hold, trips, monkeypatch, settings):
    now = [1000.0]
    clock = types.SimpleNamespace(monotonic=lambda: now[0], perf_counter=response_cache.time.perf_counter)
    monkeypatch.setattr(response_cache, "time", clock)
    hold()
    api.get(SUMMARY)  # built here: held for the summary's timeout
    now[0] += settings.SOCIALMETRICS_CACHE_TIMEOUTS["summary"] - 1
    trips.clear()
    api.get(SUMMARY)
    assert entries_read(trips) == []
    now[0] += 2  # Redis has dropped its copy by now (in this clock): read again, and held again
    trips.clear()
    assert api.get(SUMMARY)["X-Cache"] == "HIT"
    assert len(entries_read(trips)) == 1

    (key,) = caches["default"].client.get_client().keys("*resp:summary:*")
    caches["default"].client.get_client().pexpire(key, 50_000)
    hold()  # read from Redis: held for what Redis has left of it
    api.get(SUMMARY)
    now[0] += 49
    trips.clear()
    api.get(SUMMARY)
    assert entries_read(trips) == []
    now[0] += 1
    trips.clear()
    api.get(SUMMARY)
    assert len(entries_read(trips)) == 1


@pytest.mark.redis
def test_with_redis_down_nothing_held_is_served(api, user_api, data, hold, settings):
    from socialmetrics.cache import redis_failures

    held = hold()
    expected = {}
    for client in (api, user_api):  # the early answer, and the view's look-up
        expected[client] = client.get(SUMMARY).json()
        assert client.get(SUMMARY)["X-Cache"] == "HIT"
    held_bytes = held.size
    assert held_bytes > 0
    settings.CACHES = DEAD_REDIS
    before = redis_failures.value
    for client in (api, user_api):
        response = client.get(SUMMARY)
        assert response.status_code == 200
        assert response["X-Cache"] == "MISS"
        assert response.json() == expected[client]
    assert redis_failures.value > before
    assert held.size == held_bytes  # entries built with Redis down are not held


# --- the memo itself ---------------------------------------------------------------------------------


def test_the_byte_bound_evicts_the_least_recently_used():
    held = HeldEntries(min_bytes=10, max_bytes=100)
    for key in "abc":
        held.remember(key, entry(40), deadline=float("inf"))
    assert held.get("a") is None  # 120 bytes: the oldest went
    assert held.size == 80
    assert held.get("b") is not None  # b is now the most recently used
    held.remember("d", entry(40), deadline=float("inf"))
    assert (held.get("b"), held.get("c")) == (entry(40), None)
    assert held.size == 80


def test_only_large_entries_that_fit_are_held_and_a_key_is_held_once():
    held = HeldEntries(min_bytes=10, max_bytes=100)
    held.remember("small", entry(9), deadline=float("inf"))
    held.remember("huge", entry(101), deadline=float("inf"))
    assert held.get("small") is held.get("huge") is None
    held.remember("k", entry(50, tokens=("old",)), deadline=float("inf"))
    held.remember("k", entry(60, tokens=("new",)), deadline=float("inf"))
    assert held.get("k")[0] == ("new",)
    assert held.size == 60


def test_a_copy_past_its_deadline_is_dropped():
    held = HeldEntries(min_bytes=0, max_bytes=100)
    held.remember("k", entry(50), deadline=0.0)  # monotonic time is far past 0
    assert held.get("k") is None
    assert held.size == 0


def test_forgetting_a_stale_copy_keeps_a_newer_one():
    held = HeldEntries(min_bytes=0, max_bytes=100)
    stale, newer = entry(10, tokens=("old",)), entry(10, tokens=("new",))
    held.remember("k", stale, deadline=float("inf"))
    held.remember("k", newer, deadline=float("inf"))  # another thread, meanwhile
    held.forget("k", stale)
    assert held.get("k") is newer
    held.forget("k", newer)
    assert held.get("k") is None
    assert held.size == 0

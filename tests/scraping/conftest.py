"""Fixtures for the collectors: a fake clock, an in-process limiter, a client that only talks to
the local test server, and base-URL settings pointing every platform at pytest-httpserver."""

import os
from collections import Counter
from urllib.parse import urlsplit

import httpx
import pytest

from scraping.collectors.base import DEFAULT_BASE_URLS, AccountRef, get_collector, make_client
from scraping.ratelimit import InProcessRateLimiter

# 2026-06-01T12:00:00Z: a realistic Unix time, so epoch and ISO resets can be told apart.
START = 1_780_315_200.0
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


class FakeTime:
    """A clock that only moves when `sleep` is called; `sleeps` records every positive sleep."""

    def __init__(self, start: float = START):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def limiter(fake_time) -> InProcessRateLimiter:
    """No budgets of our own, so a test sees only what the platform's answers impose."""
    return InProcessRateLimiter(limits={}, max_concurrency={}, clock=fake_time.clock, sleep=fake_time.sleep)


def _local_only(request: httpx.Request) -> None:
    host = urlsplit(str(request.url)).hostname
    if host not in {"localhost", "127.0.0.1", "::1"}:
        raise AssertionError(f"a test tried to reach {host}")


@pytest.fixture
def client():
    client = make_client()
    client.event_hooks["request"].append(_local_only)
    yield client
    client.close()


@pytest.fixture
def api(settings, httpserver):
    """Every platform's base URL (and Mastodon instances) point at the local server."""
    base = httpserver.url_for("").rstrip("/")
    settings.SOCIALMETRICS_API_BASE_URLS = dict.fromkeys(DEFAULT_BASE_URLS, base)
    settings.SOCIALMETRICS_MASTODON_BASE_URL = base
    return httpserver


@pytest.fixture
def make_collector(api, client, limiter, fake_time):
    def make(platform: str, **kwargs):
        options = {"client": client, "limiter": limiter, "clock": fake_time.clock, "sleep": fake_time.sleep}
        return get_collector(platform, **{**options, **kwargs})

    return make


@pytest.fixture
def ref():
    counter = iter(range(1, 10_000))

    def make(platform: str, handle: str, **kwargs) -> AccountRef:
        return AccountRef(id=next(counter), platform=platform, handle=handle, **kwargs)

    return make


def requests_to(httpserver, path: str) -> list:
    return [request for request, _response in httpserver.log if request.path == path]


@pytest.fixture
def redis_url(settings) -> str:
    """settings.REDIS_URL (else the local test database), reachable; with CI or TEST_SERVICES set an
    unreachable Redis fails the test, otherwise it is skipped. (tests/conftest.py applies the same
    rule to every test marked `redis`.)"""
    import redis

    url = getattr(settings, "REDIS_URL", "") or REDIS_TEST_URL
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        message = f"Redis at {url} is unreachable: {exc}"
        if os.environ.get("CI") or os.environ.get("TEST_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def log():
    """What a FakeCollector (tests/scraping/runs.py) saw: batches in order, and the most at once."""
    return {"running": Counter(), "peak": Counter(), "order": []}

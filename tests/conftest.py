"""Shared fixtures and the rules for tests that need real services.

A test marked `redis` needs REDIS_URL, one marked `postgres` needs DATABASE_URL on PostgreSQL;
both are also marked `services`, which the embedded pass of `make test` leaves out. When a service
is asked for (CI, TEST_SERVICES=1) and cannot be reached, the test fails; it is never skipped.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

SERVICES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("TEST_SERVICES") == "1")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("redis") or item.get_closest_marker("postgres"):
            item.add_marker(pytest.mark.services)


def _unavailable(reason: str) -> None:
    if SERVICES_REQUIRED:
        pytest.fail(f"{reason} (services are required in this run)", pytrace=False)
    pytest.skip(f"{reason}; runs in the services pass of `make test` (TEST_SERVICES=1)")


@pytest.fixture(autouse=True)
def _require_services(request):
    if request.node.get_closest_marker("redis"):
        if not settings.REDIS_URL:
            _unavailable("needs Redis: REDIS_URL is not set")
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            pytest.fail(f"Redis at {settings.REDIS_URL} cannot be reached: {exc}", pytrace=False)
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _unavailable("needs PostgreSQL: DATABASE_URL is not a PostgreSQL URL")


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache (the test Redis database, or local memory), and with
    no Redis back-off or pending bump left by an earlier test's failure."""
    from socialmetrics import cache as read_cache
    from socialmetrics import redis_policy

    redis_policy._state.down_until = 0.0
    read_cache._pending.take()
    cache.clear()
    yield
    redis_policy._state.down_until = 0.0
    read_cache._pending.take()
    cache.clear()


@pytest.fixture
def redis_client():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)

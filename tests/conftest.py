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


# --- Callers of the API: anonymous, a signed-in user, staff by session and by token ---------------


@pytest.fixture
def api():
    """An anonymous client."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("reader", "reader@example.org", "pw")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("editor", "editor@example.org", "pw", is_staff=True)


@pytest.fixture
def user_api(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def staff_api(staff):
    """A staff member signed in by session (CSRF is checked only with enforce_csrf_checks)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(staff)
    return client


@pytest.fixture
def staff_token_api(staff):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client

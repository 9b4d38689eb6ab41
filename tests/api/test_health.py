"""/health/live and /health/ready."""

import pytest

from socialmetrics.api import health
from tests.caches import DEAD_REDIS


def test_live_answers_without_the_database(client, django_assert_num_queries):
    for path in ("/health/live", "/health/live/"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_when_database_and_cache_answer(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok"},
        "failed": [],
        "degraded": [],
    }


@pytest.mark.django_db
def test_not_ready_names_the_database(client, monkeypatch):
    monkeypatch.setattr(health, "check_database", lambda: "OperationalError: connection refused")
    response = client.get("/health/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["database"]
    assert body["checks"]["cache"] == "ok"
    assert "connection refused" in body["checks"]["database"]


@pytest.mark.django_db
def test_ready_but_degraded_when_only_redis_is_down(client, settings):
    # Reads are still answered from the database: a load balancer must keep the instance.
    settings.CACHES = DEAD_REDIS
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["failed"] == []
    assert body["degraded"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["cache"].startswith("degraded: ")


@pytest.mark.django_db
def test_not_ready_when_the_database_is_down_even_with_the_cache_down(client, settings, monkeypatch):
    settings.CACHES = DEAD_REDIS
    monkeypatch.setattr(health, "check_database", lambda: "OperationalError: connection refused")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["failed"] == ["database"]
    assert response.json()["degraded"] == ["cache"]


def test_live_touches_neither_the_database_nor_redis(client, settings):
    settings.CACHES = DEAD_REDIS  # and no django_db mark: a query would raise
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_the_database_check_reports_a_failing_query(monkeypatch):
    class Broken:
        def cursor(self):
            raise RuntimeError("no database")

    monkeypatch.setattr(health, "connection", Broken())
    assert health.check_database() == "RuntimeError: no database"


def test_health_is_never_throttled_or_restricted(client, settings):
    settings.SOCIALMETRICS_PUBLIC_READ = False
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1/minute"}}
    for _ in range(3):
        assert client.get("/health/live").status_code == 200

"""Live performance figures: middleware, /api/performance, Server-Timing, Redis aggregation."""

import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from scraping.runner import RunOptions, collect
from socialmetrics import metrics
from tests.factories import AccountFactory, SnapshotFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_figures():
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
def staff(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    return client


def test_percentiles_come_from_fixed_buckets():
    hist = {}
    for seconds in [0.001] * 90 + [0.1] * 9 + [2.0]:
        index = metrics.bucket_of(seconds)
        hist[index] = hist.get(index, 0) + 1
    assert metrics.percentile(hist, 100, 0.5) == pytest.approx(0.001, rel=0.13)
    assert metrics.percentile(hist, 100, 0.95) == pytest.approx(0.1, rel=0.13)
    assert metrics.percentile(hist, 100, 0.995) == pytest.approx(2.0, rel=0.13)
    assert metrics.percentile({}, 0, 0.5) is None


@pytest.mark.django_db
def test_requests_are_recorded_per_endpoint_with_errors_and_database_work(staff):
    SnapshotFactory.create_batch(3)
    client = APIClient()
    for _ in range(3):
        assert client.get("/api/summary").status_code == 200
    assert client.get("/api/grid", {"page": "abc"}).status_code == 400
    assert client.get("/api/history/x/nobody").status_code == 404
    report = staff.get("/api/performance").json()
    summary = report["api"]["api-summary"]
    assert summary["endpoint"] == "api-summary"
    assert summary["count"] == 3
    assert summary["errors"] == 0
    for key in ("avg_time", "min_time", "max_time", "p50_time", "p95_time", "p99_time"):
        assert summary[key] > 0
    assert summary["min_time"] <= summary["avg_time"] <= summary["max_time"]
    assert report["api"]["api-grid"]["errors"] == 1
    assert report["api"]["api-grid"]["client_errors"] == 1
    assert report["api"]["api-history"]["errors"] == 1
    assert report["database"]["total_queries"] > 0
    assert report["database"]["queries_per_request"] > 0
    assert report["cache"]["total_requests"] >= 3
    assert report["since"] > 0


@pytest.mark.django_db
def test_server_timing_shows_database_and_cache_time():
    response = APIClient().get("/api/summary")
    timing = response["Server-Timing"]
    assert "db;" in timing
    assert "cache;dur=" in timing
    assert "total;dur=" in timing


@pytest.mark.django_db
def test_collection_runs_are_counted():
    AccountFactory.create_batch(3)
    collect(options=RunOptions())
    scraper = metrics.report()["scraper"]
    assert scraper["total_executions"] == 1
    assert scraper["success_count"] == 1
    assert scraper["success_rate"] == 1.0
    assert scraper["accounts_per_second"] > 0
    assert scraper["min_time"] == pytest.approx(scraper["avg_time"], rel=1e-4)
    assert scraper["max_time"] == pytest.approx(scraper["avg_time"], rel=1e-4)


@pytest.mark.django_db
def test_only_staff_may_read_unless_made_public(settings, django_user_model):
    anonymous = APIClient()
    assert anonymous.get("/api/performance").status_code in (401, 403)
    settings.SOCIALMETRICS_PUBLIC_PERFORMANCE = True
    assert anonymous.get("/api/performance").status_code == 200
    assert anonymous.delete("/api/performance").status_code in (401, 403)
    settings.SOCIALMETRICS_PUBLIC_READ = False
    assert anonymous.get("/api/performance").status_code in (401, 403)


@pytest.mark.django_db
def test_delete_resets_the_figures(staff):
    APIClient().get("/api/summary")
    assert staff.delete("/api/performance").status_code == 200
    report = staff.get("/api/performance").json()
    assert "api-summary" not in report["api"]


@pytest.mark.redis
@pytest.mark.django_db
def test_figures_are_shared_by_every_process_through_redis(staff, settings):
    code = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'socialmetrics.settings.test')\n"
        "django.setup()\n"
        "from socialmetrics import metrics\n"
        "record = metrics.RequestRecord(endpoint='api-summary', status=200, seconds=0.01)\n"
        "for i in range(5):\n"
        "    metrics.record_request(record)\n"
        "metrics.record_run(seconds=2.0, accounts=100, success=True)\n"
    )
    env = {"REDIS_URL": settings.REDIS_URL, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    APIClient().get("/api/summary")  # and one served by this process
    report = metrics.report()
    assert report["backend"] == "redis"
    assert report["api"]["api-summary"]["count"] == 6
    assert report["scraper"]["total_executions"] == 1
    # A new store (a restarted worker) reads the same figures.
    fresh = metrics.RedisStore(settings.REDIS_URL, metrics.store().prefix)
    assert fresh.raw()["endpoints"]["api-summary"]["count"] == 6


def test_a_dead_redis_costs_nothing_and_is_counted():
    from socialmetrics.cache import redis_failures

    dead = metrics.RedisStore("redis://127.0.0.1:1/0", "sm:perf")
    before = redis_failures.value
    record = metrics.RequestRecord(endpoint="api-summary", status=200, seconds=0.01)
    dead.record_request(record)
    dead.record_request(record)  # backing off: not even tried
    assert redis_failures.value == before + 1

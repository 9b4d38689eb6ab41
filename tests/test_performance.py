"""/api/performance: the Prometheus figures as JSON, its reset, and the Server-Timing header."""

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from rest_framework.test import APIClient

from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, collect
from socialmetrics import metrics
from tests.factories import AccountFactory, SnapshotFactory


@pytest.fixture(autouse=True)
def _fresh_figures(db):
    metrics.reset()
    yield
    metrics.reset()


@pytest.fixture
def staff(django_user_model):
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    return client


def test_percentiles_min_and_max_come_from_the_histogram_buckets():
    histogram = Histogram("t_seconds", "test", buckets=metrics.BUCKETS, registry=CollectorRegistry())

    def timing() -> dict:
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in histogram.collect()[0].samples}
        return metrics.histograms(samples)[""].timing()

    for seconds in [0.0008] * 90 + [0.07] * 9 + [2.0]:
        histogram.observe(seconds)
    figures = timing()
    assert figures["count"] == 100
    assert figures["avg_time"] == pytest.approx((0.0008 * 90 + 0.07 * 9 + 2.0) / 100)
    assert figures["min_time"] == 0.0005  # the lower bound of the lowest bucket used
    assert figures["p50_time"] == 0.001  # upper bounds of the buckets holding them
    assert figures["p95_time"] == 0.1
    assert figures["p99_time"] == 0.1
    assert figures["max_time"] == 2.5
    histogram.observe(60.0)  # slower than the last bound: reported as that bound
    assert timing()["max_time"] == 30.0
    assert metrics.Series().timing()["p50_time"] is None


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
    for key in ("avg_time", "max_time", "p50_time", "p95_time", "p99_time"):
        assert summary[key] > 0
    assert summary["min_time"] >= 0  # a bucket's lower bound: 0 below the first bound (0.5 ms)
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
    assert scraper["error_count"] == 0
    assert scraper["success_rate"] == 1.0
    assert scraper["accounts_per_second"] > 0
    assert scraper["min_time"] <= scraper["avg_time"] <= scraper["max_time"]  # bucket bounds


@pytest.mark.django_db
def test_runs_from_anywhere_count_as_their_records_say():
    """A run recorded by another process (a cron job, a Celery worker) counts like one run here."""
    CollectionRun.objects.create(status=RunStatus.COMPLETED, duration_seconds=40, accounts_succeeded=100)
    CollectionRun.objects.create(status=RunStatus.FAILED, duration_seconds=2, accounts_failed=5)
    CollectionRun.objects.create(status=RunStatus.RUNNING)
    scraper = metrics.report()["scraper"]
    assert scraper["total_executions"] == 2
    assert scraper["success_count"] == 1
    assert scraper["error_count"] == 1
    assert scraper["avg_time"] == 21.0
    assert scraper["min_time"] == 1.0
    assert scraper["max_time"] == 60.0
    assert scraper["accounts_per_second"] == 2.5


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
def test_delete_resets_the_figures_but_not_the_prometheus_counters(staff):
    SnapshotFactory.create_batch(2)
    APIClient().get("/api/summary")
    APIClient().get("/api/summary")
    CollectionRun.objects.create(status=RunStatus.COMPLETED, duration_seconds=3)
    before = staff.get("/api/performance").json()
    assert before["api"]["api-summary"]["count"] == 2
    assert before["scraper"]["total_executions"] == 1
    counted = REGISTRY.get_sample_value(
        "socialmetrics_http_requests_total", {"endpoint": "api-summary", "status": "2xx"}
    )
    assert staff.delete("/api/performance").status_code == 200
    report = staff.get("/api/performance").json()
    assert "api-summary" not in report["api"]
    assert report["cache"]["total_requests"] == 0
    assert report["scraper"]["total_executions"] == 0
    assert report["since"] > before["since"]
    APIClient().get("/api/summary")
    assert staff.get("/api/performance").json()["api"]["api-summary"]["count"] == 1
    after = REGISTRY.get_sample_value(
        "socialmetrics_http_requests_total", {"endpoint": "api-summary", "status": "2xx"}
    )
    assert after == counted + 1  # the counters themselves never go back


@pytest.mark.django_db
def test_figures_that_went_back_since_the_reset_count_from_zero():
    """Run records deleted after a reset (or a new gunicorn master): that family starts again."""
    run = CollectionRun.objects.create(status=RunStatus.COMPLETED, duration_seconds=3)
    CollectionRun.objects.create(status=RunStatus.COMPLETED, duration_seconds=3)
    metrics.reset()
    run.delete()
    assert metrics.report()["scraper"]["total_executions"] == 1


@pytest.mark.django_db
def test_the_report_keeps_its_shape():
    report = metrics.report()
    assert set(report) == {"api", "cache", "database", "scraper", "since", "backend"}
    assert report["backend"] == "process"
    assert set(report["cache"]) == {
        "total_hits", "total_misses", "total_requests", "hit_rate", "miss_rate", "by_key"
    }  # fmt: skip
    assert set(report["database"]) == {
        "total_queries", "total_time", "avg_time", "max_time", "p95_time", "queries_per_request"
    }  # fmt: skip
    assert set(report["scraper"]) == {
        "total_executions", "success_count", "error_count", "success_rate", "avg_time", "min_time",
        "max_time", "accounts_per_second",
    }  # fmt: skip

"""/metrics: the Prometheus figures, who may read them, multiprocess mode and the gunicorn config."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.cache import cache
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from scraping.runner import RunOptions, collect
from socialmetrics import metrics
from tests.factories import AccountFactory, SnapshotFactory

ROOT = Path(__file__).resolve().parent.parent


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("ops", password="pw", is_staff=True)


@pytest.fixture
def staff(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


def scrape(client: APIClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return response.content.decode()


@pytest.mark.django_db
def test_requests_cache_and_database_work_move_the_counters(staff):
    SnapshotFactory.create_batch(3)
    before = scrape(staff)
    anonymous = APIClient()
    assert anonymous.get("/api/summary").status_code == 200  # a miss
    assert anonymous.get("/api/summary").status_code == 200  # a hit
    assert anonymous.get("/api/grid", {"page": "abc"}).status_code == 400
    after = scrape(staff)

    def moved(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("socialmetrics_http_requests_total", endpoint="api-summary", status="2xx") == 2
    assert moved("socialmetrics_http_requests_total", endpoint="api-grid", status="4xx") == 1
    assert moved("socialmetrics_http_request_duration_seconds_count", endpoint="api-summary") == 2
    assert moved("socialmetrics_http_request_duration_seconds_bucket", endpoint="api-summary", le="+Inf") == 2
    assert moved("socialmetrics_http_request_duration_seconds_sum", endpoint="api-summary") > 0
    assert moved("socialmetrics_cache_hits_total", group="summary") == 1
    assert moved("socialmetrics_cache_misses_total", group="summary") == 1
    # The three reads and the first scrape itself.
    assert moved("socialmetrics_db_request_duration_seconds_count") == 4
    assert moved("socialmetrics_db_request_duration_seconds_sum") > 0
    assert moved("socialmetrics_db_queries_total") > 0


@pytest.mark.django_db
def test_collection_runs_and_accounts_come_from_the_run_records(staff):
    AccountFactory.create_batch(3)
    text = scrape(staff)
    assert sample(text, "socialmetrics_collection_runs_total", status="completed") == 0
    collect(options=RunOptions())
    text = scrape(staff)
    assert sample(text, "socialmetrics_collection_runs_total", status="completed") == 1
    assert sample(text, "socialmetrics_collection_accounts_total", result="succeeded") == 3
    assert sample(text, "socialmetrics_collection_run_duration_seconds_count") == 1
    assert sample(text, "socialmetrics_collection_run_duration_seconds_bucket", le="+Inf") == 1


def test_redis_failures_are_a_counter():
    before = REGISTRY.get_sample_value("socialmetrics_redis_failures_total")
    metrics.note_redis_failure()
    assert REGISTRY.get_sample_value("socialmetrics_redis_failures_total") == before + 1


@pytest.mark.django_db
def test_the_text_format_is_served_uncached_and_openmetrics_on_request(staff):
    response = staff.get("/metrics")
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-store" in response["Cache-Control"]
    assert b"# TYPE socialmetrics_http_requests_total counter" in response.content
    response = staff.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


@pytest.mark.django_db
def test_anonymous_callers_and_non_staff_are_refused_in_json(django_user_model):
    refused = APIClient().get("/metrics", HTTP_ACCEPT="text/plain")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "NOT_AUTHENTICATED"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    reader = APIClient()
    reader.force_login(django_user_model.objects.create_user("reader", password="pw"))
    assert reader.get("/metrics").status_code == 403
    assert reader.get("/metrics").json()["error"]["code"] == "PERMISSION_DENIED"


@pytest.mark.django_db
def test_staff_may_read_by_session_or_api_token(staff, staff_user):
    assert staff.get("/metrics").status_code == 200
    by_token = APIClient()
    by_token.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    assert by_token.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_the_metrics_token_opens_metrics_only_when_set(settings):
    scraper = APIClient()
    scraper.credentials(HTTP_AUTHORIZATION="Bearer s3cret")
    assert scraper.get("/metrics").status_code == 401  # no token configured: it means nothing
    settings.SOCIALMETRICS_METRICS_TOKEN = "s3cret"
    assert scraper.get("/metrics").status_code == 200
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer guess")
    assert wrong.get("/metrics").json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert scraper.get("/api/performance").status_code in (401, 403)  # a metrics token, not a user


@pytest.mark.django_db
def test_public_metrics_are_open_to_everyone(settings):
    settings.SOCIALMETRICS_PUBLIC_METRICS = True
    assert APIClient().get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_are_not_throttled(settings):
    settings.SOCIALMETRICS_PUBLIC_METRICS = True
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "2/minute"}}
    assert [APIClient().get("/metrics").status_code for _ in range(4)] == [200] * 4


@pytest.mark.redis
@pytest.mark.django_db
def test_recording_a_request_sends_no_redis_command(monkeypatch):
    """Counted at the client: the test Redis server is shared with other runs, so its own command
    counters move with their traffic."""
    import redis.connection

    sent: list[bytes] = []
    for name in ("send_packed_command", "connect"):
        original = getattr(redis.connection.AbstractConnection, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            sent.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, name, counted)
    labels = {"endpoint": "health-live", "status": "2xx"}
    before = REGISTRY.get_sample_value("socialmetrics_http_requests_total", labels) or 0
    assert APIClient().get("/health/live").status_code == 200
    assert REGISTRY.get_sample_value("socialmetrics_http_requests_total", labels) == before + 1
    assert sent == []
    cache.get("anything")  # while a cache read is seen
    assert "send_packed_command" in sent


# --- Multiprocess mode ------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"}
    }
    env.update(DJANGO_SETTINGS_MODULE="socialmetrics.settings.test", **extra)
    return env


_SERVE = """
import sys, django
django.setup()
from django.test import Client
client = Client()
for _ in range(int(sys.argv[1])):
    assert client.get("/health/live").status_code == 200
if sys.argv[2] == "show":
    from prometheus_client import generate_latest
    from socialmetrics import metrics
    sys.stdout.write(generate_latest(metrics.registry()).decode())
"""


def test_two_processes_sharing_the_multiprocess_directory_add_up(tmp_path):
    env = _env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    first = subprocess.run(
        [sys.executable, "-c", _SERVE, "3", "quiet"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run(
        [sys.executable, "-c", _SERVE, "2", "show"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert second.returncode == 0, second.stderr
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    text = second.stdout
    assert sample(text, "socialmetrics_http_requests_total", endpoint="health-live", status="2xx") == 5
    assert sample(text, "socialmetrics_http_request_duration_seconds_count", endpoint="health-live") == 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], log: Path):
    port = _free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "socialmetrics.wsgi",
        "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_gunicorn_workers_add_up_in_the_emptied_directory(tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"an earlier server's figures")
    env = _env(
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SOCIALMETRICS_PUBLIC_METRICS="true",
    )
    with _gunicorn(env, tmp_path / "gunicorn.log") as url:
        assert not (directory / "counter_1.db").exists()
        with httpx.Client(headers={"Connection": "close"}) as client:
            before = client.get(f"{url}/metrics").text
            for _ in range(10):
                assert client.get(f"{url}/health/live").status_code == 200
            after = client.get(f"{url}/metrics").text
    # Both workers wrote their files at start; a scrape adds them up, whichever served the requests.
    assert len(list(directory.glob("counter_*.db"))) >= 2
    for name in ("socialmetrics_http_requests_total", "socialmetrics_http_request_duration_seconds_count"):
        moved = sample(after, name, endpoint="health-live") - sample(before, name, endpoint="health-live")
        assert moved == 10, name


def test_gunicorn_makes_a_directory_when_none_is_named_and_removes_it(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = _env(
        TMPDIR=str(temp),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SOCIALMETRICS_PUBLIC_PERFORMANCE="true",
    )
    with _gunicorn(env, tmp_path / "gunicorn.log") as url:
        assert [p.name.startswith("socialmetrics-prometheus-") for p in temp.iterdir()] == [True]
        assert httpx.get(f"{url}/api/performance").json()["backend"] == "multiprocess"
    assert list(temp.iterdir()) == []

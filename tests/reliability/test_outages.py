"""Failing services, with nothing lost.

PostgreSQL: a private server under a real gunicorn is stopped mid-test: every request that needs the
database answers 503 within 2 s (JSON under /api/, a plain page elsewhere), the download before any
byte of CSV, cached reads still 200; started again, the app answers 200 with no restart.
Redis: a private server is stopped: reads stay 200 from the database, /health/ready stays 200
("degraded"); started again, reads are fresh and cached again. The rest needs no server.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import psycopg_pool
import pytest
from django.conf import settings as django_settings
from django.db import InterfaceError, OperationalError, connection, connections
from rest_framework.test import APIClient

from scraping.ratelimit import RedisRateLimiter
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics import db
from socialmetrics.dates import local_today
from tests.api.conftest import account, history
from tests.api.test_redis_policy import PrivateRedis

BASE_DIR = Path(django_settings.BASE_DIR)
WITHIN = 2.0  # seconds: how soon a request must hear that the database is unavailable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrapped(cause: Exception, error: type[Exception] = OperationalError) -> Exception:
    """`cause` as Django raises it: the django.db error with the driver's error as its cause."""
    try:
        raise error(str(cause)) from cause
    except error as exc:
        return exc


# --- Which errors mean "unavailable" ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cause", "unavailable"),
    [
        (psycopg_pool.PoolTimeout("couldn't get a connection after 1.50 sec"), True),
        (psycopg.OperationalError("consuming input failed: server closed the connection"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.TooManyConnections("too many clients already"), True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("no such table: snapshots_snapshot"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_which_database_errors_mean_unavailable(cause, unavailable):
    assert db.unavailable(_wrapped(cause)) is unavailable


def test_a_closed_connection_is_unavailable_and_other_errors_are_not():
    assert db.unavailable(_wrapped(psycopg.InterfaceError("the connection is closed"), InterfaceError))
    assert not db.unavailable(ValueError("not a database error"))


# --- The middleware, on any database ------------------------------------------------------------


def _locked(*args, **kwargs):
    raise _wrapped(sqlite3.OperationalError("database is locked"))


@pytest.mark.django_db
def test_an_unavailable_database_is_a_json_503_under_the_api(client, monkeypatch):
    monkeypatch.setattr("snapshots.api.views.grid_page", _locked)
    client.raise_request_exception = False
    response = client.get("/api/grid")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert "database cannot be reached" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_an_unavailable_database_is_a_plain_503_page(client, monkeypatch):
    monkeypatch.setattr("socialmetrics.pages.PageView.get_context_data", _locked)
    client.raise_request_exception = False
    response = client.get("/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"Service unavailable" in response.content


@pytest.mark.django_db
def test_a_query_error_is_still_a_500(client, monkeypatch):
    def broken(*args, **kwargs):
        raise _wrapped(sqlite3.OperationalError("no such table: snapshots_snapshot"))

    monkeypatch.setattr("snapshots.api.views.grid_page", broken)
    client.raise_request_exception = False
    response = client.get("/api/grid")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "SERVER_ERROR"


@pytest.mark.django_db
def test_a_download_that_cannot_connect_is_a_503_not_a_cut_stream(client, monkeypatch):
    monkeypatch.setattr(connection, "ensure_connection", _locked)
    client.raise_request_exception = False
    response = client.get("/api/download")
    assert response.status_code == 503
    assert not response.streaming
    assert response.json()["error"]["code"] == "DATABASE_UNAVAILABLE"


def test_a_request_s_wait_is_not_inherited_by_background_work():
    seen = []
    with db.request_wait(1.5):
        seen.append(db.current_request_wait())
        worker = threading.Thread(target=lambda: seen.append(db.current_request_wait()))
        worker.start()
        worker.join()
    seen.append(db.current_request_wait())
    assert seen == [1.5, None, None]


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_request_waits_its_own_time_for_a_pooled_connection_and_background_work_the_pool_s(monkeypatch):
    waits = []
    getconn = psycopg_pool.ConnectionPool.getconn

    def recorded(pool, timeout=None):
        waits.append(pool.timeout if timeout is None else timeout)
        return getconn(pool, timeout)

    monkeypatch.setattr(psycopg_pool.ConnectionPool, "getconn", recorded)

    def connect(wait: float | None) -> None:  # in a thread of its own: a connection of its own
        with db.request_wait(wait) if wait is not None else contextlib.nullcontext():
            connections["default"].ensure_connection()
        connections.close_all()

    for wait in (0.75, None):
        worker = threading.Thread(target=connect, args=(wait,))
        worker.start()
        worker.join()
    assert waits == [0.75, django_settings.DATABASES["default"]["OPTIONS"]["pool"]["timeout"]]


# --- The rate limiter without Redis ----------------------------------------------------------------


def test_the_rate_limiter_says_once_that_it_counts_on_its_own_budget(caplog):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(dead, prefix="test:ratelimit", limits={"x": (10, 900)})
    with caplog.at_level(logging.WARNING, logger="scraping.ratelimit"):
        for _ in range(5):
            limiter.acquire("x", max_wait=0)
    assert caplog.text.count("counts requests against its own budget") == 1
    assert caplog.text.count("Redis unavailable") == 1  # the policy's own line, once too


# --- PostgreSQL stopped and started under gunicorn ------------------------------------------------------


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        pytest.fail(f"{name} not found (PostgreSQL's server binaries, /usr/lib/postgresql/*/bin)")
    return found[-1]


class PrivatePostgres:
    """A PostgreSQL server of the test's own (trust authentication, 127.0.0.1, a free port)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = _free_port()
        # initdb refuses to run as root: the server runs as the postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(directory, user="postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        if not self.data.exists():
            initdb = _postgres_bin("initdb")
            self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.directory / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop_if_running(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()


@pytest.fixture
def postgres_app(tmp_path) -> Iterator[tuple[PrivatePostgres, str]]:
    """A migrated private PostgreSQL with a little data, and gunicorn serving the app over it."""
    # Not under tmp_path: its parents are the test user's alone, and the server may run as postgres.
    server = PrivatePostgres(Path(tempfile.mkdtemp(prefix="socialmetrics-outage-")))
    (tmp_path / "prometheus").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": server.url,
        "REDIS_URL": "",  # local-memory cache: only PostgreSQL fails here
        "CELERY_BROKER_URL": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    env.pop("DATABASE_REQUEST_TIMEOUT", None)  # the default is what is tested
    gunicorn = None
    try:
        server.start()
        manage = [sys.executable, str(BASE_DIR / "manage.py")]
        for command in (["migrate", "-v0"], ["seed_demo", "--accounts", "3", "--days", "3", "-v0"]):
            done = subprocess.run([*manage, *command], env=env, cwd=BASE_DIR, capture_output=True, text=True)
            if done.returncode:
                pytest.fail(f"manage.py {command[0]} failed: {done.stderr}")
        port = _free_port()
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "gunicorn.conf.py"),
             "socialmetrics.wsgi", "--workers", "1", "--threads", "4", "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning"],
            env=env, cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or gunicorn.poll() is not None:
                pytest.fail("gunicorn did not start")
            time.sleep(0.1)
        yield server, base
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=10)
        server.stop_if_running()
        shutil.rmtree(server.directory, ignore_errors=True)


def _timed_get(url: str, **kwargs) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30, **kwargs)
    return response, time.monotonic() - started


@pytest.mark.postgres
def test_postgresql_stopped_answers_503_in_time_and_recovers_when_started_again(postgres_app):
    server, base = postgres_app
    assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
    assert httpx.get(f"{base}/api/summary", timeout=10).headers["X-Cache"] == "MISS"
    assert httpx.get(f"{base}/api/summary", timeout=10).headers["X-Cache"] == "HIT"
    download = httpx.get(f"{base}/api/download", timeout=10)
    assert download.status_code == 200
    assert len(download.text.splitlines()) == 1 + 3 * 3  # the header and 3 accounts x 3 days

    server.stop()

    response, seconds = _timed_get(f"{base}/api/grid?per_page=7")  # never read: not cached
    assert response.status_code == 503, response.text
    assert seconds < WITHIN
    assert response.json()["error"]["code"] == "DATABASE_UNAVAILABLE"
    assert response.headers["Retry-After"] == "5"

    response, seconds = _timed_get(f"{base}/health/ready")
    assert response.status_code == 503
    assert seconds < WITHIN
    assert response.json()["failed"] == ["database"]

    response, seconds = _timed_get(f"{base}/api/download")
    assert response.status_code == 503
    assert seconds < WITHIN
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "DATABASE_UNAVAILABLE"  # the whole body, no CSV line

    # A page that needs the database (a session to look up): a plain 503 page.
    response, seconds = _timed_get(f"{base}/", cookies={"sessionid": "x" * 32})
    assert response.status_code == 503
    assert seconds < WITHIN
    assert response.headers["Content-Type"].startswith("text/html")

    # A cached read needs no database.
    assert httpx.get(f"{base}/api/summary", timeout=10).headers["X-Cache"] == "HIT"
    assert httpx.get(f"{base}/health/live", timeout=10).status_code == 200

    server.start()  # same data, same port: no restart of the app

    deadline = time.monotonic() + 15
    while (status := httpx.get(f"{base}/api/grid?per_page=7", timeout=30).status_code) != 200:
        assert status == 503
        assert time.monotonic() < deadline, "the app did not recover from PostgreSQL's restart"
        time.sleep(0.2)
    assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 200
    download = httpx.get(f"{base}/api/download", timeout=10)
    assert download.status_code == 200
    assert len(download.text.splitlines()) == 1 + 3 * 3


# --- Redis stopped and started ------------------------------------------------------------------------


@pytest.fixture
def private_redis(tmp_path, settings) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = server.url
    caches["default"]["KEY_PREFIX"] = "outage"
    settings.CACHES = caches
    settings.REDIS_BACKOFF_SECONDS = 0.2
    yield server
    server.stop()


def _followers(api: APIClient) -> tuple[int, str]:
    response = api.get("/api/history/x/nasa")
    assert response.status_code == 200
    return response.json()["followers"][-1], response["X-Cache"]


@pytest.mark.redis
@pytest.mark.django_db
def test_redis_stopped_keeps_reads_and_readiness_and_is_fresh_after_restart(private_redis):
    today = local_today()
    nasa = account("nasa")
    history(nasa, days=2, end=today, followers=100)
    api = APIClient()
    assert _followers(api) == (110, "MISS")
    assert _followers(api) == (110, "HIT")

    private_redis.stop()

    assert _followers(api)[0] == 110  # from the database
    snapshot_upsert_many(
        rows=[SnapshotRow(nasa.pk, today, 555, None, None, None, None, None, None, "manual", "exact")]
    )
    assert _followers(api)[0] == 555
    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["degraded"] == ["cache"]
    assert ready.json()["checks"]["cache"].startswith("degraded")
    assert api.get("/health/live").status_code == 200

    private_redis.start()  # a new server: nothing cached before survives, nothing stale is served

    deadline = time.monotonic() + 10
    while (read := _followers(api)) != (555, "HIT"):
        assert read[0] == 555
        assert time.monotonic() < deadline, "never cached again"
        time.sleep(0.1)
    ready = api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"

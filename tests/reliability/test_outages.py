"""Failing services, with nothing lost.

PostgreSQL: a private server under a real gunicorn is stopped mid-test: every request that needs the
database answers 503 within 2 s (JSON under /api/, a plain page elsewhere), the download before any
byte of CSV, cached reads still 200; started again, the app answers 200 with no restart.
PostgreSQL stopped under a collection run (`manage.py collect_metrics`, a private server): the run
stops at once and says why, waits without spinning, and records itself failed with that reason when
the server is back; batches written before are whole; the next run completes the day. An outage
longer than the run waits: it ends with one line, and the next run ends its record and the day.
Redis: a private server is stopped: reads stay 200 from the database, /health/ready stays 200
("degraded"); started again, reads are fresh and cached again. The rest needs no server.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import itertools
import json
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
from tests.reliability.services import Child, PrivatePostgres, free_port, manage

BASE_DIR = Path(django_settings.BASE_DIR)
WITHIN = 2.0  # seconds: how soon a request must hear that the database is unavailable


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
        port = free_port()
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


# --- PostgreSQL stopped during a collection run ------------------------------------------------------

ACCOUNTS = 300


@pytest.fixture(scope="module")
def collection_cluster(tmp_path_factory) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL whose database `outage_template` is migrated and has ACCOUNTS accounts
    and no snapshot (each test runs on a copy of its own)."""
    server = PrivatePostgres(Path(tempfile.mkdtemp(prefix="socialmetrics-collect-outage-")))
    try:
        server.start()
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE outage_template")
        env = _environment(f"{server.url.rsplit('/', 1)[0]}/outage_template", redis=False)
        manage("migrate", "-v0", env=env)
        platforms = ["x", "youtube", "github", "reddit", "linkedin"]
        accounts = tmp_path_factory.mktemp("outage") / "accounts.csv"
        accounts.write_text(
            "Platform,Handle,Organization\n"
            + "".join(f"{platforms[n % 5]},outage{n:04d},Org {n % 7}\n" for n in range(ACCOUNTS))
        )
        manage("import_accounts", str(accounts), env=env)
        yield server
    finally:
        server.stop_if_running()
        shutil.rmtree(server.directory, ignore_errors=True)


def _environment(url: str, *, redis: bool) -> dict[str, str]:
    """A process on the private database `url` (and on the test's Redis, under a prefix of its own)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": url,
        "REDIS_URL": django_settings.REDIS_URL if redis else "",
        "CACHE_KEY_PREFIX": f"{os.environ.get('CACHE_KEY_PREFIX', 'sm-test')}-outage",
        "CELERY_BROKER_URL": "",
        "DATABASE_POOL_TIMEOUT": "2",
        "SOCIALMETRICS_RUN_HEARTBEAT_SECONDS": "0.2",
        "SOCIALMETRICS_RUN_STALE_SECONDS": "1",
    }


_copies = itertools.count()


@pytest.fixture
def collection_database(collection_cluster) -> str:
    """The URL of a fresh copy of the template database."""
    name = f"outage_{next(_copies)}"
    with psycopg.connect(collection_cluster.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} TEMPLATE outage_template")
    return f"{collection_cluster.url.rsplit('/', 1)[0]}/{name}"


def _runs(url: str) -> list[dict]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT id, status, message, accounts_total, accounts_succeeded, accounts_failed, "
            "accounts_skipped, (SELECT count(*) FROM scraping_collectionoutcome o WHERE o.run_id = r.id) "
            "AS outcomes FROM scraping_collectionrun r ORDER BY id"
        ).fetchall()


def _checked(env: dict[str, str], day: dt.date) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.reliability.kill_checks", day.isoformat()],
        env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.postgres
@pytest.mark.parametrize("lock", ["advisory", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_collection_that_loses_postgresql_stops_says_why_and_is_recorded_failed_when_it_is_back(
    collection_cluster, collection_database, lock
):
    server, url = collection_cluster, collection_database
    env = _environment(url, redis=lock == "redis")
    day = local_today()
    run = Child(
        "tests.reliability.kill_collect", "--flush-accounts", "20", "--collect-batch", "10", "--slow", "0.1",
        "--", "--date", day.isoformat(), env=env,
    )  # fmt: skip
    try:
        run.wait_for("RUN ", timeout=30)
        deadline = time.monotonic() + 30
        while not any(r["accounts_succeeded"] >= 40 for r in _runs(url)):
            assert run.process.poll() is None, run.output
            assert time.monotonic() < deadline, run.output
            time.sleep(0.05)

        server.stop()

        said = run.wait_for("the database could not be reached", timeout=20)  # not a hang
        # Stopped, not trying again and again: the process spends (almost) no CPU while it waits.
        cpu = _cpu_seconds(run.process.pid)
        time.sleep(2)
        assert _cpu_seconds(run.process.pid) - cpu < 0.25, run.output
        assert run.process.poll() is None  # it waits to record how the run ended

        server.start()  # same data, same port

        assert run.wait(timeout=60) == 1, run.output
    finally:
        run.kill()
    assert "collect_metrics: the database could not be reached" in run.output, said
    [failed] = _runs(url)
    assert failed["status"] == "failed", failed
    assert failed["message"].startswith("the database could not be reached"), failed
    assert "were written before and are kept" in failed["message"]
    assert 40 <= failed["accounts_succeeded"] < ACCOUNTS
    assert failed["outcomes"] == failed["accounts_succeeded"]  # one writer: counts as committed
    checked = _checked(env, day)
    assert checked["problems"] == []
    assert checked["rows"] == {day.isoformat(): failed["accounts_succeeded"]}  # each batch whole or absent

    manage("collect_metrics", "--date", day.isoformat(), "-v0", env=env)  # the next run completes the day

    assert [r["status"] for r in _runs(url)] == ["failed", "completed"]
    checked = _checked(env, day)
    assert checked["problems"] == []
    assert checked["rows"] == {day.isoformat(): ACCOUNTS}


@pytest.mark.postgres
def test_an_outage_longer_than_the_run_waits_ends_it_with_one_line_and_the_next_run_completes_the_day(
    collection_cluster, collection_database
):
    server, url = collection_cluster, collection_database
    env = _environment(url, redis=False)
    day = local_today()
    run = Child(
        "tests.reliability.kill_collect", "--flush-accounts", "20", "--collect-batch", "10", "--slow", "0.1",
        "--database-wait", "1", "--", "--date", day.isoformat(), env=env,
    )  # fmt: skip
    try:
        run.wait_for("RUN ", timeout=30)
        deadline = time.monotonic() + 30
        while not any(r["accounts_succeeded"] >= 40 for r in _runs(url)):
            assert run.process.poll() is None, run.output
            assert time.monotonic() < deadline, run.output
            time.sleep(0.05)
        server.stop()
        assert run.wait(timeout=30) == 1, run.output
    finally:
        run.kill()
    last = run.lines[-1]
    assert last.startswith("collect_metrics: the database could not be reached ("), run.output
    assert last.endswith(
        "the end of run 1 could not be recorded: it is shown as interrupted once the database is back"
    )
    assert "Traceback" not in run.output

    # A run started while it is still down. (--skip-checks: Django's own system checks, which come
    # first, ask PostgreSQL its version.)
    refused = manage("collect_metrics", "--skip-checks", "--date", day.isoformat(), env=env, check=False)
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith("collect_metrics: the database could not be reached (")
    assert refused.stderr.splitlines()[-1].endswith("; nothing was collected")
    assert "Traceback" not in refused.stderr

    server.start()
    time.sleep(1)  # the dead run's heartbeat is now older than SOCIALMETRICS_RUN_STALE_SECONDS

    manage(
        "collect_metrics", "--date", day.isoformat(), "-v0", env=env
    )  # ends the dead run, completes the day

    dead, after = _runs(url)
    assert dead["status"] == "interrupted"
    assert dead["message"].startswith("its process stopped sending heartbeats at ")
    assert after["status"] == "completed"
    checked = _checked(env, day)
    assert checked["problems"] == []
    assert checked["rows"] == {day.isoformat(): ACCOUNTS}


def test_a_collection_started_while_postgresql_is_down_says_so_in_one_line_and_exits_1(tmp_path):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/socialmetrics",
        "DATABASE_POOL_TIMEOUT": "1",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "collect_metrics", "--mode", "simulated"],
        cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("collect_metrics:")]
    assert said == [
        f"collect_metrics: the database at 127.0.0.1:{port} could not be reached "
        "(couldn't get a connection after 1.00 sec); nothing was collected."
    ], done.stderr

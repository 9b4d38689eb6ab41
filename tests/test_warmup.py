"""socialmetrics.warmup: a serving process's one-time work at its start, which never stops it."""

import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection, connections
from prometheus_client import REGISTRY

from socialmetrics import redis_policy, warmup


@pytest.mark.django_db
def test_every_step_runs_and_is_timed():
    done = warmup.warm_up()
    assert set(done) == {"urls", "lazy parts", "queries", "metrics", "database", "redis"}
    assert all(isinstance(ms, float) and ms >= 0 for ms in done.values()), done


@pytest.mark.django_db(transaction=True)
def test_the_database_connection_goes_back_after_the_warm_up():
    connection.close()
    warmup.warm_up()
    assert connection.connection is None  # returned to the pool (or closed): requests open their own
    pool = getattr(connection, "pool", None)
    if pool is not None:
        assert pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"]


@pytest.mark.django_db(transaction=True)
def test_the_reads_run_once_on_every_connection_the_pool_keeps(monkeypatch):
    backends = []

    def read_queries():
        with connection.cursor() as cursor:  # this thread's connection
            cursor.execute("SELECT 1")
        backends.append(id(connection.connection))

    monkeypatch.setattr(warmup, "_read_queries", read_queries)
    assert warmup.warm_up()["database"] is not None
    pool = getattr(connection, "pool", None)
    assert len(backends) == len(set(backends)) == (pool.get_stats()["pool_size"] if pool is not None else 1)
    assert len(backends) >= (pool.min_size if pool is not None else 1)


@pytest.mark.django_db(transaction=True)
def test_the_reads_queries_run_on_an_empty_database():
    warmup._read_queries()  # no account, no snapshot: nothing to find, nothing fails


@pytest.mark.django_db
def test_a_read_that_fails_leaves_the_others_to_run(monkeypatch):
    from snapshots import selectors

    ran = []

    def broken(**kwargs):
        raise RuntimeError("a read that fails")

    def posts(**kwargs):
        ran.append("posts")
        return selectors.Post.objects.none()

    monkeypatch.setattr(selectors, "grid_page", broken)
    monkeypatch.setattr(selectors, "post_queryset", posts)
    with pytest.raises(RuntimeError, match="a read that fails"):
        warmup._read_queries()
    assert ran == ["posts"]  # the last read, after the one that failed


def test_every_serving_thread_makes_its_handles(monkeypatch):
    threads = set()

    def handles():
        threads.add(threading.get_ident())

    monkeypatch.setattr(warmup, "_thread_handles", handles)
    with ThreadPoolExecutor(max_workers=4) as executor:
        done = warmup.warm_up(executor=executor, threads=4)
        assert done["threads"] is not None
        assert len(threads) == 4
        assert threading.get_ident() not in threads
        # The requests that follow run on those threads, which the pool keeps.
        assert executor.submit(threading.get_ident).result() in threads


def test_the_read_endpoints_series_exist_at_zero():
    warmup.warm_up()
    labels = {"endpoint": "account-list", "status": "2xx"}
    assert REGISTRY.get_sample_value("socialmetrics_http_requests_total", labels) is not None
    assert REGISTRY.get_sample_value("socialmetrics_cache_misses_total", {"group": "history"}) is not None


def _refused(*args, **kwargs):
    raise OperationalError("connection refused")


def test_an_unreachable_database_and_redis_never_stop_a_worker(monkeypatch, caplog):
    monkeypatch.setattr(type(connections["default"]), "ensure_connection", _refused)
    monkeypatch.setattr(redis_policy, "enabled", lambda: True)
    monkeypatch.setattr(redis_policy, "connect", lambda: None)
    with caplog.at_level(logging.WARNING, logger="socialmetrics.warmup"):
        done = warmup.warm_up()
    assert done["database"] is None
    assert done["redis"] is None
    assert done["urls"] is not None
    assert done["queries"] is not None  # compiled without a database
    assert "database skipped: OperationalError: connection refused" in caplog.text
    assert "redis skipped" in caplog.text


def test_a_failing_step_leaves_the_others_to_run(monkeypatch):
    def broken():
        raise ImportError("a view that cannot be imported")

    monkeypatch.setitem(warmup.STEPS, "urls", broken)
    monkeypatch.setattr(type(connections["default"]), "ensure_connection", _refused)
    done = warmup.warm_up()
    assert done["urls"] is None
    assert done["queries"] is not None


def test_a_thread_pool_smaller_than_said_is_waited_for_briefly(monkeypatch):
    monkeypatch.setattr(warmup, "THREADS_WAIT", 0.2)
    with ThreadPoolExecutor(max_workers=1) as executor:
        assert warmup.warm_up(executor=executor, threads=2)["threads"] is None


def test_every_read_path_resolves_to_a_view():
    from django.urls import resolve

    for path in warmup.READ_PATHS:
        assert resolve(path).func is not None


def _first_request(executor, path: str) -> tuple[str, set[str], int]:
    """A request through the application gunicorn serves, on a serving thread: its status, the
    modules it imported, the Redis connections it opened."""
    from django.test import RequestFactory

    from socialmetrics.wsgi import application

    opened = []
    connect = redis_policy.Connection.connect_check_health

    def counting(self, *args, **kwargs):
        if self._sock is None:
            opened.append(self)
        return connect(self, *args, **kwargs)

    def serve() -> tuple[str, set[str]]:
        environ = RequestFactory().get(path, HTTP_ACCEPT_ENCODING="gzip").environ
        before = set(sys.modules)
        statuses = []
        response = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            b"".join(response)
        finally:
            if hasattr(response, "close"):  # as a server does: the request's end, its connection given back
                response.close()
        return statuses[0], set(sys.modules) - before

    redis_policy.Connection.connect_check_health = counting
    try:
        status, imported = executor.submit(serve).result()
    finally:
        redis_policy.Connection.connect_check_health = connect
    return status, imported, len(opened)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/accounts", "/api/grid", "/api/history/x/nobody"])
def test_a_first_request_after_the_warm_up_imports_nothing(path):
    with ThreadPoolExecutor(max_workers=2) as executor:
        warmup.warm_up(executor=executor, threads=2)
        status, imported, _ = _first_request(executor, path)
    assert status.split()[0] in {"200", "404"}
    assert imported == set()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_first_request_after_the_warm_up_opens_no_redis_connection():
    pool = redis_policy.client().connection_pool
    pool.disconnect()  # every connection the process has made is closed
    with ThreadPoolExecutor(max_workers=2) as executor:
        warmup.warm_up(executor=executor, threads=2)
        status, _, opened = _first_request(executor, "/api/accounts")  # a miss: looked up, stored
        assert status.startswith("200")
        assert opened == 0
    pool.disconnect()
    with ThreadPoolExecutor(max_workers=1) as fresh:  # without the warm-up: the request opens them
        assert _first_request(fresh, "/api/accounts")[2] >= 1


@pytest.mark.redis
def test_a_new_redis_connection_reads_no_package_metadata(monkeypatch):
    import redis.utils

    def read(*args):
        raise AssertionError("package metadata read for a connection")

    monkeypatch.setattr(redis.utils, "get_lib_version", read)
    pool = redis_policy.client().connection_pool
    connection = pool.make_connection()
    try:
        connection.connect()
        assert connection.driver_info is redis_policy.DRIVER_INFO
    finally:
        connection.disconnect()

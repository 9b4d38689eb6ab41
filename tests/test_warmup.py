"""socialmetrics.warmup: a serving process's one-time work at its start, which never stops it."""

import logging

import pytest
from django.db import OperationalError, connection

from socialmetrics import redis_policy, warmup


@pytest.mark.django_db
def test_every_step_runs_and_is_timed():
    done = warmup.warm_up()
    assert set(done) == {"urls", "queries", "database", "redis"}
    assert all(isinstance(ms, float) and ms >= 0 for ms in done.values()), done


@pytest.mark.django_db(transaction=True)
def test_the_database_connection_goes_back_after_the_warm_up():
    warmup.warm_up()
    assert connection.connection is None  # returned to the pool (or closed): requests open their own


def test_an_unreachable_database_and_redis_never_stop_a_worker(monkeypatch, caplog):
    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refused)
    monkeypatch.setattr(redis_policy, "enabled", lambda: True)
    monkeypatch.setattr(redis_policy, "connect", lambda: None)
    with caplog.at_level(logging.WARNING, logger="socialmetrics.warmup"):
        done = warmup.warm_up()
    assert done["database"] is None
    assert done["redis"] is None
    assert done["urls"] is not None
    assert done["queries"] is not None  # compiled without a database
    assert "database skipped" in caplog.text
    assert "redis skipped" in caplog.text


def test_a_failing_step_leaves_the_others_to_run(monkeypatch):
    def broken():
        raise ImportError("a view that cannot be imported")

    monkeypatch.setitem(warmup.STEPS, "urls", broken)
    monkeypatch.setattr(connection, "cursor", lambda: (_ for _ in ()).throw(OperationalError("down")))
    done = warmup.warm_up()
    assert done["urls"] is None
    assert done["queries"] is not None


def test_every_read_path_resolves_to_a_view():
    from django.urls import resolve

    for path in warmup.READ_PATHS:
        assert resolve(path).func is not None

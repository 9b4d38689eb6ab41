"""socialmetrics.db.pool: the pool's check of a connection before it is handed out. A connection the
server ended is never handed out; one used moments ago, whose server said nothing, goes out without
a round trip."""

from __future__ import annotations

import select

import psycopg
import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from socialmetrics.db import pool as pool_check

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pooled():
    """A connection of the pool, given back (or dropped, if it broke) at the end."""
    connection.ensure_connection()
    pool = connection.pool
    held = pool.getconn()
    yield held
    pool.putconn(held)


@pytest.fixture
def round_trips(monkeypatch) -> list:
    asked = []
    check = ConnectionPool.check_connection

    def counted(conn):
        asked.append(conn)
        check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counted))
    return asked


def test_the_settings_name_this_check():
    assert connection.settings_dict["OPTIONS"]["pool"]["check"] is pool_check.check_connection
    assert connection.pool._check is pool_check.check_connection


def test_a_connection_is_asked_when_first_handed_out(pooled, round_trips):
    assert round_trips == []  # the pool's getconn() checked it already
    new = psycopg.connect(**{**connection.get_connection_params(), "autocommit": True})
    try:
        pool_check.check_connection(new)
        assert round_trips == [new]
    finally:
        new.close()


def test_a_connection_used_moments_ago_goes_out_without_a_round_trip(pooled, round_trips):
    pool_check.check_connection(pooled)
    pool_check.check_connection(pooled)
    assert round_trips == []


def test_a_connection_the_server_ended_fails_its_check(pooled, round_trips):
    with connection.cursor() as cursor:  # as a restart, pg_terminate_backend or a timeout does
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pooled.info.backend_pid])
    with pytest.raises(psycopg.OperationalError):
        pool_check.check_connection(pooled)
    assert round_trips == [pooled]


def test_a_connection_with_input_waiting_is_asked_and_passes(pooled, round_trips):
    pooled.execute("LISTEN socialmetrics_test")
    pool_check.check_connection(pooled)
    with connection.cursor() as cursor:
        cursor.execute("NOTIFY socialmetrics_test")
    # The notification reaches the idle connection's socket (the server writes nothing else).
    select.select([pooled.fileno()], [], [], 5)
    pool_check.check_connection(pooled)
    assert round_trips == [pooled]
    pooled.execute("UNLISTEN *")


def test_a_connection_idle_longer_than_the_recheck_time_is_asked(pooled, round_trips, monkeypatch):
    monkeypatch.setattr(pool_check, "RECHECK_SECONDS", -1.0)
    pool_check.check_connection(pooled)
    assert round_trips == [pooled]


def test_a_request_is_never_handed_a_connection_the_server_ended(api):
    assert api.get("/api/grid?per_page=3").status_code == 200
    connection.close()  # the test client keeps the thread's connection; a server gives it back
    pool = connection.pool
    idle = [pool.getconn() for _ in range(pool.get_stats()["pool_available"])]
    ended = idle[0]
    with psycopg.connect(**{**connection.get_connection_params(), "autocommit": True}) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [ended.info.backend_pid])
    for held in idle:
        pool.putconn(held)  # the ended one first: the next to be handed out
    response = api.get("/api/grid?per_page=4")  # not cached: needs the database
    assert response.status_code == 200, response.content
    assert pool.get_stats().get("connections_lost", 0) >= 1  # the check caught it

"""A serving process's one-time work, done as it starts instead of by its first request.

A fresh process (a gunicorn worker) pays on its first request for importing the URLconf and every
view, serializer and filter behind it, compiling the URL patterns, the models' lazily built
metadata, opening the database pool and the Redis connection. `warm_up()` does all of that before
the first request arrives; call it once per process (gunicorn's `post_worker_init` hook).

It never raises and never waits long: a database or Redis that cannot be reached is logged and
skipped (the first request then connects, as it would have), so a worker always starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: A path of every read endpoint (the ids and names need not exist: only their routes are resolved).
READ_PATHS = (
    "/api",
    "/api/summary",
    "/api/summary/totals",
    "/api/history/x/warm-up",
    "/api/grid",
    "/api/accounts",
    "/api/accounts/1",
    "/api/anomalies",
    "/api/movers",
    "/api/posts",
    "/health/live",
    "/health/ready",
)
#: Seconds the database is waited for here at most (a worker must start even when it is down).
DATABASE_WAIT = 0.5


def _urls() -> None:
    """Import the URLconf (every view and what it imports) and compile the patterns of the reads."""
    from django.urls import get_resolver, resolve

    get_resolver().reverse_dict  # noqa: B018  (builds the reverse look-up tables too)
    for path in READ_PATHS:
        resolve(path)


def _queries() -> None:
    """Compile each read endpoint's queries without running them: the models' lazily built
    metadata (relation tree, field maps) and the lookups are made once here."""
    import datetime as dt

    from accounts.selectors import account_queryset
    from snapshots.selectors import (
        ACCOUNT_COLUMNS,
        GRID_COLUMNS,
        LATEST_FIELDS,
        SUMMARY_COLUMNS,
        anomaly_queryset,
        grid_queryset,
        post_queryset,
        summary_queryset,
    )

    latest = (f"latest__{name}" for name in LATEST_FIELDS)
    querysets = [
        summary_queryset().values_list(*SUMMARY_COLUMNS),
        grid_queryset().values_list(*GRID_COLUMNS)[:1],
        account_queryset().values_list(*ACCOUNT_COLUMNS, *latest)[:1],
        anomaly_queryset(since=dt.date(2000, 1, 1))[:1],
        post_queryset()[:1],
    ]
    for queryset in querysets:
        queryset.query.sql_with_params()


def _database() -> None:
    """Open the database pool (its connections are made in the background) and run one query on
    a connection from it, so the first request finds a connection ready."""
    from django.conf import settings
    from django.db import connection

    from socialmetrics import db

    try:
        wait = min(DATABASE_WAIT, settings.DATABASE_REQUEST_TIMEOUT)
        with db.request_wait(wait), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        if not connection.in_atomic_block:
            connection.close()  # back to the pool (or closed): requests open their own


def _redis() -> None:
    """Connect to Redis (and read its run_id, the generations' epoch) if it is configured."""
    from socialmetrics import redis_policy

    if redis_policy.enabled() and redis_policy.connect() is None:
        raise ConnectionError("Redis cannot be reached")


STEPS: dict[str, Callable[[], None]] = {
    "urls": _urls,
    "queries": _queries,
    "database": _database,
    "redis": _redis,
}


def warm_up() -> dict[str, float | None]:
    """Do the per-process one-time work of every read endpoint. Returns each step's milliseconds,
    None for a step that failed (logged; the first request does that work instead). Never raises."""
    done: dict[str, float | None] = {}
    for name, step in STEPS.items():
        started = time.perf_counter()
        try:
            step()
        except Exception as exc:  # a worker must start whatever fails here
            logger.warning("warm-up: %s skipped: %s: %s", name, type(exc).__name__, exc)
            done[name] = None
        else:
            done[name] = round((time.perf_counter() - started) * 1000, 1)
    return done

"""A serving process's one-time work, done as it starts instead of by its first request.

A fresh process (a gunicorn worker) pays on its first request for importing the URLconf and every
view, serializer and filter behind it, compiling the URL patterns, the models' lazily built
metadata, the figures' series, the modules and patterns the middleware loads lazily, opening the
database pool and the Redis connections; each thread that serves requests makes its own database
and cache handles (Django keeps them per thread) and opens the Redis connection it looks entries
up on (a new connection's handshake is 4 round trips); and each new PostgreSQL backend reads the
catalog entries and statistics of every table and index at its first query on it. `warm_up()`
does all of that before the first request arrives; call it once per process (gunicorn's
`post_worker_init` hook).

It never raises and never waits long: a database or Redis that cannot be reached is logged and
skipped (the first request then connects, as it would have), so a worker always starts.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor

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
#: Seconds the serving threads are waited for at most.
THREADS_WAIT = 2.0


def _urls() -> None:
    """Import the URLconf (every view and what it imports) and compile the patterns of the reads."""
    from django.urls import get_resolver, resolve

    get_resolver().reverse_dict  # noqa: B018  (builds the reverse look-up tables too)
    for path in READ_PATHS:
        resolve(path)


def _lazy_parts() -> None:
    """What Django and the middleware build at their first use by a request: the message storage,
    session engine and session serializer modules, and the patterns of the cookie signer, the host
    and the charset (regular expressions compiled at their first use): 2 ms of the first request."""
    from django.conf import settings
    from django.core import signing
    from django.http import HttpResponse
    from django.http.request import split_domain_port
    from django.utils.module_loading import import_string

    import_string(settings.MESSAGE_STORAGE)
    import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    import_string(settings.SESSION_SERIALIZER)
    signing.get_cookie_signer(salt="warm-up")
    split_domain_port("127.0.0.1:8000")
    HttpResponse().charset  # noqa: B018


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


def _metrics() -> None:
    """Make the figures' series of every read endpoint now, at zero (as Prometheus advises for the
    series known in advance): a series' first use maps its values into the process's file, 0.9 ms
    of an endpoint's first request."""
    from django.urls import resolve

    from socialmetrics import metrics
    from socialmetrics.cache import CachedReadMixin

    for path in READ_PATHS:
        match = resolve(path)
        metrics.REQUESTS.labels(match.view_name, "2xx")
        metrics.LATENCY.labels(match.view_name)
        view = getattr(match.func, "cls", None)
        if view is not None and issubclass(view, CachedReadMixin):
            metrics.CACHE_HITS.labels(view.cache_name)
            metrics.CACHE_MISSES.labels(view.cache_name)


def _read_queries() -> None:
    """Each read endpoint's queries for its first page, on this thread's connection (the rows are
    dropped): a new PostgreSQL backend reads the catalog entries and statistics of each table and
    index at its first query on it, 3 to 6 ms of the first request that reaches it. One read that
    fails leaves the others to run; the first failure is raised at the end."""
    import datetime as dt

    from snapshots.selectors import (
        SUMMARY_COLUMNS,
        AccountChanged,
        account_list_page,
        anomaly_queryset,
        grid_day_buckets,
        grid_page,
        grid_platform_counts,
        grid_platform_day_rows,
        grid_queryset,
        history_series,
        post_queryset,
        summary_queryset,
    )

    def history() -> None:
        with contextlib.suppress(AccountChanged):  # no such account: its id is looked up too
            history_series(account_id=0, expect=("x", "warm-up"))

    def deep_page() -> None:  # the statements that pick a deep page's rows, each way (no row found)
        for backward, bound in itertools.product((False, True), (None, "")):
            day = {"date": dt.date(2000, 1, 1), "platform": "x", "bound": bound, "backward": backward}
            grid_platform_day_rows(**day, limit=1, offset=0)

    reads: list[Callable[[], object]] = [
        lambda: account_list_page(offset=0, limit=1),
        lambda: grid_page(queryset=grid_queryset(), offset=0, limit=1),
        # A deep grid page reads its date's per-platform and per-bucket counts, then picks its rows.
        lambda: grid_platform_counts(date=dt.date(2000, 1, 1)),
        lambda: grid_day_buckets(date=dt.date(2000, 1, 1), platform="x"),
        deep_page,
        history,
        lambda: list(summary_queryset().values_list(*SUMMARY_COLUMNS)[:1]),
        lambda: list(anomaly_queryset(since=dt.date(2000, 1, 1))[:1]),
        lambda: list(post_queryset()[:1]),
    ]
    failures = []
    for read in reads:
        try:
            read()
        except Exception as exc:  # the other reads are warmed all the same
            failures.append(exc)
    if failures:
        raise failures[0]


def _database() -> None:
    """Open the database pool and run the reads' queries once on every connection it keeps open
    (it hands them out in turn, so any of them may serve the first request), each from a thread
    of its own that holds its connection until all have one. Every connection goes back to the
    pool (or is closed): requests open their own."""
    from django.conf import settings
    from django.db import connection

    from socialmetrics import db

    wait = min(DATABASE_WAIT, settings.DATABASE_REQUEST_TIMEOUT)
    pool = getattr(connection, "pool", None)  # PostgreSQL's (SQLite has none)
    count = 1
    if pool is not None:
        # Its connections made first: a thread waiting for one would have the pool make more.
        pool.open(wait=True, timeout=wait)
        count = max(1, pool.get_stats()["pool_size"])
    holding = threading.Barrier(count, timeout=wait)
    failures: list[BaseException] = []

    def warm() -> None:
        from django.db import connection

        try:
            with db.request_wait(wait):
                connection.ensure_connection()
            holding.wait()  # every thread holds a connection of its own now
            _read_queries()
        except BaseException as exc:
            failures.append(exc)
            holding.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=warm, name=f"warm-up-database-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise next((e for e in failures if not isinstance(e, threading.BrokenBarrierError)), failures[0])


def _redis() -> None:
    """Connect to Redis (and read its run_id, the generations' epoch) if it is configured."""
    from socialmetrics import redis_policy

    if redis_policy.enabled() and redis_policy.connect() is None:
        raise ConnectionError("Redis cannot be reached")


def _thread_handles() -> None:
    """This thread's database handle and cache client (no database connection is opened: the pool
    hands one out per request), and the Redis connection it looks entries up on, opened: 0.6 ms and
    a connection's handshake of the first request each serving thread answers."""
    from django.db import connections

    from socialmetrics import cache, redis_policy

    connections["default"]
    if redis_policy.enabled():
        redis_policy.client()
        cache.hold_connection()


def _redis_spares(count: int) -> None:
    """`count` more open connections in the process's Redis pool, one per serving thread, for what
    a request sends besides its look-up (a miss's store, the generations it reads): taken all at
    once so that each is a connection of its own, then given back."""
    from socialmetrics import redis_policy

    if not redis_policy.enabled():
        return
    pool = redis_policy.client().connection_pool
    taken = []
    try:
        for _ in range(count):
            taken.append(pool.get_connection())  # connected as it is handed out
    finally:
        for connection in taken:
            pool.release(connection)


def _threads(executor: Executor, count: int) -> None:
    """Make the handles of each of the `count` threads of `executor` (the pool whose threads serve
    requests): as many tasks as threads, none ending before all have started, so each runs on a
    thread of its own; then a spare Redis connection per thread."""
    started = threading.Barrier(count, timeout=THREADS_WAIT)

    def prepare() -> None:
        started.wait()
        _thread_handles()

    for task in [executor.submit(prepare) for _ in range(count)]:
        task.result(timeout=THREADS_WAIT * 2)
    _redis_spares(count)


STEPS: dict[str, Callable[[], None]] = {
    "urls": _urls,
    "lazy parts": _lazy_parts,
    "queries": _queries,
    "metrics": _metrics,
    "database": _database,
    "redis": _redis,
}


def warm_up(*, executor: Executor | None = None, threads: int = 0) -> dict[str, float | None]:
    """Do the per-process one-time work of every read endpoint, and the per-thread work of the
    `threads` threads of `executor` if given (gunicorn's gthread worker serves requests from such
    a pool). Returns each step's milliseconds, None for a step that failed (logged; the first
    request does that work instead). Never raises."""
    steps = dict(STEPS)
    if executor is not None and threads > 0:
        steps["threads"] = functools.partial(_threads, executor, threads)
    done: dict[str, float | None] = {}
    for name, step in steps.items():
        started = time.perf_counter()
        try:
            step()
        except Exception as exc:  # a worker must start whatever fails here
            logger.warning("warm-up: %s skipped: %s: %s", name, type(exc).__name__, exc)
            done[name] = None
        else:
            done[name] = round((time.perf_counter() - started) * 1000, 1)
    return done

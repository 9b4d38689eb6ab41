"""Django's PostgreSQL backend with a request's wait for a pooled connection kept short
(ENGINE "socialmetrics.db"; the settings switch to it whenever DATABASE_URL is PostgreSQL), and
pools that a forked process does not share."""

from __future__ import annotations

import os

from django.db.backends.postgresql import base as postgresql

from . import current_request_wait


class _RequestPool:
    """The process's pool as a request uses it: `getconn()` waits the request's time, not the pool's."""

    __slots__ = ("_pool", "_wait")

    def __init__(self, pool, wait: float) -> None:
        self._pool = pool
        self._wait = wait

    def getconn(self, timeout: float | None = None):
        return self._pool.getconn(self._wait if timeout is None else timeout)

    def __getattr__(self, name: str):
        return getattr(self._pool, name)


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        wait = current_request_wait()
        return pool if pool is None or wait is None else _RequestPool(pool, wait)


def _close_pools_before_fork() -> None:
    """Before os.fork() (Celery's prefork children and embedded beat, gunicorn --preload): close this
    process's pools. A child would otherwise inherit their open connections, whose sockets it shares
    with the parent, and a pool whose worker threads did not survive the fork (it waits for them until
    its timeout). The child makes its own pool on first use; so does the parent."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if isinstance(connection, DatabaseWrapper) and connection.alias in connection._connection_pools:
            connection.close()
            connection.close_pool()


os.register_at_fork(before=_close_pools_before_fork)

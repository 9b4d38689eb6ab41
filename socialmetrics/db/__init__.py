"""The database as a request sees it: how long a request waits for a connection, and which errors
mean "the database cannot be reached" (a 503) rather than a fault of the query (a 500).

`socialmetrics.db` is also the PostgreSQL ENGINE the settings use (`base.py`): Django's backend,
whose pooled connections a request waits for at most DATABASE_REQUEST_TIMEOUT seconds while
background work (collection runs, imports, management commands) keeps DATABASE_POOL_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import contextvars
import sqlite3
from collections.abc import Iterator

from django.db import InterfaceError, OperationalError

#: Seconds the current request may wait for a pooled connection; None outside a request. A context
#: variable: a thread a request starts (a collection run) begins without it, so it keeps the pool's.
_request_wait: contextvars.ContextVar[float | None] = contextvars.ContextVar("db_request_wait", default=None)

# PostgreSQL error classes that say the server cannot serve anyone now: connection exceptions,
# insufficient resources (too many connections, disk full), shutting down or starting up.
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")
_UNAVAILABLE_SQLITE_MESSAGES = ("database is locked", "unable to open database file")


@contextlib.contextmanager
def request_wait(seconds: float) -> Iterator[None]:
    """Within this block, a new connection is waited for `seconds` at most."""
    token = _request_wait.set(seconds)
    try:
        yield
    finally:
        _request_wait.reset(token)


def current_request_wait() -> float | None:
    return _request_wait.get()


def unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached now (no pooled connection in time, a
    refused or lost connection, a server shutting down or starting up, SQLite's file locked or
    unopenable), as opposed to an error of the query itself."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__ or exc
    if isinstance(cause, sqlite3.OperationalError):
        return str(cause).startswith(_UNAVAILABLE_SQLITE_MESSAGES)
    sqlstate = getattr(cause, "sqlstate", None)  # psycopg: None for a failure on the client side
    return sqlstate is None or sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES)

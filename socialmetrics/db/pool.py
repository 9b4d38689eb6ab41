"""How the PostgreSQL pool checks a connection before handing it out (psycopg_pool's `check`,
named in the pool's options in settings/base.py).

psycopg_pool's own check, which Django's CONN_HEALTH_CHECKS turns on, asks the server each time:
one round trip (110 us) of every request that uses the database. A connection the server has ended
(a restart, `pg_terminate_backend`, `idle_session_timeout`) has its socket readable, though: the
server writes why and closes. So a connection handed out less than `RECHECK_SECONDS` ago whose
socket has nothing to read is the one it was, and goes out unasked; any other (new, idle longer,
input waiting, closed) is asked as before. A connection that fails its check is dropped by the
pool, which hands out another: a request never gets a connection the server has ended.
"""

from __future__ import annotations

import select
import threading
import time
import weakref

from psycopg import Connection
from psycopg_pool import ConnectionPool

#: Seconds after which an idle connection is asked again, whatever its socket says (a firewall
#: that forgot it says nothing); the Redis pool's health_check_interval is the same.
RECHECK_SECONDS = 30.0

_handed_out: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _quiet(connection: Connection) -> bool:
    """True when nothing waits to be read on the connection's socket (an idle session's server
    writes nothing unless it ends it)."""
    poller = select.poll()
    poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


def check_connection(connection: Connection) -> None:
    """Raise if `connection` cannot be used (the pool then drops it and hands out another)."""
    now = time.monotonic()
    with _lock:
        last = _handed_out.get(connection)
    if last is None or now - last > RECHECK_SECONDS or connection.closed or not _quiet(connection):
        ConnectionPool.check_connection(connection)  # a round trip; raises if the session is gone
    with _lock:
        _handed_out[connection] = now

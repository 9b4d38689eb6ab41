"""The lock that stops two collection runs from overlapping, on an established primitive.

- Redis configured (`REDIS_URL`): redis-py's `Lock` under the installation's prefixed key, with a
  token and a timeout that the run's heartbeat renews; a Celery worker takes a queued run's lock
  over by its token.
- Otherwise on PostgreSQL: a session advisory lock on a connection of its own, held for the run.
- Otherwise (SQLite, one machine): `fcntl.flock` on a file beside the database.

An advisory lock or a file lock ends with the process that holds it; a Redis lock ends when its
holder stops renewing it, or at once when a stale run is reaped (`free`).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
from pathlib import Path

import redis
from django.db import DatabaseError, connection, transaction
from redis.exceptions import LockNotOwnedError
from redis.lock import Lock

from socialmetrics import redis_policy

logger = logging.getLogger(__name__)
LOCK_NAME = "collect_metrics"


class LockHeld(Exception):
    """Another collection run holds the lock: `run_id` is that run (None while it is being recorded)."""

    def __init__(self, *, run_id: int | None = None, token: str | None = None):
        self.run_id = run_id
        self.token = token
        holder = f"run {run_id}" if run_id else "a run that is starting"
        super().__init__(f"another collection run is in progress ({holder}); try again when it has finished")


class LockUnavailable(Exception):
    """The lock's store (Redis, PostgreSQL) cannot be reached, so no run may start."""


class _RunLock:
    """What every form of the lock does; `renew` is called by the run's heartbeat thread only."""

    def __init__(self, *, token: str | None = None):
        self.token = token or secrets.token_hex(16)

    def acquire(self) -> None:
        """Take the lock under `self.token`; LockHeld (with the holder's token) when it is taken."""
        raise NotImplementedError

    def renew(self) -> bool:
        """Prove the lock is still held (and extend it where it expires); False when it is not.
        LockUnavailable: the lock ended because its store cannot be reached (an advisory lock's
        database). Other errors: the store did not answer this time; the caller counts that as no
        renewal."""
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError


class RedisRunLock(_RunLock):
    """`timeout`: how long the lock lives unless renewed (or taken over)."""

    def __init__(self, *, token: str | None = None, timeout: float):
        super().__init__(token=token)
        # Not thread-local: the heartbeat thread renews what the run's thread acquired.
        self._lock = Lock(
            redis_policy.client(), _redis_key(), timeout=timeout, blocking=False, thread_local=False
        )

    def acquire(self) -> None:
        try:
            if self._lock.acquire(blocking=False, token=self.token):
                return
            holder = self._lock.redis.get(self._lock.name)
        except redis.RedisError as exc:
            raise LockUnavailable(f"Redis cannot be reached for the collection lock: {exc}") from exc
        raise LockHeld(token=holder.decode() if holder else None)

    def take_over(self) -> bool:
        """Become the holder of the lock another process took under `self.token` (a Celery worker
        carrying out a queued run), at the full timeout; False when it is no longer held under it."""
        self._lock.local.token = self._lock.redis.get_encoder().encode(self.token)
        try:
            return self._lock.reacquire()
        except LockNotOwnedError:
            self._lock.local.token = None
            return False
        except redis.RedisError as exc:
            self._lock.local.token = None
            raise LockUnavailable(f"Redis cannot be reached for the collection lock: {exc}") from exc

    def renew(self) -> bool:
        if self._lock.local.token is None:
            return False
        try:
            return self._lock.reacquire()  # back to the full timeout
        except LockNotOwnedError:
            return False

    def release(self) -> None:
        if self._lock.local.token is None:
            return
        try:
            self._lock.release()
        except LockNotOwnedError:
            pass  # expired or taken: nothing of ours to free
        except redis.RedisError:
            logger.warning("could not release the collection lock; it expires by itself", exc_info=True)


#: The advisory lock's key: a bigint derived from the lock's name (any fixed number would do).
_ADVISORY_KEY = int.from_bytes(
    hashlib.sha256(b"socialmetrics:" + LOCK_NAME.encode()).digest()[:8], signed=True
)
#: pg_locks shows a bigint advisory key as two oids: its high and low 32 bits (objsubid 1).
_ADVISORY_WHERE = (
    "l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    f"AND l.classid::bigint = {(_ADVISORY_KEY >> 32) & 0xFFFFFFFF} "
    f"AND l.objid::bigint = {_ADVISORY_KEY & 0xFFFFFFFF}"
)
_APPLICATION = "socialmetrics-run "
#: The session holding the lock in this database.
_HOLDER = (
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    f"WHERE {_ADVISORY_WHERE} AND a.datname = current_database()"
)


class AdvisoryRunLock(_RunLock):
    """A session advisory lock on a connection of its own (not the pool's, which would keep the lock
    when the connection went back). The connection's application_name carries the token, so others
    can tell which run holds it."""

    def __init__(self, *, token: str | None = None):
        super().__init__(token=token)
        self._connection = None

    def acquire(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        try:
            params["application_name"] = _APPLICATION + self.token
            conn = psycopg.connect(**params, autocommit=True)
            try:
                if conn.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_KEY]).fetchone()[0]:
                    self._connection = conn
                    return
                row = conn.execute(f"SELECT a.application_name {_HOLDER}").fetchone()
            finally:
                if self._connection is not conn:
                    conn.close()
        except psycopg.Error as exc:
            raise LockUnavailable(f"PostgreSQL cannot be reached for the collection lock: {exc}") from exc
        name = row[0] if row else ""
        raise LockHeld(token=name.removeprefix(_APPLICATION) if name.startswith(_APPLICATION) else None)

    def renew(self) -> bool:
        import psycopg

        if self._connection is None:
            return False
        try:
            mine = f"SELECT 1 FROM pg_locks l WHERE {_ADVISORY_WHERE} AND l.pid = pg_backend_pid()"
            return self._connection.execute(mine).fetchone() is not None
        except psycopg.OperationalError as exc:  # the session is gone, and its lock with it
            self.release()
            try:  # ended from outside (a stale run's lock freed), or the database is gone?
                psycopg.connect(**connection.get_connection_params(), autocommit=True).close()
            except psycopg.Error:
                raise LockUnavailable(f"PostgreSQL cannot be reached: {_first_line(exc)}") from exc
            return False

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()  # ends the session, which frees its lock
            self._connection = None


class FileRunLock(_RunLock):
    """`flock` on a file beside the SQLite database: the kernel frees it when the holder's process
    ends, however it ends. The file holds the holder's token; it is never deleted (a deleted file
    could be locked by one process while another locks its replacement)."""

    def __init__(self, *, path: Path, token: str | None = None):
        super().__init__(token=token)
        self.path = path
        self._file = None

    def acquire(self) -> None:
        file = open(self.path, "a+")  # noqa: SIM115 (held open for the run: the lock lives with it)
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip()
            file.close()
            raise LockHeld(token=holder or None) from None
        file.seek(0)
        file.truncate()
        file.write(self.token)
        file.flush()
        self._file = file

    def renew(self) -> bool:
        if self._file is None:
            return False
        try:
            return os.fstat(self._file.fileno()).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # frees the flock
            self._file = None


def run_lock(*, token: str | None = None, timeout: float) -> _RunLock:
    """The collection lock of this installation: in Redis when configured, else in PostgreSQL, else a
    file beside the SQLite database. `timeout`: how long a Redis lock lives unless renewed (the
    others live exactly as long as their holder's connection or process)."""
    if redis_policy.enabled():
        return RedisRunLock(token=token, timeout=timeout)
    if connection.vendor == "postgresql":
        return AdvisoryRunLock(token=token)
    return FileRunLock(path=_lock_file(), token=token)


def free(*, token: str) -> None:
    """Free the lock if it is still held under `token` (a run found dead), never another's.

    Redis: deleted if the key still holds the token. PostgreSQL: the session holding it under the
    token is ended (a process that stopped without dying loses its lock, and notices at its next
    renewal). A file lock cannot be freed from outside; it ends with its process."""
    if redis_policy.enabled():
        lock = Lock(redis_policy.client(), _redis_key(), thread_local=False)
        try:
            lock.do_release(token)
        except LockNotOwnedError:
            pass
        except redis.RedisError:
            logger.warning("could not free a dead run's collection lock; it expires by itself", exc_info=True)
    elif connection.vendor == "postgresql":
        terminate = f"SELECT pg_terminate_backend(a.pid) {_HOLDER} AND a.application_name = %s"
        try:
            with transaction.atomic(), connection.cursor() as cursor:  # a refusal spoils no transaction
                cursor.execute(terminate, [_APPLICATION + token])
        except DatabaseError:  # e.g. another role's session: it ends when that process does
            logger.warning("could not free a dead run's collection lock", exc_info=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0]


def _redis_key() -> str:
    return redis_policy.key(f"lock:{LOCK_NAME}")


def _lock_file() -> Path:
    return Path(f"{connection.settings_dict['NAME']}.{LOCK_NAME}.lock")

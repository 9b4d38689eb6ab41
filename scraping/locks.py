"""The lock that stops two collection runs from overlapping.

In Redis when `REDIS_URL` is set (SET NX with an expiry, refreshed while the run lives, released
only by its holder); otherwise a row in the database with the same semantics. A holder that dies
stops refreshing, so its lock expires and the next run can start.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import RunLock

logger = logging.getLogger(__name__)
LOCK_NAME = "collect_metrics"
DEFAULT_TTL = 120.0


class LockHeld(Exception):
    """Another collection run holds the lock."""

    def __init__(self, holder: str):
        self.holder = holder
        super().__init__(f"another collection run is in progress ({holder}); try again when it has finished")


class _Lock:
    def __init__(self, *, name: str = LOCK_NAME, ttl: float = DEFAULT_TTL):
        self.name = name
        self.ttl = ttl
        self.token = secrets.token_hex(16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, *, run_id: int | None = None) -> None:
        raise NotImplementedError

    def adopt(self, *, token: str, run_id: int | None = None) -> None:
        """Become the holder of a lock another process acquired (a worker carrying out its run)."""
        self.token = token

    def refresh(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def keep_alive(self) -> None:
        """Refresh the lock from a background thread until release()."""

        def beat() -> None:
            from django.db import connection

            try:
                while not self._stop.wait(self.ttl / 4):
                    if not self.refresh():
                        logger.warning("collection lock %s was lost", self.name)
            finally:
                connection.close()

        self._thread = threading.Thread(target=beat, name="collection-lock", daemon=True)
        self._thread.start()

    def _stop_keep_alive(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


# Only the holder (the token in the value) may release or extend the lock.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_REFRESH = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)


class RedisLock(_Lock):
    def __init__(self, *, client=None, **kwargs):
        super().__init__(**kwargs)
        import redis

        self.redis = client or redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5
        )
        self.key = f"socialmetrics:lock:{self.name}"

    def _value(self, run_id: int | None) -> str:
        return f"{self.token}|run {run_id}" if run_id else self.token

    def adopt(self, *, token: str, run_id: int | None = None) -> None:
        super().adopt(token=token, run_id=run_id)
        self.value = self._value(run_id)

    def acquire(self, *, run_id: int | None = None) -> None:
        value = self.value = self._value(run_id)
        if not self.redis.set(self.key, value, nx=True, px=int(self.ttl * 1000)):
            holder = (self.redis.get(self.key) or b"").decode().partition("|")[2] or "another process"
            raise LockHeld(holder)

    def refresh(self) -> bool:
        return bool(self.redis.eval(_REFRESH, 1, self.key, self.value, int(self.ttl * 1000)))

    def release(self) -> None:
        self._stop_keep_alive()
        try:
            self.redis.eval(_RELEASE, 1, self.key, self.value)
        except Exception:  # the lock expires by itself
            logger.warning("could not release collection lock %s; it will expire", self.name, exc_info=True)


class DatabaseLock(_Lock):
    def acquire(self, *, run_id: int | None = None) -> None:
        now = timezone.now()
        try:
            with transaction.atomic():
                RunLock.objects.filter(name=self.name, expires_at__lt=now).delete()
                RunLock.objects.create(
                    name=self.name,
                    token=self.token,
                    run_id=run_id,
                    acquired_at=now,
                    expires_at=now + dt.timedelta(seconds=self.ttl),
                )
        except IntegrityError:
            held = RunLock.objects.filter(name=self.name).first()
            holder = (
                f"run {held.run_id}, since {held.acquired_at:%Y-%m-%d %H:%M:%S}"
                if held
                else "another process"
            )
            raise LockHeld(holder) from None

    def refresh(self) -> bool:
        expires = timezone.now() + dt.timedelta(seconds=self.ttl)
        return bool(RunLock.objects.filter(name=self.name, token=self.token).update(expires_at=expires))

    def release(self) -> None:
        self._stop_keep_alive()
        RunLock.objects.filter(name=self.name, token=self.token).delete()


def collection_lock(*, name: str = LOCK_NAME, ttl: float = DEFAULT_TTL) -> _Lock:
    """The lock for collection runs: in Redis when configured, otherwise in the database."""
    if settings.REDIS_URL:
        return RedisLock(name=name, ttl=ttl)
    return DatabaseLock(name=name, ttl=ttl)

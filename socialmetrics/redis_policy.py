"""The one Redis connection of a process and what happens when Redis fails.

Everything in socialmetrics that talks to Redis (the response cache and its generations, the
anonymous throttle, the collection lock, the platforms' rate limiter) goes through django-redis's
connection pool for the default cache, so one set of timeouts and one failure policy apply:

- **Keys**: `key(name)` is the cache's own key for `name`, so every key carries CACHE_KEY_PREFIX
  and two installations with different prefixes on one Redis never see each other's keys.
- **Timeouts**: REDIS_CONNECT_TIMEOUT / REDIS_SOCKET_TIMEOUT (0.5 s each by default); no retries
  inside redis-py, so a failure surfaces at once instead of a reconnect hiding it.
- **Back-off**: after a failure (connection refused, timeout, reset) the process does not try Redis
  for REDIS_BACKOFF_SECONDS; meanwhile every command fails at once without touching the network, and
  callers carry on without Redis (reads from the database, the limiter on its own budget).
- **Restarts**: each new connection reads the server's `run_id`. `epoch()` is that id: the cache's
  generation keys are named after it, so after Redis restarts, whatever data it reloads, every
  generation is new and nothing cached before the restart is served.

With no REDIS_URL (the embedded default) `enabled()` is False and nothing here is used.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django_redis.pool import ConnectionFactory as DjangoRedisConnectionFactory
from redis.driver_info import DriverInfo

logger = logging.getLogger(__name__)


class BackingOff(redis.ConnectionError):
    """Redis failed a moment ago; this process is not trying it again yet."""


class _State:
    """What this process knows of Redis (shared by every thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down_until = 0.0  # time.monotonic() before which Redis is not tried
        self.run_ids: dict[str, str] = {}  # each server's run_id at the newest connect to it
        self.failures = 0


_state = _State()


def _backoff_seconds() -> float:
    return float(getattr(settings, "REDIS_BACKOFF_SECONDS", 2.0))


def note_failure(exc: BaseException) -> None:
    """A command failed for want of Redis: back off (once per failure, logged once per back-off)."""
    if isinstance(exc, BackingOff) or getattr(exc, "_socialmetrics_noted", False):
        return
    exc._socialmetrics_noted = True  # one failure, however many layers it passes through
    from socialmetrics import metrics

    metrics.note_redis_failure()
    with _state.lock:
        _state.failures += 1
        first = time.monotonic() >= _state.down_until
        _state.down_until = time.monotonic() + _backoff_seconds()
    if first:
        logger.warning("Redis unavailable (%s); not trying it for %.1f s", exc, _backoff_seconds())


def available() -> bool:
    """False while backing off after a failure."""
    return time.monotonic() >= _state.down_until


def failures() -> int:
    """Redis failures this process has seen."""
    return _state.failures


def _server(connection_kwargs: dict) -> str:
    return f"{connection_kwargs.get('host')}:{connection_kwargs.get('port')}"


def epoch() -> str | None:
    """The run_id the cache's Redis server had at this process's newest connect to it (None before
    any connect)."""
    return _state.run_ids.get(_server(client().connection_pool.connection_kwargs))


def _saw_run_id(server: str, run_id: str) -> None:
    with _state.lock:
        previous = _state.run_ids.get(server)
        _state.run_ids[server] = run_id
    if previous is not None and previous != run_id:
        logger.warning("Redis restarted (run_id %s -> %s): every cache generation is new", previous, run_id)


_FAILURES = (redis.ConnectionError, redis.TimeoutError, OSError)


class Connection(redis.connection.Connection):
    """redis-py's connection with the policy: no connect while backing off, failures noted, and the
    server's run_id read on every (re)connect."""

    def connect_check_health(self, *args, **kwargs):
        if self._sock is None and not available():
            raise BackingOff("Redis failed moments ago; not trying it again yet")
        try:
            return super().connect_check_health(*args, **kwargs)
        except _FAILURES as exc:
            note_failure(exc)
            raise

    def on_connect_check_health(self, check_health: bool = True):
        super().on_connect_check_health(check_health=check_health)
        self.send_command("INFO", "server", check_health=False)
        info = self.read_response()
        text = info.decode() if isinstance(info, bytes) else str(info)
        for line in text.splitlines():
            if line.startswith("run_id:"):
                _saw_run_id(f"{self.host}:{self.port}", line.partition(":")[2].strip())
                break

    def send_packed_command(self, command, check_health=True):
        try:
            return super().send_packed_command(command, check_health=check_health)
        except _FAILURES as exc:
            note_failure(exc)
            raise

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except _FAILURES as exc:
            note_failure(exc)
            raise


#: The library name and version each new connection tells the server (CLIENT SETINFO, seen in
#: CLIENT LIST), read once: redis-py reads its package metadata again for every connection it
#: makes (2 to 14 ms of a request that opens one).
DRIVER_INFO = DriverInfo()


class ConnectionFactory(DjangoRedisConnectionFactory):
    """django-redis's pool, made of `Connection`s (settings: OPTIONS["CONNECTION_FACTORY"])."""

    def make_connection_params(self, url: str) -> dict:
        params = super().make_connection_params(url)
        params["connection_class"] = Connection
        params["driver_info"] = DRIVER_INFO
        return params


def enabled() -> bool:
    """True when the default cache is Redis (REDIS_URL set)."""
    from django_redis.cache import RedisCache

    return isinstance(caches["default"], RedisCache)


def client() -> redis.Redis:
    """The process's Redis client (django-redis's pool for the default cache)."""
    return caches["default"].client.get_client(write=True)


def key(name: str) -> str:
    """`name` as stored: with the installation's CACHE_KEY_PREFIX (the cache's own key function)."""
    return caches["default"].make_key(name)


def connect() -> str | None:
    """Make sure this process has talked to Redis once (so `epoch()` is known); returns the epoch,
    or None when Redis cannot be reached. For a process about to start threads, and for readers
    that need the epoch before their first command."""
    known = epoch()
    if known is None and available():
        try:
            client().ping()
        except redis.RedisError as exc:
            note_failure(exc)
        known = epoch()
    return known

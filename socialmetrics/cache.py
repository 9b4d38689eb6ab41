"""Cache generations and Redis failure accounting: the one copy every app uses.

Cached data is grouped (the summary, the grid, the accounts list, one account's history). Each group
has a generation token stored in the cache; cached entries are keyed or stamped with the token they
were built under. A write replaces the tokens of the groups it touches (one `set_many`, O(1)
whatever the number of cached entries), so the very next read in any process misses and rebuilds.

A token that has vanished (evicted, Redis flushed) is replaced by a fresh random one, never by a
counter restarting at 1, so an entry built under an old token can never look fresh again.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import cache, caches
from django.db import transaction

try:  # the one-command bump needs django-redis; any other cache takes set_many
    from django_redis.cache import RedisCache
except ImportError:  # pragma: no cover - django-redis is a requirement
    RedisCache = None

#: Where django-redis logs (and `RedisFailureCounter` counts) the failures it ignores; code that
#: talks to Redis directly reports its own there too.
redis_logger = logging.getLogger(getattr(settings, "DJANGO_REDIS_LOGGER", None) or "django_redis.cache")

SUMMARY = "summary"
GRID = "grid"
ACCOUNTS = "accounts"
#: Groups that every change to accounts or snapshots touches.
DATA_GROUPS = (SUMMARY, GRID, ACCOUNTS)

_KEY = "gen:{}"


def history_group(account_id: int) -> str:
    """The group of one account's cached history: a change to one account leaves the others alone."""
    return f"history:{account_id}"


def _new_token() -> str:
    return secrets.token_hex(8)


def generations(groups: Iterable[str]) -> dict[str, str]:
    """Current token of each group (one cache round trip; missing tokens are created)."""
    groups = list(groups)
    keys = {_KEY.format(g): g for g in groups}
    found = cache.get_many(list(keys))
    tokens = {keys[k]: v for k, v in found.items()}
    for group in groups:
        if group not in tokens:
            token = _new_token()
            key = _KEY.format(group)
            # add() keeps a token another process created meanwhile; read back whichever won.
            if not cache.add(key, token, timeout=None):
                token = cache.get(key) or token
            tokens[group] = token
    return tokens


def bump(groups: Iterable[str]) -> None:
    """Invalidate every cached entry of these groups with one cache round trip (on Redis one MSET,
    whatever the number of groups: 10,000 accounts' histories in a collection batch). The groups
    share the new token: each still gets a value it never had, which is all a token must be."""
    keys = {_KEY.format(g) for g in groups}
    if not keys:
        return
    token = _new_token()
    backend = caches["default"]
    if RedisCache is None or not isinstance(backend, RedisCache):
        cache.set_many(dict.fromkeys(keys, token), timeout=None)
        return
    client = backend.client
    value = client.encode(token)
    try:
        client.get_client(write=True).mset({client.make_key(k): value for k in keys})
    except Exception:  # as django-redis does with IGNORE_EXCEPTIONS: logged (and counted), not raised
        redis_logger.exception("Exception ignored")


def connect() -> None:
    """Make the connection the first bump would make (nothing to do for other caches).

    For a process that is about to start threads: made later from a thread that shares the GIL with
    a computing one, the first bump takes tens of times longer (0.1 to 0.3 s in a collection run),
    since after each system call of its imports and of connecting it waits up to a switch interval
    (5 ms) to get the GIL back.
    """
    backend = caches["default"]
    if RedisCache is None or not isinstance(backend, RedisCache):
        return
    try:
        backend.client.get_client(write=True).ping()
    except Exception:  # as in `bump`: the first bump will try again
        redis_logger.exception("Exception ignored")


def bump_data(account_ids: Iterable[int] = ()) -> None:
    """Invalidate the shared data groups and the history of the given accounts."""
    bump([*DATA_GROUPS, *(history_group(a) for a in account_ids)])


def invalidate(groups: Iterable[str]) -> None:
    """What a write calls: bump now, and again once the current transaction commits.

    The second bump matters: a read that slips in between the first bump and the commit sees the
    new tokens but the old rows, and would otherwise leave a stale entry under the new tokens.
    Outside a transaction both happen at once (two cheap writes).
    """
    groups = list(groups)
    bump(groups)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: bump(groups))


#: Above this many accounts, a write inside a transaction bumps their history groups only once,
#: after the commit (the bump that matters), instead of before it too.
BULK_ACCOUNTS = 100


def invalidate_data(account_ids: Iterable[int] = ()) -> None:
    """`invalidate` for the shared data groups and the history of the given accounts."""
    histories = [history_group(a) for a in account_ids]
    if len(histories) > BULK_ACCOUNTS and transaction.get_connection().in_atomic_block:
        bump(DATA_GROUPS)
        transaction.on_commit(lambda: bump([*DATA_GROUPS, *histories]))
        return
    invalidate([*DATA_GROUPS, *histories])


def generation_key(group: str) -> str:
    """The cache key holding a group's token (for readers that fetch tokens with their entry)."""
    return _KEY.format(group)


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def incr(self) -> None:
        with self._lock:
            self.value += 1


#: Redis failures seen by this process (django-redis ignored the exception and logged it).
redis_failures = _Counter()


class RedisFailureCounter(logging.Handler):
    """Logging handler on django-redis's logger: counts each failure it swallowed."""

    def emit(self, record: logging.LogRecord) -> None:
        redis_failures.incr()

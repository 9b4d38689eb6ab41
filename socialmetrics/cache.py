"""The read cache: how a read of the API is served from the cache, and how a write makes it stale.

```
GET /api/grid?page=3
  ReadCacheApplication (here, in front of Django's handler; ReadCacheMiddleware without it)
    anonymous GET of a cached endpoint? one round trip: throttle count, generation tokens, entry
      hit  -> the stored bytes, gzipped or not as the client accepts
      miss -> sessions, auth, REST framework -> view -> selector -> stored under the tokens read first
  a write: service -> invalidate(groups): a new token for each group it touched, now and at commit
  Redis restarted or unreachable: every generation is new (nothing older than the last write is served)
```

**Generations.** Cached data is grouped (the summary, the grid, the accounts list, one account's
history, and the API-wide group `DELETE /api/cache` replaces). Each group has a token; an entry is
stamped with the tokens current when it was built, and served only while all of them still are. A
write replaces the tokens of the groups it touched (one command, whatever the number of entries),
so the next read in any process misses and rebuilds from the database. A vanished token (evicted,
flushed) is replaced by a new random one, never a counter restarting at 1.

**Redis restarts.** On Redis, the token keys are named after the server's `run_id`
(`redis_policy.epoch()`): a restarted server, whatever data file it reloads, has a new run_id, so
every token is missing and every entry misses. A bump that fails while Redis is unreachable is
kept and sent again ahead of the process's next command (`_pending`), for the case where Redis did
not restart.

**Entries** are whole responses (status, content type, body gzipped when that pays), keyed by
(endpoint, role, path + sorted query): a role (public, user, staff) never reads another's entry,
and the permission check runs before the cache is consulted. Only plain-JSON 200 answers to
GET/HEAD are stored; the browsable API and errors are not. On Redis each version of an entry is
stored with a stamp of its own (`stamp_key`); a process keeps a copy of the large ones
(`_Copies`) and, while the stamp it was stored with is still the one in Redis, reads only the stamp.

**The early answer.** `EarlyAnswer` answers anonymous hits before Django's handler
(`ReadCacheApplication`, what gunicorn serves) or, for requests that come another way (the test
client, ASGI), second in the middleware (`ReadCacheMiddleware`): before the performance, security,
sessions, authentication and REST framework middleware, counting the throttle in the same round
trip and giving the answer those would have given it (headers, figures). Only requests that
provably get the same answer from the view qualify (no session cookie or Authorization header,
reads public, plain JSON accepted, the host allowed, https when required, within the throttle);
everything else goes the whole way, with the look-up already made.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gzip
import hashlib
import io
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import responses
from itertools import islice
from typing import Any
from urllib.parse import urlencode

import hiredis
import redis
from django.conf import settings
from django.core.cache import cache, caches
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import transaction
from django.http import HttpResponse, HttpResponseBase
from django.middleware.csp import ContentSecurityPolicyMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, ResolverMatch, URLResolver, get_resolver, get_urlconf
from django_redis.cache import RedisCache
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from socialmetrics import compression, logs, metrics, redis_policy
from socialmetrics.api.permissions import reads_are_public
from socialmetrics.api.rendering import PrerenderedJSON
from socialmetrics.api.throttling import COUNTED, Window, anon_window, count_request
from socialmetrics.middleware import STARTED, record

# --- Generations ------------------------------------------------------------------------------------

SUMMARY = "summary"
GRID = "grid"
ACCOUNTS = "accounts"
#: Groups that every change to accounts or snapshots touches.
DATA_GROUPS = (SUMMARY, GRID, ACCOUNTS)
#: Accounts' posts (/api/posts): bumped by post writes only; their lists also read ACCOUNTS.
POSTS = "posts"
#: Every cached response depends on this group too; replacing its token empties the response cache.
API_GROUP = "api"
#: Above this many accounts, a write inside a transaction bumps their history groups only once,
#: after the commit (the bump that matters), instead of before it too.
BULK_ACCOUNTS = 100


def history_group(account_id: int) -> str:
    """The group of one account's cached history: a change to one account leaves the others alone."""
    return f"history:{account_id}"


def _epoch() -> str | None:
    """What the token keys are named after: the Redis server's run_id (None: Redis unreachable)."""
    return redis_policy.connect() if redis_policy.enabled() else "local"


def generation_key(group: str, epoch: str) -> str:
    return f"gen:{epoch}:{group}"


def _new_token() -> str:
    return secrets.token_hex(8)


def generations(groups: Iterable[str]) -> dict[str, str] | None:
    """Current token of each group, missing ones created; None when the cache is unreachable."""
    epoch = _epoch()
    if epoch is None:
        return None
    keys = {generation_key(g, epoch): g for g in groups}
    found = cache.get_many(list(keys))
    tokens = {keys[k]: v for k, v in found.items()}
    for key, group in keys.items():
        if group not in tokens:
            token = _new_token()
            # add() keeps a token another process created meanwhile; read back whichever won.
            if not cache.add(key, token, timeout=None):
                token = cache.get(key) or token
            tokens[group] = token
    return tokens if _epoch() == epoch else None


class _Pending:
    """Groups whose bump failed (Redis unreachable), sent again with the process's next command.
    Bumping again is always safe: a token it replaces only makes entries miss once more."""

    def __init__(self) -> None:
        self.groups: set[str] = set()
        self.lock = threading.Lock()

    def add(self, groups: Iterable[str]) -> None:
        with self.lock:
            self.groups.update(groups)

    def take(self) -> set[str]:
        with self.lock:
            groups, self.groups = self.groups, set()
            return groups


_pending = _Pending()


#: Groups per MSET: redis-py packs a command's arguments in memory at once (one MSET of 100,000
#: accounts' histories, an import's, took 40 MB); a bump of more groups sends one MSET per slice.
BUMP_SLICE = 20_000


def bump(groups: Iterable[str]) -> None:
    """Invalidate every cached entry of these groups with one command (on Redis one MSET for up to
    `BUMP_SLICE` groups: 10,000 accounts' histories in a collection batch). The groups share the
    new token: each still gets a value it never had, which is all a token must be."""
    groups = set(groups)
    groups |= _pending.take()  # in place: no second set of an import's 100,000 groups
    if not groups:
        return
    if not redis_policy.enabled():
        cache.set_many(dict.fromkeys((generation_key(g, "local") for g in groups), _new_token()), None)
        return
    epoch = redis_policy.connect()
    if epoch is None:
        _pending.add(groups)
        return
    value = caches["default"].client.encode(_new_token())
    left = iter(groups)
    while part := list(islice(left, BUMP_SLICE)):
        try:
            redis_policy.client().mset({redis_policy.key(generation_key(g, epoch)): value for g in part})
        except redis.RedisError:  # counted and backed off by the policy; sent again with the next command
            _pending.add(part)
            _pending.add(left)
            return


@atexit.register
def _flush_pending() -> None:
    """A command-line write whose bump failed tries once more as the process exits."""
    if _pending.groups and redis_policy.available():
        bump(())


def connect() -> None:
    """Connect to Redis now, for a process about to start threads (the first bump would otherwise
    connect from a thread sharing the GIL with computing ones)."""
    if redis_policy.enabled():
        redis_policy.connect()


def invalidate(groups: Iterable[str]) -> None:
    """What a write calls: bump now, and again once the current transaction commits.

    The second bump matters: a read that slips in between the first bump and the commit sees the
    new tokens but the old rows, and would otherwise leave a stale entry under the new tokens.
    """
    groups = list(groups)
    bump(groups)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: bump(groups))


def invalidate_data(account_ids: Iterable[int] = ()) -> None:
    """`invalidate` for the shared data groups and the history of the given accounts."""
    histories = [history_group(a) for a in account_ids]
    if len(histories) > BULK_ACCOUNTS and transaction.get_connection().in_atomic_block:
        bump(DATA_GROUPS)
        transaction.on_commit(lambda: bump([*DATA_GROUPS, *histories]))
        return
    invalidate([*DATA_GROUPS, *histories])


def clear_responses() -> None:
    """Make every cached response stale, and what the shared groups derive (the grid's counts):
    one cache write, whatever the number of entries. For data changed behind the services' back."""
    bump([API_GROUP, *DATA_GROUPS])


# --- Entries ----------------------------------------------------------------------------------------

#: Bodies shorter than this are stored as they are (GZipMiddleware's own threshold).
GZIP_MIN_BYTES = 200

_ACCEPTS_GZIP = re.compile(r"\bgzip\b")
_JSON = JSONRenderer()

# (stamped tokens, status, content type, body, body is gzipped)
Entry = tuple[tuple[str, ...], int, str, bytes, bool]
# The current tokens as read: None where a token is missing (never made, evicted, a new epoch).
Tokens = tuple[str | None, ...]

#: Key of the WSGI environ (Django's `request.META`) holding the early answer's missed look-up
#: (entry key, epoch, tokens by group), so the view does not read them again.
LOOKED_UP = "socialmetrics.looked_up"


@dataclass(frozen=True, slots=True)
class CacheSpec:
    """Where a view's response is cached: the key's namespace, the lifetime's name in
    SOCIALMETRICS_CACHE_TIMEOUTS, the generation groups it is built from, and the path that
    stands for the request's in the key (so spellings of one resource share an entry)."""

    name: str
    timeout: str
    groups: tuple[str, ...]
    path: str | None = None


def role_of(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return "staff" if user.is_staff else "user"
    return "public"


#: What the key and the early answer need of a query string, by the query string as it came: a
#: query string always parses the same, and parsing, sorting and encoding it is 30 Python calls of
#: a hit with parameters. Emptied when full (a query string is at most gunicorn's 4 KB request line).
_queries: dict[str, tuple[bool, str]] = {}
_QUERIES_MAX = 1024


def _query(request) -> tuple[bool, str]:
    """(whether the query names `format`, its parameters sorted and encoded as the key has them)."""
    raw = request.META.get("QUERY_STRING", "")
    if not raw:
        return False, ""
    found = _queries.get(raw)
    if found is None:
        pairs = sorted((k, v) for k, values in request.GET.lists() for v in values)
        found = ("format" in request.GET, urlencode(pairs))
        if len(_queries) >= _QUERIES_MAX:
            _queries.clear()
        _queries[raw] = found
    return found


def response_key(*, name: str, request, path: str | None = None) -> str:
    path = (path or request.path).rstrip("/")
    digest = hashlib.blake2b(f"{path}?{_query(request)[1]}".encode(), digest_size=16).hexdigest()
    return f"resp:{name}:{role_of(request)}:{digest}"


def renders_plain_json(request) -> bool:
    """True when the answer is plain JSON (what the cache stores), not the browsable API or JSON
    with parameters (``application/json; indent=4``)."""
    return (
        request.method in ("GET", "HEAD")
        and isinstance(getattr(request, "accepted_renderer", None), JSONRenderer)
        and request.accepted_media_type == _JSON.media_type
    )


def _negotiated(entry: Entry, accept_encoding: str, plain: bytes | None = None) -> tuple[bytes, bool]:
    """(the body sent, whether gzipped): a gzipped entry's body as it is to a client that accepts
    gzip, decompressed (or `plain`, when at hand) to one that does not."""
    body, gzipped = entry[3], entry[4]
    if not gzipped:
        return body, False
    if _ACCEPTS_GZIP.search(accept_encoding):
        return body, True
    return plain or gzip.decompress(body), False


def _http_response(entry: Entry, *, request, state: str, plain: bytes | None = None) -> HttpResponse:
    """The entry as the view's response (the early answer makes its own: `EarlyAnswer`)."""
    _, status, content_type, _, gzipped = entry
    body, encoded = _negotiated(entry, request.META.get("HTTP_ACCEPT_ENCODING", ""), plain)
    response = HttpResponse(body, status=status, content_type=content_type)
    if encoded:
        response["Content-Encoding"] = "gzip"  # GZipMiddleware leaves it as it is
    if gzipped:
        response["Vary"] = "Accept-Encoding"  # REST framework and sessions add theirs after it
    response["X-Cache"] = state
    return response


class _Held(threading.local):
    """The connection each thread looks entries up on: taken from the process's pool once and kept,
    not taken and given back at every look-up (the pool's get_connection and release, with the
    poll of the socket before handing it out: 63 Python calls and a system call a hit). Another cache
    backend (the settings changed) or another process takes a new one; one that failed is closed
    by redis-py and reconnects (through the policy) at its next command.

    With it, the epoch its socket was opened under: the run_id of the server at the other end,
    which a restart cannot change without closing the socket, so it is read again only once the
    connection has (re)connected (the policy's epoch, read before and after: 36 calls a hit)."""

    backend = None
    pid = 0
    lease: _Lease | None = None
    connection: redis.connection.Connection
    socket = None
    epoch: str | None = None


class _Lease:
    """A connection taken from a pool, given back when dropped: when its thread ends (Python drops
    the thread's locals; threads that come and go, as `runserver`'s one per request, would
    otherwise use up the pool) or when the thread takes another."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self.connection = pool.get_connection()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # a process shutting down: nothing to give back to
            self.pool.release(self.connection)


_held = _Held()


def _connection(backend) -> redis.connection.Connection:
    held = _held
    if held.backend is not backend or held.pid != os.getpid():
        held.lease = None  # the connection held before goes back first
        held.lease = _Lease(backend.client.get_client(write=True).connection_pool)
        held.connection = held.lease.connection
        held.backend, held.pid, held.socket = backend, os.getpid(), None
    return held.connection


def hold_connection() -> None:
    """Take and open this thread's look-up connection now (a serving thread's warm-up), so its first
    request does not open one: a new connection's handshake is 4 round trips."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        _connection(backend).connect()


def _round_trip(connection: redis.connection.Connection, commands: list[tuple]) -> list:
    """The replies to `commands`, sent together on `connection`: a pipeline without the pipeline
    object. A connection that failed mid-way is closed, never used again out of step."""
    try:
        # hiredis packs each command in C: redis-py's packer checks and encodes every argument in
        # Python (49 calls a hit).
        connection.send_packed_command([b"".join([hiredis.pack_command(c) for c in commands])])
        return [connection.read_response() for _ in commands]
    except BaseException:
        connection.disconnect()
        raise


@functools.lru_cache(maxsize=4096)
def _stored_key(backend, name: str) -> str:
    """`backend.make_key(name)`: a backend's prefix and version do not change (10 calls a hit)."""
    return backend.make_key(name)


@functools.lru_cache(maxsize=256)
def _token(client, value: bytes) -> str:
    """A token as stored (a generation's, an entry's stamp), decoded: the same bytes always decode
    the same, and a token changes only when a write bumps it or an entry is stored (12 calls a hit)."""
    return client.decode(value)


def _look_up(
    groups: tuple[str, ...], key: str, window: Window | None
) -> tuple[str | None, Tokens, Entry | None, int | None]:
    """(epoch, the groups' current tokens, the entry under `key` if stamped with them, the throttle's
    new count). On Redis one round trip carries a failed bump sent again, the count, the tokens and
    the entry; the epoch is None when the cache is unreachable (nothing is served)."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        count = count_request(window) if window is not None else None
        gen_keys = [generation_key(g, "local") for g in groups]
        found = backend.get_many([*gen_keys, key])
        tokens = tuple(found.get(k) for k in gen_keys)
        return "local", tokens, _stamped(found.get(key), tokens), count
    unknown: Tokens = (None,) * len(groups)
    held = _held
    try:
        connection = _connection(backend)
    except redis.RedisError:  # counted and backed off by the policy: served from the database
        return None, unknown, None, None
    socket = connection._sock
    epoch = held.epoch if socket is not None and socket is held.socket else redis_policy.connect()
    if epoch is None:
        return None, unknown, None, None
    client = backend.client
    pending = _pending.take()
    commands: list[tuple] = []
    if pending:
        value = client.encode(_new_token())
        commands.append(
            ("MSET", *(a for g in pending for a in (backend.make_key(generation_key(g, epoch)), value)))
        )
    if window is not None:
        counter = _stored_key(backend, window.key)
        commands.append(("INCR", counter))
        commands.append(("EXPIRE", counter, window.period + 1, "NX"))
    # One MGET for the tokens and the entry (or only its stamp, when this process has a copy): a
    # command fewer to pack, send and read (about 7 us of CPU: four commands took 57 us on one
    # connection, one command 37 us).
    copy = _copies.get(key)
    entry_key, stamp = _stored_key(backend, key), _stored_key(backend, stamp_key(key))
    commands.append(
        (
            "MGET",
            *(_stored_key(backend, generation_key(g, epoch)) for g in groups),
            *((stamp,) if copy else (entry_key, stamp)),
        )
    )
    try:
        replies = _round_trip(connection, commands)
        if connection._sock is not held.socket:  # a new connection: its epoch is read after it opened
            if redis_policy.epoch() != epoch:  # a restarted server: trust nothing read under the old one
                return None, unknown, None, None
            held.socket, held.epoch = connection._sock, epoch
        found = replies[-1]
        tokens = tuple(None if v is None else _token(client, v) for v in found[: len(groups)])
        if copy is None:
            entry = _received(client, key, found[-2], found[-1])
        elif found[-1] is not None and _token(client, found[-1]) == copy[0]:
            entry = copy[1]
        else:  # stored again since (read it, once per process and version), expired or evicted
            _copies.drop(key)
            entry = _received(client, key, *_round_trip(connection, [("MGET", entry_key, stamp)])[0])
    except redis.RedisError:  # counted and backed off by the policy: served from the database
        _pending.add(pending)
        return None, unknown, None, None
    count = replies[-3] if window is not None else None
    return epoch, tokens, _stamped(entry, tokens), count


def _stamped(entry: Entry | None, tokens: Tokens) -> Entry | None:
    """`entry` if every token stamped on it is current (`tokens`, read in this request)."""
    return entry if entry is not None and None not in tokens and entry[0] == tokens else None


#: Entries whose body is at least this long are also kept by each process that serves them
#: (`_Copies`): a hit then reads the entry's stamp from Redis instead of the body (the 10,000-account
#: summary, 258 KB gzipped: 0.51 to 0.61 of the minimal view's requests/s).
COPY_FROM = 64 * 1024
#: The bodies one process keeps copies of, at most.
COPIES_BYTES = 32 * 1024 * 1024


def stamp_key(key: str) -> str:
    """The key of an entry's stamp: a new token stored with each version of the entry, in the same
    transaction and for the same time, so it names that version and lives as long as it."""
    return f"{key}:stamp"


class _Copies:
    """This process's copies of large entries on Redis, each with the stamp it was stored with. A
    copy is served only while Redis holds that same stamp (the entry neither stored again, nor
    expired, nor evicted with it) and, like any entry, under current generation tokens. The oldest
    go first beyond COPIES_BYTES."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, Entry]] = {}
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> tuple[str, Entry] | None:
        return self.entries.get(key)

    def keep(self, key: str, stamp: str, entry: Entry) -> None:
        with self.lock:
            self._drop(key)
            self.entries[key] = (stamp, entry)
            self.size += len(entry[3])
            while self.size > COPIES_BYTES:
                self._drop(next(iter(self.entries)))

    def drop(self, key: str) -> None:
        with self.lock:
            self._drop(key)

    def _drop(self, key: str) -> None:
        gone = self.entries.pop(key, None)
        if gone is not None:
            self.size -= len(gone[1][3])


_copies = _Copies()


def _received(client, key: str, value: bytes | None, stamp: bytes | None) -> Entry | None:
    """The entry read from Redis (with its stamp), a copy kept when it is large."""
    entry = None if value is None else client.decode(value)
    if entry is not None and stamp is not None and len(entry[3]) >= COPY_FROM:
        _copies.keep(key, _token(client, stamp), entry)
    return entry


def _store(key: str, entry: Entry, timeout: int) -> None:
    """Store an entry; on Redis with a new stamp, in one transaction, and a copy kept when large."""
    if not redis_policy.enabled():
        cache.set(key, entry, timeout=timeout)
        return
    stamp = _new_token()
    cache.set_many({key: entry, stamp_key(key): stamp}, timeout=timeout)
    if len(entry[3]) >= COPY_FROM:
        _copies.keep(key, stamp, entry)


def cached_response(*, request, spec: CacheSpec, build: Callable[[], Response]) -> HttpResponseBase:
    """Serve the response of `build` from the cache, or build, store and serve it."""
    if not renders_plain_json(request):
        return build()
    groups = (*spec.groups, API_GROUP)
    key = response_key(name=spec.name, request=request, path=spec.path)
    started = time.perf_counter()
    looked_up = request.META.get(LOOKED_UP)
    if looked_up is not None and looked_up[0] == key and looked_up[1] is not None:
        # The early answer's look-up missed a moment ago; a view may serve under other groups than
        # it guessed (a history whose remembered account id went stale): those are read afresh.
        epoch, by_group = looked_up[1], looked_up[2]
        tokens, entry = tuple(by_group.get(g) for g in groups), None
        if None in tokens and not all(g in by_group for g in groups):
            epoch, tokens, entry, _ = _look_up(groups, key, None)
    else:
        epoch, tokens, entry, _ = _look_up(groups, key, None)
    if entry is not None:
        metrics.note_cache(spec.name, hit=True, seconds=time.perf_counter() - started)
        return _http_response(entry, request=request, state="HIT")
    lookup_seconds = time.perf_counter() - started
    if epoch is not None and None in tokens:  # never created, evicted, or a new epoch: make them
        current = generations(groups)
        tokens = None if current is None else tuple(current[g] for g in groups)
    response = build()  # built after reading the tokens: a write meanwhile makes this entry stale
    if not isinstance(response, Response) or response.status_code != 200:
        return response
    if isinstance(response, PrerenderedJSON):
        body = response.body
    else:
        body = _JSON.render(response.data, _JSON.media_type, {})
    plain, gzipped = body, len(body) >= GZIP_MIN_BYTES
    if gzipped:
        body = compression.gzip_body(body)
    started = time.perf_counter()
    if epoch is not None and tokens is not None and None not in tokens:  # never under made-up tokens
        entry = (tokens, response.status_code, _JSON.media_type, body, gzipped)
        _store(key, entry, settings.SOCIALMETRICS_CACHE_TIMEOUTS[spec.timeout])
    else:
        entry = ((), response.status_code, _JSON.media_type, body, gzipped)
    metrics.note_cache(spec.name, hit=False, seconds=lookup_seconds + time.perf_counter() - started)
    return _http_response(entry, request=request, state="MISS", plain=plain)


@functools.cache
def _spec_of_view(view_class) -> CacheSpec:
    """A view's spec from its class attributes alone: made once, not at each hit (6 calls)."""
    timeout = view_class.cache_timeout or view_class.cache_name
    return CacheSpec(name=view_class.cache_name, timeout=timeout, groups=view_class.cache_groups)


class CachedReadMixin:
    """For API views: ``self.cached(request, build=...)`` under the view's `cache_spec`.

    `cache_spec` is a class method so that the early answer can find an entry before the view
    exists; it returns None when the key or the groups cannot be known without the database.
    """

    cache_name: str = ""
    cache_timeout: str = ""
    cache_groups: tuple[str, ...] = ()

    @classmethod
    def cache_spec(cls, request, kwargs: dict) -> CacheSpec | None:
        return _spec_of_view(cls)

    def cached(
        self, request, *, build: Callable[[], Response], spec: CacheSpec | None = None
    ) -> HttpResponseBase:
        spec = spec or self.cache_spec(request, self.kwargs)
        return cached_response(request=request, spec=spec, build=build)


# --- The early answer -------------------------------------------------------------------------------


def _plain_json_accepted(request) -> bool:
    """True when REST framework would answer this request with plain JSON: no ``format``
    parameter and an Accept header (if any) naming only application/json or */* without
    parameters. Anything else (a browser's text/html, ``indent=4``) is left to the view."""
    if _query(request)[0]:
        return False
    accept = request.META.get("HTTP_ACCEPT")
    if not accept:
        return True
    return all(item.strip() in ("*/*", "application/json") for item in accept.split(","))


@functools.lru_cache(maxsize=1024)
def _resolved(resolver: URLResolver, path_info: str) -> ResolverMatch | None:
    """`resolve()` of a path (None: no view), kept for the hits to come: the URLconf does not change
    while a process runs (a changed ROOT_URLCONF is another resolver). 90 of a hit's 1,280 calls."""
    try:
        return resolver.resolve(path_info)
    except Resolver404:
        return None


def _spec_of(request) -> tuple[Any, CacheSpec] | None:
    match = _resolved(get_resolver(get_urlconf()), request.path_info)
    if match is None:
        return None
    view_class = getattr(match.func, "cls", None)
    if view_class is None or not issubclass(view_class, CachedReadMixin):
        return None
    actions = getattr(match.func, "actions", None)  # a viewset: only its cached reads
    if actions is not None and actions.get("get") not in ("list", "retrieve"):
        return None
    spec = view_class.cache_spec(request, match.kwargs)
    return None if spec is None else (match, spec)


@functools.cache
def _allowed_methods(view) -> str:
    """The Allow header REST framework gives this view's answers."""
    actions = getattr(view, "actions", None) or {}
    names = [m for m in view.cls.http_method_names if m in actions or hasattr(view.cls, m)]
    if "get" in names and "head" not in names:
        names.append("head")
    return ", ".join(m.upper() for m in view.cls.http_method_names if m in names)


#: The status, headers and body of a hit as the whole stack would send them, X-Request-ID aside.
Hit = tuple[int, list[tuple[str, str]], bytes]
#: Key of the WSGI environ holding an exception the early answer met in front of Django's handler,
#: raised again where the middleware would have raised it (Django makes its error response).
FAILED = "socialmetrics.early_failure"


def _no_response(request):  # SecurityMiddleware and ContentSecurityPolicyMiddleware need one
    raise AssertionError("the early answer only reads these middleware's headers")


class EarlyAnswer:
    """The answer to an anonymous read from the cache, before Django's middleware, or None to let
    the request go the whole way. Exactly as if the view had answered: the host is checked, the
    request counted by the throttle (a refused request goes on to the view, which refuses it with
    the count already made: a refused request never gets a cached body), and an entry served only
    under current generation tokens.

    A hit gets here what the middleware below would add: the headers of SecurityMiddleware and
    ContentSecurityPolicyMiddleware, REST framework's Vary and Allow, XFrameOptionsMiddleware's
    header, the performance figures and Server-Timing (`socialmetrics.middleware.record`).
    WhiteNoise has nothing to add (it serves STATIC_URL, never /api/), nor has the database's.
    What it learns on the way (when it started, the throttle's count, a missed look-up) is left in
    the request's environ for the rest of the request.

    Two places call it: `ReadCacheApplication` in front of Django's handler (gunicorn), and
    `ReadCacheMiddleware` for a request that did not come through there (the test client, ASGI)."""

    def __init__(self) -> None:
        self.security = SecurityMiddleware(_no_response)
        # The headers those two add to a hit, by https or not, made by them once on a blank answer:
        # they depend on the settings only (read once, as SecurityMiddleware reads its own), a hit's
        # CSP never carrying a nonce (nothing renders one). 115 of a hit's 1,280 calls.
        self.headers = {secure: self._security_headers(secure) for secure in (False, True)}

    def _security_headers(self, secure: bool) -> tuple[tuple[str, str], ...]:
        request = WSGIRequest(
            {
                "REQUEST_METHOD": "GET",
                "wsgi.input": io.BytesIO(),
                "wsgi.url_scheme": "https" if secure else "http",
            }
        )
        response = ContentSecurityPolicyMiddleware(_no_response).process_response(request, HttpResponse())
        response = self.security.process_response(request, response)
        blank = HttpResponse()
        return tuple((name, value) for name, value in response.items() if name not in blank)

    def __call__(self, request, environ: dict, started: float) -> Hit | None:
        """`request`: Django's request; `environ`: where the outcome is left (its META, or the WSGI
        environ it was made from); `started`: when the request was first seen."""
        metrics.begin_request()
        # An http:// request that SECURE_SSL_REDIRECT sends to https:// goes down to be redirected.
        if self.security.process_request(request) is not None:
            return None
        if request.method not in ("GET", "HEAD") or not request.path_info.startswith("/api/"):
            return None
        meta = request.META
        # Cookies parsed only when sent: 9 calls a hit for clients that send none.
        if ("HTTP_COOKIE" in meta and settings.SESSION_COOKIE_NAME in request.COOKIES) or (
            "HTTP_AUTHORIZATION" in meta
        ):
            return None  # maybe signed in: another role's entry, or a refusal, is the view's to decide
        if not reads_are_public() or not _plain_json_accepted(request):
            return None
        if settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW:
            return None  # CommonMiddleware's to refuse, or to redirect to www.
        try:
            request.get_host()
        except DisallowedHost:
            return None  # refused by CommonMiddleware with a 400, with every header the stack adds
        found_spec = _spec_of(request)
        if found_spec is None:
            return None
        match, spec = found_spec
        window = anon_window(request)
        groups = (*spec.groups, API_GROUP)
        key = response_key(name=spec.name, request=request, path=spec.path)
        looked_up = time.perf_counter()
        epoch, tokens, entry, count = _look_up(groups, key, window)
        if window is not None and epoch is not None:
            environ[COUNTED] = count
            if not window.allows(count):
                return None
        if entry is None:
            environ[LOOKED_UP] = (key, epoch, dict(zip(groups, tokens, strict=True)))
            return None
        metrics.note_cache(spec.name, hit=True, seconds=time.perf_counter() - looked_up)
        status, content_type, gzipped = entry[1], entry[2], entry[4]
        body, encoded = _negotiated(entry, meta.get("HTTP_ACCEPT_ENCODING", ""))
        headers = [("Content-Type", content_type)]
        if encoded:
            headers.append(("Content-Encoding", "gzip"))
        headers += (
            # As patch_vary_headers() makes it: the view's Accept-Encoding, REST framework's Accept,
            # the session middleware's Cookie.
            ("Vary", "Accept-Encoding, Accept, Cookie" if gzipped else "Accept, Cookie"),
            ("X-Cache", "HIT"),
            ("Allow", _allowed_methods(match.func)),
            ("X-Frame-Options", settings.X_FRAME_OPTIONS),
            *self.headers[request.is_secure()],
        )
        request.resolver_match = match
        timing = record(
            match,
            request.path,
            status,
            seconds=time.perf_counter() - started,
            cache_seconds=metrics.end_request(),
        )
        if timing is not None:
            headers.append(("Server-Timing", timing))
        return status, headers, body


class ReadCacheMiddleware:
    """Answers anonymous cache hits of the read endpoints (`EarlyAnswer`) right after the request
    id is given, before the rest of the stack, for requests that did not pass `ReadCacheApplication`
    (the test client, ASGI). Everything else goes on down the stack, timed from here."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.early = EarlyAnswer()

    def __call__(self, request):
        meta = request.META
        if STARTED in meta:  # tried in front of Django's handler already
            failure = meta.pop(FAILED, None)
            if failure is not None:
                raise failure
            return self.get_response(request)
        started = meta[STARTED] = time.perf_counter()
        hit = self.early(request, meta, started)
        if hit is None:
            return self.get_response(request)
        status, headers, body = hit
        return HttpResponse(body, status=status, headers=dict(headers))


class ReadCacheApplication:
    """The WSGI application gunicorn serves (socialmetrics/wsgi.py): Django's, with anonymous cache
    hits of the read API answered in front of its handler (`EarlyAnswer`), saving what a request
    costs there (its signals, the request and response objects, the middleware calls: 300 of a hit's
    1,037 Python calls). Everything else, misses included, goes to Django's handler with what the
    early answer learnt in its environ (the look-up, the count, the request id, when it started)."""

    def __init__(self, application) -> None:
        self.application = application
        self.early = EarlyAnswer()

    def __call__(self, environ: dict, start_response):
        if environ["REQUEST_METHOD"] in ("GET", "HEAD") and environ.get("PATH_INFO", "").startswith("/api/"):
            started = environ[STARTED] = time.perf_counter()
            request_id = logs.start_request(environ)
            # A copy: Django's request rewrites PATH_INFO and SCRIPT_NAME in the environ it is given,
            # and Django's handler makes its own request from the environ as it came.
            request = WSGIRequest(environ.copy())
            try:
                hit = self.early(request, environ, started)
            except Exception as exc:
                environ[FAILED] = exc
                hit = None
            if hit is not None:
                status, headers, body = hit
                headers.append((logs.HEADER, request_id))
                start_response(_status_line(status), headers)
                return [body]
        return self.application(environ, start_response)


@functools.cache
def _status_line(status: int) -> str:
    """As Django's handler writes it."""
    return f"{status} {responses.get(status, 'Unknown Status Code')}"

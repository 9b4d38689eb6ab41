"""The read cache: how a read of the API is served from the cache, and how a write makes it stale.

```
GET /api/grid?page=3
  RequestIdMiddleware -> ReadCacheMiddleware (here)
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
GET/HEAD are stored; the browsable API and errors are not.

**The early answer.** `ReadCacheMiddleware`, second in the stack, answers anonymous hits before
the performance, security, sessions, authentication and REST framework middleware, counting the
throttle in the same round trip and giving the answer those would have given it (headers,
figures). Only requests that provably get the same answer from the view qualify (no session cookie
or Authorization header, reads public, plain JSON accepted, the host allowed, https when required,
within the throttle); everything else goes the whole way.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import hashlib
import io
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

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
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from socialmetrics import compression, metrics, redis_policy
from socialmetrics.api.permissions import reads_are_public
from socialmetrics.api.rendering import PrerenderedJSON
from socialmetrics.api.throttling import COUNTED, Window, anon_window, count_request
from socialmetrics.middleware import STARTED, record_response

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


def bump(groups: Iterable[str]) -> None:
    """Invalidate every cached entry of these groups with one command (on Redis one MSET, whatever
    the number of groups: 10,000 accounts' histories in a collection batch). The groups share the
    new token: each still gets a value it never had, which is all a token must be."""
    groups = set(groups) | _pending.take()
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
    try:
        redis_policy.client().mset({redis_policy.key(generation_key(g, epoch)): value for g in groups})
    except redis.RedisError:  # counted and backed off by the policy; sent again with the next command
        _pending.add(groups)


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

#: Attribute of the Django request holding the early answer's missed look-up (entry key, epoch,
#: tokens by group), so the view does not read them again.
LOOKED_UP = "_socialmetrics_looked_up"

#: Headers every answer of a cached view carries (REST framework's Vary, the session middleware's).
_VARY = ("Accept", "Cookie")


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


def response_key(*, name: str, request, path: str | None = None) -> str:
    path = (path or request.path).rstrip("/")
    query = urlencode(sorted((k, v) for k, values in request.GET.lists() for v in values))
    digest = hashlib.blake2b(f"{path}?{query}".encode(), digest_size=16).hexdigest()
    return f"resp:{name}:{role_of(request)}:{digest}"


def renders_plain_json(request) -> bool:
    """True when the answer is plain JSON (what the cache stores), not the browsable API or JSON
    with parameters (``application/json; indent=4``)."""
    return (
        request.method in ("GET", "HEAD")
        and isinstance(getattr(request, "accepted_renderer", None), JSONRenderer)
        and request.accepted_media_type == _JSON.media_type
    )


def _http_response(
    entry: Entry, *, request, state: str, plain: bytes | None = None, vary: tuple[str, ...] = ()
) -> HttpResponse:
    """The entry as a response: its gzipped body as it is to a client that accepts gzip. `vary`: the
    Vary the answer ends with besides Accept-Encoding (what the middleware that it skips would add)."""
    _, status, content_type, body, gzipped = entry
    if gzipped:
        if _ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            response = HttpResponse(body, status=status, content_type=content_type)
            response["Content-Encoding"] = "gzip"  # GZipMiddleware leaves it as it is
        else:
            response = HttpResponse(plain or gzip.decompress(body), status=status, content_type=content_type)
        vary = ("Accept-Encoding", *vary)
    else:
        response = HttpResponse(body, status=status, content_type=content_type)
    if vary:
        response["Vary"] = ", ".join(vary)  # as patch_vary_headers() would make it on a new response
    response["X-Cache"] = state
    return response


def _round_trip(commands: list[tuple]) -> list:
    """The replies to `commands`, sent together on one pooled connection of the process's Redis
    client: its pipeline without the pipeline object, 57 instead of 100 us of CPU for a hit's four
    commands. A connection that failed mid-way is closed, never handed back out of step."""
    pool = redis_policy.client().connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(connection.pack_commands(commands))
        return [connection.read_response() for _ in commands]
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _look_up(
    groups: tuple[str, ...], key: str, window: Window | None
) -> tuple[str | None, Tokens, Entry | None, int | None]:
    """(epoch, the groups' current tokens, the entry under `key` if stamped with them, the throttle's
    new count). On Redis one round trip carries a failed bump sent again, the count, the tokens and
    the entry; the epoch is None when the cache is unreachable (nothing is served)."""
    if not redis_policy.enabled():
        count = count_request(window) if window is not None else None
        gen_keys = [generation_key(g, "local") for g in groups]
        found = cache.get_many([*gen_keys, key])
        tokens = tuple(found.get(k) for k in gen_keys)
        return "local", tokens, _stamped(found.get(key), tokens), count
    unknown: Tokens = (None,) * len(groups)
    epoch = redis_policy.connect()
    if epoch is None:
        return None, unknown, None, None
    backend = caches["default"]
    client = backend.client
    pending = _pending.take()
    commands: list[tuple] = []
    if pending:
        value = client.encode(_new_token())
        commands.append(
            ("MSET", *(a for g in pending for a in (backend.make_key(generation_key(g, epoch)), value)))
        )
    if window is not None:
        counter = backend.make_key(window.key)
        commands.append(("INCR", counter))
        commands.append(("EXPIRE", counter, window.period + 1, "NX"))
    # One MGET for the tokens and the entry: a command fewer to pack, send and read (about 7 us
    # of CPU: four commands took 57 us on one connection, one command 37 us).
    commands.append(
        ("MGET", *(backend.make_key(generation_key(g, epoch)) for g in groups), backend.make_key(key))
    )
    try:
        replies = _round_trip(commands)
    except redis.RedisError:  # counted and backed off by the policy: served from the database
        _pending.add(pending)
        return None, unknown, None, None
    if redis_policy.epoch() != epoch:  # reconnected to a restarted server meanwhile: trust nothing
        return None, unknown, None, None
    count = replies[-3] if window is not None else None
    *found, value = replies[-1]
    tokens = tuple(None if v is None else client.decode(v) for v in found)
    return epoch, tokens, _stamped(None if value is None else client.decode(value), tokens), count


def _stamped(entry: Entry | None, tokens: Tokens) -> Entry | None:
    """`entry` if every token stamped on it is current (`tokens`, read in this request)."""
    return entry if entry is not None and None not in tokens and entry[0] == tokens else None


def cached_response(*, request, spec: CacheSpec, build: Callable[[], Response]) -> HttpResponseBase:
    """Serve the response of `build` from the cache, or build, store and serve it."""
    if not renders_plain_json(request):
        return build()
    groups = (*spec.groups, API_GROUP)
    key = response_key(name=spec.name, request=request, path=spec.path)
    started = time.perf_counter()
    looked_up = getattr(getattr(request, "_request", request), LOOKED_UP, None)
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
        cache.set(key, entry, timeout=settings.SOCIALMETRICS_CACHE_TIMEOUTS[spec.timeout])
    else:
        entry = ((), response.status_code, _JSON.media_type, body, gzipped)
    metrics.note_cache(spec.name, hit=False, seconds=lookup_seconds + time.perf_counter() - started)
    return _http_response(entry, request=request, state="MISS", plain=plain)


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
        timeout = cls.cache_timeout or cls.cache_name
        return CacheSpec(name=cls.cache_name, timeout=timeout, groups=cls.cache_groups)

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
    if "format" in request.GET:
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


def early_response(request) -> HttpResponse | None:
    """The cached answer to an anonymous read, or None to let the request go the whole way.

    Exactly as if the view had answered: the host is checked, the request counted by the throttle
    (refused requests go on to the view, which refuses them with the count already made), and an
    entry served only under current generation tokens.
    """
    if request.method not in ("GET", "HEAD") or not request.path_info.startswith("/api/"):
        return None
    if settings.SESSION_COOKIE_NAME in request.COOKIES or "HTTP_AUTHORIZATION" in request.META:
        return None  # maybe signed in: another role's entry, or a refusal, is the view's to decide
    if not reads_are_public() or not _plain_json_accepted(request):
        return None
    if settings.DISALLOWED_USER_AGENTS:
        return None  # CommonMiddleware's to refuse
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
    started = time.perf_counter()
    epoch, tokens, entry, count = _look_up(groups, key, window)
    if window is not None and epoch is not None:
        setattr(request, COUNTED, count)
        if not window.allows(count):
            return None
    if entry is None:
        setattr(request, LOOKED_UP, (key, epoch, dict(zip(groups, tokens, strict=True))))
        return None
    request.resolver_match = match  # the endpoint the performance figures file it under
    metrics.note_cache(spec.name, hit=True, seconds=time.perf_counter() - started)
    response = _http_response(entry, request=request, state="HIT", vary=_VARY)
    response["Allow"] = _allowed_methods(match.func)
    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    return response


class ReadCacheMiddleware:
    """Answers anonymous cache hits of the read endpoints (`early_response`) right after the request
    id is given, before the rest of the stack. A hit gets here what the middleware below would add:
    the performance figures and Server-Timing (`socialmetrics.middleware.record_response`), and the
    headers of SecurityMiddleware and ContentSecurityPolicyMiddleware. WhiteNoise has nothing to
    add (it serves STATIC_URL, never /api/), nor has the database's. Everything else goes on down
    the stack, timed from here."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.security = SecurityMiddleware(get_response)
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
        response = ContentSecurityPolicyMiddleware(self.get_response).process_response(
            request, HttpResponse()
        )
        response = self.security.process_response(request, response)
        blank = HttpResponse()
        return tuple((name, value) for name, value in response.items() if name not in blank)

    def __call__(self, request):
        started = time.perf_counter()
        metrics.begin_request()
        # An http:// request that SECURE_SSL_REDIRECT sends to https:// goes down to be redirected.
        response = early_response(request) if self.security.process_request(request) is None else None
        if response is None:
            setattr(request, STARTED, started)
            return self.get_response(request)
        for name, value in self.headers[request.is_secure()]:
            response[name] = value
        seconds = time.perf_counter() - started
        record_response(request, response, seconds=seconds, cache_seconds=metrics.end_request())
        return response

"""Whole-response caching of the read endpoints: one cache round trip per hit.

An entry is the pre-rendered response (status, content type, body, gzipped when that pays) stamped
with the generation tokens (`socialmetrics.cache`) of the groups it was built from, plus the
API-wide group that ``DELETE /api/cache`` replaces. A request reads the current tokens and the
entry in one round trip (`_look_up`); the entry is served only if every stamped token is current.
A write never looks for entries: it replaces the tokens of the groups it touched, so the next read
in any process misses and rebuilds from the database.

The key is (endpoint, role, path + sorted query string). Role is public / user / staff: the
permission check runs before the cache is consulted, and a role never reads another role's entry.
Only JSON responses to GET/HEAD with status 200 are cached; the browsable API and errors are not.
If the cache is down, the look-up answers nothing and every request is built from the database.

Anonymous hits are answered earlier still, by `CachedReadMiddleware` through `early_response`:
before sessions, authentication and REST framework, with the throttle's count and the look-up in
one round trip. Only requests that provably get the same answer from the view qualify (no session
cookie, no Authorization header, reads public, plain JSON accepted, the host allowed, within the
throttle); everything else, and every miss, goes the whole way.

On Redis, a large entry (the 10,000-account summary: 180 KB gzipped) is also held by the process
that built or read it (`HeldEntries`): while it holds a copy, a hit's round trip carries the tokens
alone, and the copy is served under the same rule as the entry in Redis (stamped with the tokens
read in this request) and no longer than Redis keeps the original. Local memory skips this: its
entries are in the process already.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils.cache import patch_vary_headers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from socialmetrics import cache as generations
from socialmetrics import metrics
from socialmetrics.cache import RedisCache, redis_logger
from socialmetrics.compression import gzip_bytes

from .permissions import reads_are_public
from .rendering import PrerenderedJSON
from .throttling import COUNTED, Window, anon_window, count_request

#: Every cached response depends on this group too; replacing its token empties the response cache.
API_GROUP = "api"
#: Bodies shorter than this are stored as they are (GZipMiddleware's own threshold).
GZIP_MIN_BYTES = 200
#: Bodies longer than this are compressed at the fastest level (a 10,000-account summary: 1.4 MB).
FAST_GZIP_ABOVE = 256 * 1024
#: Entries whose stored body is at least this long are held by each process (`HeldEntries`): moving
#: and unpickling them from Redis costs more than the rest of a hit. Smaller ones are read each time.
HOLD_MIN_BYTES = 32 * 1024
#: The stored bodies a process holds, in all (per gunicorn worker); the least recently used go first.
HOLD_MAX_BYTES = 64 * 1024 * 1024

_ACCEPTS_GZIP = re.compile(r"\bgzip\b")
_JSON = JSONRenderer()

# (stamped tokens, status, content type, body, body is gzipped)
Entry = tuple[tuple[str, ...], int, str, bytes, bool]
# The current generation tokens, as read: None where a token is missing (never made, evicted, flushed).
Tokens = tuple[str | None, ...]

#: Attribute of the Django request holding the early answer's missed look-up: (entry key, tokens by
#: generation key). By key, not in order: a view may serve under other groups than the early answer
#: guessed (a history whose remembered account id went stale), and those tokens it reads afresh.
LOOKED_UP = "_socialmetrics_looked_up"

#: Headers every answer of a cached view carries, early or not (REST framework's Vary and Allow, the
#: session middleware's Vary, the clickjacking middleware's X-Frame-Options).
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


generation_key = generations.generation_key


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


def _http_response(entry: Entry, *, request, state: str, plain: bytes | None = None) -> HttpResponse:
    """The entry as a response: its gzipped body as it is to a client that accepts gzip."""
    _, status, content_type, body, gzipped = entry
    if gzipped:
        if _ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            response = HttpResponse(body, status=status, content_type=content_type)
            response["Content-Encoding"] = "gzip"  # GZipMiddleware leaves it as it is
        else:
            response = HttpResponse(plain or gzip.decompress(body), status=status, content_type=content_type)
        patch_vary_headers(response, ("Accept-Encoding",))
    else:
        response = HttpResponse(body, status=status, content_type=content_type)
    response["X-Cache"] = state
    return response


def cached_response(*, request, spec: CacheSpec, build: Callable[[], Response]) -> HttpResponseBase:
    """Serve the response of `build` from the cache, or build, store and serve it."""
    if not renders_plain_json(request):
        return build()
    groups = [*spec.groups, API_GROUP]
    gen_keys = [generation_key(g) for g in groups]
    key = response_key(name=spec.name, request=request, path=spec.path)
    started = time.perf_counter()
    looked_up = getattr(getattr(request, "_request", request), LOOKED_UP, None)
    if looked_up is not None and looked_up[0] == key:  # the early answer's look-up missed a moment ago
        tokens, entry = tuple(looked_up[1].get(k) for k in gen_keys), None
    else:
        tokens, entry, _ = _look_up(gen_keys, key, None)
    if entry is not None:
        metrics.note_cache(spec.name, hit=True, seconds=time.perf_counter() - started)
        return _http_response(entry, request=request, state="HIT")
    lookup_seconds = time.perf_counter() - started

    if None in tokens:  # never created, evicted or flushed: make them (or read another process's)
        current = generations.generations(groups)
        tokens = tuple(current[g] for g in groups)
    response = build()  # built after reading the tokens: a write meanwhile makes this entry stale
    if not isinstance(response, Response) or response.status_code != 200:
        return response
    if isinstance(response, PrerenderedJSON):
        body = response.body
    else:
        body = _JSON.render(response.data, _JSON.media_type, {})
    plain, gzipped = body, len(body) >= GZIP_MIN_BYTES
    if gzipped:  # the fastest level for large bodies: about 3x faster, about 30% larger
        body = gzip_bytes(body, level=6 if len(body) < FAST_GZIP_ABOVE else 1)
    entry = (tokens, response.status_code, _JSON.media_type, body, gzipped)
    timeout = settings.SOCIALMETRICS_CACHE_TIMEOUTS[spec.timeout]
    started, set_at = time.perf_counter(), time.monotonic()
    stored = cache.set(key, entry, timeout=timeout)  # django-redis: True once Redis has it
    if stored and _on_redis():  # with Redis down, the tokens were made up here: never held
        held_entries.remember(key, entry, deadline=set_at + timeout)
    metrics.note_cache(spec.name, hit=False, seconds=lookup_seconds + time.perf_counter() - started)
    return _http_response(entry, request=request, state="MISS", plain=plain)


def _stamped(entry: Entry | None, tokens: Tokens) -> Entry | None:
    """`entry` if every token stamped on it is current (`tokens`, read in this request)."""
    return entry if entry is not None and None not in tokens and entry[0] == tokens else None


def _on_redis() -> bool:
    return RedisCache is not None and isinstance(caches["default"], RedisCache)


class HeldEntries:
    """Large entries this process built or read from Redis, by key, least recently used first.

    Holding a copy saves moving and unpickling its body on each hit, never makes it fresher: it is
    served only when its stamp equals the tokens read in the same request (a write anywhere replaces
    them), and not after `deadline`, when Redis drops the original (the entries' timeouts bound
    how long data changed behind the services' back can show). Thread-safe: gunicorn's gthread
    workers serve from several threads.
    """

    def __init__(self, *, min_bytes: int, max_bytes: int) -> None:
        self.min_bytes = min_bytes
        self.max_bytes = max_bytes
        self.size = 0  # bytes of the bodies held
        self._entries: OrderedDict[str, tuple[Entry, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            held = self._entries.get(key)
            if held is None:
                return None
            if held[1] <= time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return held[0]

    def remember(self, key: str, entry: Entry, *, deadline: float) -> None:
        """Hold `entry` until `deadline` (a `time.monotonic()`) if its body is large and fits."""
        size = len(entry[3])
        if not self.min_bytes <= size <= self.max_bytes:
            return
        with self._lock:
            self._drop(key)
            self._entries[key] = (entry, deadline)
            self.size += size
            while self.size > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def forget(self, key: str, entry: Entry) -> None:
        """Drop the copy of `key` if it is `entry` (found stale): a copy another thread has held
        meanwhile is newer. Left in place, a stale copy would cost every later hit a second read."""
        with self._lock:
            held = self._entries.get(key)
            if held is not None and held[0] is entry:
                self._drop(key)

    def _drop(self, key: str) -> None:
        held = self._entries.pop(key, None)
        if held is not None:
            self.size -= len(held[0][3])


#: This process's held entries.
held_entries = HeldEntries(min_bytes=HOLD_MIN_BYTES, max_bytes=HOLD_MAX_BYTES)


def _look_up(gen_keys: list[str], key: str, window: Window | None) -> tuple[Tokens, Entry | None, int | None]:
    """The current tokens of `gen_keys`, the entry under `key` if it is stamped with them, and the
    throttle's new count (None: not counted or cache unavailable).

    On Redis one pipelined round trip carries the count, the tokens and the entry, or only the
    tokens when this process holds a copy. A held copy found stale costs a second round trip for
    the entry in Redis rather than a rebuild: after a write, the first process to miss rebuilds and
    stores it, and the others read it instead of each building a 10,000-account summary again.
    """
    if not _on_redis():
        count = count_request(window) if window is not None else None
        found = cache.get_many([*gen_keys, key])
        tokens = tuple(found.get(k) for k in gen_keys)
        return tokens, _stamped(found.get(key), tokens), count
    client = caches["default"].client
    held = held_entries.get(key)
    try:
        redis = client.get_client(write=True)
        entry_key = client.make_key(key)
        pipe = redis.pipeline(transaction=False)
        if window is not None:
            counter = client.make_key(window.key)
            pipe.incr(counter)
            pipe.expire(counter, window.period + 1, nx=True)
        pipe.mget([client.make_key(k) for k in gen_keys])
        if held is None:
            pipe.get(entry_key).pttl(entry_key)
        sent = time.monotonic()
        replies = pipe.execute()
    except Exception:  # Redis down: as django-redis does, log (counted) and carry on uncached
        redis_logger.exception("Exception ignored")
        return (None,) * len(gen_keys), None, None
    count = replies[0] if window is not None else None
    tokens = tuple(None if v is None else client.decode(v) for v in replies[2 if window is not None else 0])
    if held is not None:
        if held[0] == tokens:
            return tokens, held, count
        held_entries.forget(key, held)
        if None in tokens:
            return tokens, None, count
        try:
            sent = time.monotonic()
            replies = redis.pipeline(transaction=False).get(entry_key).pttl(entry_key).execute()
        except Exception:  # as above, with the count made
            redis_logger.exception("Exception ignored")
            return tokens, None, count
    value, ttl_ms = replies[-2:]
    entry = _stamped(None if value is None else client.decode(value), tokens)
    if entry is not None and ttl_ms > 0:  # PTTL is measured after `sent`: the copy goes no later
        held_entries.remember(key, entry, deadline=sent + ttl_ms / 1000)
    return tokens, entry, count


def clear_responses() -> None:
    """Make every cached response stale, and what the shared groups derive (the grid's counts):
    one cache write, whatever the number of entries. For data changed behind the services' back."""
    generations.bump([API_GROUP, *generations.DATA_GROUPS])


class CachedReadMixin:
    """For API views: ``self.cached(request, build=...)`` under the view's `cache_spec`.

    `cache_spec` is a class method so that `early_response` can find an entry before the view
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


# --- The early answer ---------------------------------------------------------------------------


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


def _spec_of(request) -> tuple[Any, CacheSpec] | None:
    try:
        match = resolve(request.path_info)
    except Resolver404:
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
    request.get_host()  # DisallowedHost (a 400) as CommonMiddleware would raise it
    found_spec = _spec_of(request)
    if found_spec is None:
        return None
    match, spec = found_spec
    window = anon_window(request)
    gen_keys = [generation_key(g) for g in (*spec.groups, API_GROUP)]
    key = response_key(name=spec.name, request=request, path=spec.path)
    started = time.perf_counter()
    tokens, entry, count = _look_up(gen_keys, key, window)
    if window is not None:
        setattr(request, COUNTED, count)
        if not window.allows(count):
            return None
    if entry is None:
        setattr(request, LOOKED_UP, (key, dict(zip(gen_keys, tokens, strict=True))))  # no re-read
        return None
    request.resolver_match = match  # the endpoint the performance figures file it under
    metrics.note_cache(spec.name, hit=True, seconds=time.perf_counter() - started)
    response = _http_response(entry, request=request, state="HIT")
    patch_vary_headers(response, _VARY)
    response["Allow"] = _allowed_methods(match.func)
    response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
    return response


class CachedReadMiddleware:
    """Answers anonymous cache hits of the read endpoints before the rest of the stack (sessions,
    authentication, CSRF, REST framework): `early_response`. Place it after SecurityMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return early_response(request) or self.get_response(request)

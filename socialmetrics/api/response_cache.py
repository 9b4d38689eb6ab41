"""Whole-response caching of the read endpoints: one cache round trip per hit.

An entry is the pre-rendered response (status, content type, body, gzipped when that pays) stamped
with the generation tokens (`socialmetrics.cache`) of the groups it was built from, plus the
API-wide group that ``DELETE /api/cache`` replaces. A request reads the current tokens and the
entry with one ``get_many``; the entry is served only if every stamped token is still current.
A write never looks for entries: it replaces the tokens of the groups it touched, so the next read
in any process misses and rebuilds from the database.

The key is (endpoint, role, path + sorted query string). Role is public / user / staff: the
permission check runs before the cache is consulted, and a role never reads another role's entry.
Only JSON responses to GET/HEAD with status 200 are cached; the browsable API and errors are not.
If the cache is down, ``get_many`` answers nothing and every request is built from the database.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from socialmetrics import cache as generations
from socialmetrics import metrics

from .rendering import PrerenderedJSON

#: Every cached response depends on this group too; replacing its token empties the response cache.
API_GROUP = "api"
#: Bodies shorter than this are stored as they are (GZipMiddleware's own threshold).
GZIP_MIN_BYTES = 200
#: Bodies longer than this are compressed at the fastest level (a 10,000-account summary: 1.4 MB).
FAST_GZIP_ABOVE = 256 * 1024

_ACCEPTS_GZIP = re.compile(r"\bgzip\b")
_JSON = JSONRenderer()

# (stamped tokens, status, content type, body, body is gzipped)
Entry = tuple[tuple[str, ...], int, str, bytes, bool]


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


def cached_response(
    *,
    request,
    name: str,
    timeout: str,
    groups: Sequence[str],
    build: Callable[[], Response],
    path: str | None = None,
) -> HttpResponseBase:
    """Serve the response of `build` from the cache, or build, store and serve it.

    `name` namespaces the key (one per endpoint), `timeout` names the entry's lifetime in
    SOCIALMETRICS_CACHE_TIMEOUTS, `groups` are the generation groups the data comes from, and
    `path` may replace the request's path in the key (so spellings of one resource share an entry).
    """
    if not renders_plain_json(request):
        return build()
    groups = [*groups, API_GROUP]
    gen_keys = [generation_key(g) for g in groups]
    key = response_key(name=name, request=request, path=path)
    started = time.perf_counter()
    found: dict[str, Any] = cache.get_many([*gen_keys, key])
    tokens = tuple(found.get(k) for k in gen_keys)
    entry = found.get(key)
    if entry is not None and None not in tokens and entry[0] == tokens:
        metrics.note_cache(name, hit=True, seconds=time.perf_counter() - started)
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
        body = gzip.compress(body, compresslevel=6 if len(body) < FAST_GZIP_ABOVE else 1, mtime=0)
    entry = (tokens, response.status_code, _JSON.media_type, body, gzipped)
    started = time.perf_counter()
    cache.set(key, entry, timeout=settings.SOCIALMETRICS_CACHE_TIMEOUTS[timeout])
    metrics.note_cache(name, hit=False, seconds=lookup_seconds + time.perf_counter() - started)
    return _http_response(entry, request=request, state="MISS", plain=plain)


def clear_responses() -> None:
    """Make every cached response stale, and what the shared groups derive (the grid's counts):
    one cache write, whatever the number of entries. For data changed behind the services' back."""
    generations.bump([API_GROUP, *generations.DATA_GROUPS])


class CachedReadMixin:
    """For API views: ``self.cached(request, groups=..., build=...)`` with the view's cache names."""

    cache_name: str = ""
    cache_timeout: str = ""

    def cached(
        self, request, *, groups: Sequence[str], build: Callable[[], Response], path: str | None = None
    ) -> HttpResponseBase:
        return cached_response(
            request=request,
            name=self.cache_name,
            timeout=self.cache_timeout or self.cache_name,
            groups=groups,
            build=build,
            path=path,
        )

"""Request timing for the performance figures (socialmetrics.metrics), and the Server-Timing header;
a database that cannot be reached answered with a 503 in seconds, not a 500 after the pool's wait."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connections
from django.http import HttpResponse, JsonResponse

from . import db, metrics
from .api.errors import error_body, is_api_path

logger = logging.getLogger(__name__)


class _QueryTimer:
    """`connection.execute_wrapper`: counts the request's queries and their time."""

    __slots__ = ("count", "seconds")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.count += 1


#: Key of the WSGI environ (Django's `request.META`) holding when the read cache's early answer saw
#: the request (`socialmetrics.cache`, in front of Django's handler or above this middleware), so a
#: request it hands on is timed from there.
STARTED = "socialmetrics.started"


def record(
    match,
    path: str,
    status: int,
    *,
    seconds: float,
    db_queries: int = 0,
    db_seconds: float = 0.0,
    cache_seconds: float = 0.0,
) -> str | None:
    """The request in the performance figures, under its endpoint (`match`: its ResolverMatch, None
    when no view matched); returns its Server-Timing header (API and health answers, else None)."""
    endpoint = (match.view_name if match else "") or "unmatched"
    if not endpoint.startswith("djdt:"):
        metrics.record_request(
            endpoint=endpoint,
            status=status,
            seconds=seconds,
            db_queries=db_queries,
            db_seconds=db_seconds,
        )
    if path.startswith("/api/") or path.startswith("/health/"):
        return (
            f'db;desc="{db_queries} queries";dur={db_seconds * 1000:.2f}, '
            f"cache;dur={cache_seconds * 1000:.2f}, total;dur={seconds * 1000:.2f}"
        )
    return None


def record_response(
    request,
    response,
    *,
    seconds: float,
    db_queries: int = 0,
    db_seconds: float = 0.0,
    cache_seconds: float = 0.0,
) -> None:
    """`record` for a Django request and response: its Server-Timing header set on the response."""
    timing = record(
        getattr(request, "resolver_match", None),
        request.path,
        response.status_code,
        seconds=seconds,
        db_queries=db_queries,
        db_seconds=db_seconds,
        cache_seconds=cache_seconds,
    )
    if timing is not None:
        response["Server-Timing"] = timing


class PerformanceMiddleware:
    """Records every request per endpoint (the URL pattern's name) with its database work."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = request.META.get(STARTED) or time.perf_counter()
        timer = _QueryTimer()
        metrics.begin_request()
        with connections["default"].execute_wrapper(timer):
            response = self.get_response(request)
        record_response(
            request,
            response,
            seconds=time.perf_counter() - started,
            db_queries=timer.count,
            db_seconds=timer.seconds,
            cache_seconds=metrics.end_request(),
        )
        return response


_UNAVAILABLE_MESSAGE = "The database cannot be reached right now; try again in a moment."
_UNAVAILABLE_PAGE = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Service unavailable</title>"
    f"<h1>Service unavailable</h1><p>{_UNAVAILABLE_MESSAGE}</p></html>"
)
#: Seconds a client is asked to wait before trying again (the Retry-After header).
RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """While a request runs, a pooled database connection is waited for DATABASE_REQUEST_TIMEOUT
    seconds at most (background work keeps DATABASE_POOL_TIMEOUT). An error that says the database
    cannot be reached (`socialmetrics.db.unavailable`) is answered 503 with Retry-After: the API's
    JSON error (code DATABASE_UNAVAILABLE) under /api/ and /health/, a plain page elsewhere."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with db.request_wait(settings.DATABASE_REQUEST_TIMEOUT):
            return self.get_response(request)

    def process_exception(self, request, exception):
        if not db.unavailable(exception):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        if is_api_path(request.path) or request.path.startswith("/health/"):
            response = JsonResponse(
                error_body(code="DATABASE_UNAVAILABLE", message=_UNAVAILABLE_MESSAGE),
                status=503,
                json_dumps_params={"separators": (",", ":")},
            )
        else:
            response = HttpResponse(_UNAVAILABLE_PAGE, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

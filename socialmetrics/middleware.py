"""Request timing for the performance figures (socialmetrics.metrics), and the Server-Timing header."""

from __future__ import annotations

import time

from django.db import connections

from . import metrics


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


class PerformanceMiddleware:
    """Records every request per endpoint (the URL pattern's name) with its database work."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        timer = _QueryTimer()
        metrics.begin_request()
        with connections["default"].execute_wrapper(timer):
            response = self.get_response(request)
        seconds = time.perf_counter() - started
        cache_seconds = metrics.end_request()
        match = getattr(request, "resolver_match", None)
        endpoint = (match.view_name if match else "") or "unmatched"
        if request.path.startswith("/api/") or request.path.startswith("/health/"):
            response["Server-Timing"] = (
                f'db;desc="{timer.count} queries";dur={timer.seconds * 1000:.2f}, '
                f"cache;dur={cache_seconds * 1000:.2f}, total;dur={seconds * 1000:.2f}"
            )
        if not endpoint.startswith("djdt:"):
            metrics.record_request(
                endpoint=endpoint,
                status=response.status_code,
                seconds=seconds,
                db_queries=timer.count,
                db_seconds=timer.seconds,
            )
        return response

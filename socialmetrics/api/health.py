"""Health checks for load balancers and orchestrators.

``/health/live``: the process answers (no database, no cache). ``/health/ready``: the database
answers (within DATABASE_REQUEST_TIMEOUT), else 503 naming it. The database alone decides
readiness: with the cache (Redis) down every read is still answered from the database, so the
instance stays ready, reported ``degraded``. Neither is authenticated, throttled or cached.
"""

from __future__ import annotations

import logging
import secrets

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


def check_database() -> str | None:
    """None when the database answers, else what went wrong."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        logger.warning("readiness: database check failed: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return None


def check_cache() -> str | None:
    """None when the cache stores and returns a value, else what went wrong."""
    key, value = "health:ready", secrets.token_hex(8)
    try:
        cache.set(key, value, timeout=10)
        if cache.get(key) != value:  # django-redis swallows errors: a lost value means no answer
            return "the cache did not answer; reads are served from the database"
    except Exception as exc:
        logger.warning("readiness: cache check failed: %s", exc)
        return f"{type(exc).__name__}: {exc}"
    return None


_Status = inline_serializer(
    "HealthStatus",
    fields={
        "status": serializers.ChoiceField(choices=["ok", "degraded", "unavailable"]),
        "checks": serializers.DictField(child=serializers.CharField(), required=False),
        "failed": serializers.ListField(child=serializers.CharField(), required=False),
        "degraded": serializers.ListField(child=serializers.CharField(), required=False),
    },
)


class _HealthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]


class LiveView(_HealthView):
    @extend_schema(tags=["health"], summary="The process is alive", responses={200: _Status})
    def get(self, request):
        return Response({"status": "ok"})


class ReadyView(_HealthView):
    @extend_schema(
        tags=["health"],
        summary="The database answers (the cache may be degraded)",
        responses={200: _Status, 503: _Status},
    )
    def get(self, request):
        database, cache_error = check_database(), check_cache()
        failed = ["database"] if database else []
        degraded = ["cache"] if cache_error else []
        return Response(
            {
                "status": "unavailable" if failed else "degraded" if degraded else "ok",
                "checks": {
                    "database": database or "ok",
                    "cache": f"degraded: {cache_error}" if cache_error else "ok",
                },
                "failed": failed,
                "degraded": degraded,
            },
            status=503 if failed else 200,
        )

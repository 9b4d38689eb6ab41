"""GET /api/performance: the figures of /metrics as JSON; DELETE makes them count from now (staff)."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from socialmetrics import metrics


class PerformancePermission(BasePermission):
    """Staff; or everyone for GET when reads are public and SOCIALMETRICS_PUBLIC_PERFORMANCE is on."""

    message = "This needs a staff account."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user and user.is_authenticated and user.is_active and user.is_staff:
            return True
        return request.method in ("GET", "HEAD", "OPTIONS") and bool(
            settings.SOCIALMETRICS_PUBLIC_READ and settings.SOCIALMETRICS_PUBLIC_PERFORMANCE
        )


_REFUSED = {
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Not signed in (error body)."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not staff (error body)."),
}


class PerformanceView(APIView):
    permission_classes = [PerformancePermission]

    @extend_schema(
        tags=["performance"],
        summary="Live performance figures: endpoints, cache, database, collection runs",
        description=(
            "The Prometheus figures of /metrics since the last reset (or the server's start), as JSON: "
            "`api` (per endpoint: count, avg/min/max/p50/p95/p99 time, errors), `cache` (hits and "
            "misses per group), `database` (queries and time per request), `scraper` (finished "
            "collection runs from the run records). Times are in seconds; averages are exact, while "
            "min, max and percentiles are histogram bucket bounds (min the lower bound of the lowest "
            "bucket used, max and percentiles the upper bound of the bucket holding them; requests "
            "are bucketed from 0.5 ms to 30 s, runs from 1 s to 6 h)."
        ),
        responses={200: OpenApiTypes.OBJECT, **_REFUSED},
    )
    def get(self, request):
        return Response(metrics.report())

    @extend_schema(
        tags=["performance"],
        summary="Reset the performance figures (staff)",
        description="GET then counts from now (/metrics is unchanged: Prometheus counters never go back).",
        responses={200: OpenApiTypes.OBJECT, **_REFUSED},
    )
    def delete(self, request):
        metrics.reset()
        return Response({"message": "The performance figures were reset."})

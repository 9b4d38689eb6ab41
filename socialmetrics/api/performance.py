"""GET /api/performance: the live figures; DELETE resets them (staff)."""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
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


class PerformanceView(APIView):
    permission_classes = [PerformancePermission]

    @extend_schema(
        tags=["performance"],
        summary="Live performance figures: endpoints, cache, database, collection runs",
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        return Response(metrics.report())

    @extend_schema(
        tags=["performance"], summary="Reset the performance figures (staff)", responses=OpenApiTypes.OBJECT
    )
    def delete(self, request):
        metrics.reset()
        return Response({"message": "The performance figures were reset."})

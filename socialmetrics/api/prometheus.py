"""GET /metrics: every performance and collection figure in the Prometheus text format.

Open to staff users (session or API token), to `Authorization: Bearer <SOCIALMETRICS_METRICS_TOKEN>`
when that setting is set, and to everyone when SOCIALMETRICS_PUBLIC_METRICS is on. Refusals are the
API's JSON errors. Neither cached nor throttled.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.utils.cache import add_never_cache_headers
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client.exposition import choose_encoder
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    TokenAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from socialmetrics import metrics

#: `request.auth` of a request that showed the metrics token (no user behind it).
METRICS_TOKEN = "metrics-token"


class MetricsTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <SOCIALMETRICS_METRICS_TOKEN>`: a scraper's credential, not a user's."""

    def authenticate(self, request):
        expected = settings.SOCIALMETRICS_METRICS_TOKEN
        header = get_authorization_header(request).split()
        if not expected or len(header) != 2 or header[0].lower() != b"bearer":
            return None
        if not secrets.compare_digest(header[1], expected.encode()):
            raise AuthenticationFailed("Invalid metrics token.")
        return AnonymousUser(), METRICS_TOKEN

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="metrics"'


class MetricsTokenScheme(OpenApiAuthenticationExtension):
    """How the schema describes MetricsTokenAuthentication."""

    target_class = MetricsTokenAuthentication
    name = "metricsToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "SOCIALMETRICS_METRICS_TOKEN"}


class MetricsPermission(BasePermission):
    """Everyone when SOCIALMETRICS_PUBLIC_METRICS is on; else the metrics token or an active staff user."""

    message = "This needs a staff account or the metrics token."

    def has_permission(self, request, view) -> bool:
        if settings.SOCIALMETRICS_PUBLIC_METRICS or request.auth == METRICS_TOKEN:
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class JSONErrors(BaseContentNegotiation):
    """Errors in JSON whatever a scraper accepts (the figures themselves choose their own format)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class MetricsView(APIView):
    authentication_classes = [MetricsTokenAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = [MetricsPermission]
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONErrors

    @extend_schema(
        tags=["performance"],
        summary="Every figure in the Prometheus text format (or OpenMetrics, as the Accept header asks)",
        responses={
            (200, "text/plain"): OpenApiTypes.STR,
            401: OpenApiResponse(description="No credentials, or a wrong metrics token."),
            403: OpenApiResponse(description="Neither staff nor the metrics token."),
        },
    )
    def get(self, request):
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = HttpResponse(encoder(metrics.registry()), content_type=content_type)
        add_never_cache_headers(response)
        return response

"""API endpoints that belong to no app: the API's root, and clearing the response cache."""

from collections import defaultdict

from django.conf import settings
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from socialmetrics.cache import clear_responses

from .permissions import StaffOnly

#: Methods the root lists (HEAD and OPTIONS answer on every endpoint).
_LISTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def api_endpoints() -> list[dict]:
    """Every operation the schema (/api/schema) documents, grouped by path, in the schema's spelling
    and with its summary: [{"path": "/api/accounts/", "methods": {"GET": "...", "POST": "..."}}].
    Read from the URL patterns as drf-spectacular reads them, so the two never disagree."""
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    methods: dict[str, dict[str, str]] = defaultdict(dict)
    for path, _, method, callback in generator.endpoints:
        view = generator.create_view(callback, method)
        if view.schema is None or view.schema.is_excluded() or method not in _LISTED_METHODS:
            continue
        if getattr(view, "is_api_root", False):
            continue
        methods[generator.coerce_path(path, method, view)][method] = view.schema.get_summary() or ""
    return [{"path": path, "methods": methods[path]} for path in sorted(methods)]


class ApiEndpointSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="As the schema names it; {name} is a path parameter.")
    url = serializers.URLField(
        allow_null=True, help_text="The endpoint's address; null when its path has parameters."
    )
    methods = serializers.DictField(
        child=serializers.CharField(), help_text="Each method the endpoint answers, with its summary."
    )


class ApiRootSerializer(serializers.Serializer):
    title = serializers.CharField()
    version = serializers.CharField()
    schema = serializers.URLField(help_text="The OpenAPI schema.")
    docs = serializers.URLField(help_text="The schema in Swagger UI.")
    endpoints = ApiEndpointSerializer(many=True)


class ApiRootView(APIView):
    """The API's endpoints, each with its address and methods. The schema at /api/schema describes
    them in full; /api/docs shows it."""

    is_api_root = True
    permission_classes = [AllowAny]  # as the schema it summarises

    def get_view_name(self) -> str:
        return settings.SPECTACULAR_SETTINGS["TITLE"]

    @extend_schema(
        tags=["api"],
        summary="The API's endpoints, with links",
        responses={200: ApiRootSerializer},
    )
    def get(self, request):
        absolute = request.build_absolute_uri
        endpoints = [
            {
                "path": endpoint["path"],
                "url": None if "{" in endpoint["path"] else absolute(endpoint["path"]),
                "methods": endpoint["methods"],
            }
            for endpoint in api_endpoints()
        ]
        return Response(
            {
                "title": settings.SPECTACULAR_SETTINGS["TITLE"],
                "version": settings.SPECTACULAR_SETTINGS["VERSION"],
                "schema": absolute(reverse("api-schema")),
                "docs": absolute(reverse("api-docs")),
                "endpoints": endpoints,
            }
        )


class CacheView(APIView):
    permission_classes = [StaffOnly]

    @extend_schema(
        tags=["admin"],
        summary="Clear every cached response (staff)",
        responses={200: inline_serializer("CacheCleared", fields={"message": serializers.CharField()})},
    )
    def delete(self, request):
        clear_responses()
        return Response({"message": "Every cached response was cleared."})

"""API endpoints that belong to no app: clearing the response cache."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from socialmetrics.cache import clear_responses

from .permissions import StaffOnly


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

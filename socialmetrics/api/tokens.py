"""A signed-in user's own API token (REST framework's authtoken): create or rotate it, revoke it.

``POST /api/auth/token`` returns a new key and the old one stops working at once; ``DELETE``
revokes it. Staff manage everybody's tokens in the admin ("Auth Token" > "Tokens"). What a token
may do is what its user may do: reads, and writes only for staff.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView


def token_rotate(*, user: AbstractBaseUser) -> Token:
    """A new token for `user`, replacing the one they had."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete `user`'s token; False when they had none."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField(source="key", help_text="Send it as `Authorization: Token <token>`.")
    created = serializers.DateTimeField()


class TokenView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Create or rotate your API token",
        description="Returns a new key for the signed-in user; the previous key stops working at once.",
        request=None,
        responses={201: TokenOutputSerializer},
    )
    def post(self, request):
        token = token_rotate(user=request.user)
        return Response(TokenOutputSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["auth"],
        summary="Revoke your API token",
        description="Deletes the signed-in user's key (nothing happens when there is none).",
        responses={204: None},
    )
    def delete(self, request):
        token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

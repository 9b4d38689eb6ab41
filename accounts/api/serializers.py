"""Input of the account writes (POST, PUT, PATCH on /api/accounts). Output is shaped elsewhere."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Platform
from accounts.platforms import UnknownPlatform, normalize_platform


@extend_schema_field({"type": "string", "enum": list(Platform.values)})
class PlatformField(serializers.CharField):
    """A platform: documented as its values, read as people write it ("X", "twitter")."""


class AccountWriteSerializer(serializers.Serializer):
    """The same names the account list uses; ``platform`` as people write it ("X", "twitter")."""

    platform = PlatformField(
        help_text=f"One of: {', '.join(Platform.values)}; display names and usual aliases also do."
    )
    handle = serializers.CharField(required=False, allow_blank=True, max_length=255)
    url = serializers.CharField(
        source="profile_url", required=False, allow_blank=True, max_length=500, help_text="Profile URL."
    )
    org_name = serializers.CharField(
        source="organization.name", required=False, allow_blank=True, allow_null=True, max_length=200
    )
    account_display_name = serializers.CharField(
        source="display_name", required=False, allow_blank=True, max_length=255
    )
    is_core_account = serializers.BooleanField(source="is_core", required=False)
    is_active = serializers.BooleanField(required=False)

    def validate_platform(self, value: str) -> str:
        try:
            return normalize_platform(value)
        except UnknownPlatform as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs: dict) -> dict:
        if not self.partial and not (attrs.get("handle") or attrs.get("profile_url")):
            raise serializers.ValidationError({"handle": "Give the handle or the profile URL (url)."})
        return attrs

    def write_arguments(self) -> dict:
        """The validated data as keyword arguments of `account_create` / `account_update`."""
        data = dict(self.validated_data)
        arguments = {}
        for name, target in (
            ("platform", "platform"),
            ("handle", "handle"),
            ("profile_url", "url"),
            ("display_name", "display_name"),
            ("is_core", "is_core"),
            ("is_active", "is_active"),
        ):
            if name in data:
                arguments[target] = data[name]
        if "organization" in data:
            arguments["organization"] = (data["organization"] or {}).get("name")
        return arguments

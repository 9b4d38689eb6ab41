"""Query-string filters of the account endpoints, and the platform filter other apps reuse."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field

from socialmetrics.api.filters import FilterSet, StrictBooleanFilter

from .models import Account, Organization, Platform
from .platforms import UnknownPlatform, normalize_platform


class PlatformField(forms.CharField):
    """One platform or several, comma-separated, as people write them ("X", "twitter", "YouTube")."""

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return []
        platforms = []
        for name in text.split(","):
            if not name.strip():
                continue
            try:
                platforms.append(normalize_platform(name))
            except UnknownPlatform as exc:
                raise forms.ValidationError(str(exc), code="invalid") from None
        return platforms


_PLATFORM = f"({'|'.join(Platform.values)})"


# The pattern names the platform values; display names and other spellings (X, twitter) work too.
@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({_PLATFORM}(,{_PLATFORM})*)?$",
        "description": "Platform as a value or display name (x, X, twitter); several comma-separated.",
    }
)
class PlatformFilter(django_filters.Filter):
    field_class = PlatformField

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(**{f"{self.field_name}__in": value})


class AccountFilter(FilterSet):
    platform = PlatformFilter(field_name="platform", label="Platform (comma-separated for several)")
    organization = django_filters.CharFilter(
        field_name="organization__name", lookup_expr="iexact", label="Organization name"
    )
    is_core = StrictBooleanFilter(field_name="is_core")
    is_active = StrictBooleanFilter(field_name="is_active")
    handle = django_filters.CharFilter(
        field_name="handle", lookup_expr="iexact", label="Exact handle (any case), e.g. with platform"
    )
    search = django_filters.CharFilter(method="filter_search", label="Handle, display name or organization")

    class Meta:
        model = Account
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip().lstrip("@")
        if not value:
            return queryset
        # The matching organizations first (a short list), so that every condition is on the
        # account's own columns and PostgreSQL ORs three index scans (the trigram indexes of
        # migration 0002 and the organization key) instead of reading every account.
        organizations = list(Organization.objects.filter(name__icontains=value).values_list("pk", flat=True))
        return queryset.filter(
            Q(handle__icontains=value)
            | Q(display_name__icontains=value)
            | Q(organization_id__in=organizations)
        )

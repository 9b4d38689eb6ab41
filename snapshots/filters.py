"""Query-string filters of the summary, the grid and the CSV download."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import F
from drf_spectacular.utils import extend_schema_field

from accounts.filters import PlatformFilter
from socialmetrics.api.filters import FilterSet, StrictBooleanFilter, date_range_filters

from .models import AccountLatest, Snapshot
from .selectors import GRID_DEFAULT_ORDER

#: Grid columns a client may order by -> the model path.
GRID_ORDER_COLUMNS = {
    "platform": "account__platform",
    "handle": "account__handle",
    "org_name": "account__organization__name",
    "organization": "account__organization__name",
    "date": "date",
    "followers": "followers",
    "engagement": "engagement",
    "posts": "posts",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
}


class OrderingField(forms.CharField):
    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return []
        terms = []
        for term in (t.strip() for t in text.split(",")):
            if not term:
                continue
            column = term.removeprefix("-")
            if column not in GRID_ORDER_COLUMNS:
                raise forms.ValidationError(
                    f"Cannot order by {column!r}; expected one of {', '.join(GRID_ORDER_COLUMNS)} "
                    "(prefix with - for descending).",
                    code="invalid",
                )
            terms.append((GRID_ORDER_COLUMNS[column], term.startswith("-")))
        return terms


_TERM = rf"\s*(-?({'|'.join(GRID_ORDER_COLUMNS)})\s*)?"


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^{_TERM}(,{_TERM})*$",
        "description": (
            "Order by columns, comma-separated, - for descending: platform, handle, org_name, date, "
            "followers, engagement, posts, likes, comments, shares (default -date,platform,handle)."
        ),
    }
)
class GridOrderingFilter(django_filters.Filter):
    """``ordering=-followers,handle``: any column, nulls last, ties broken by the default order."""

    field_class = OrderingField

    def filter(self, qs, value):
        if not value:
            return qs
        order = [
            F(path).desc(nulls_last=True) if desc else F(path).asc(nulls_last=True) for path, desc in value
        ]
        named = {path for path, _ in value}
        order += [term for term in GRID_DEFAULT_ORDER if term.removeprefix("-") not in named]
        return qs.order_by(*order)


class SummaryFilter(FilterSet):
    """Filters of /api/summary and /api/summary/totals (on each account's latest row)."""

    platform = PlatformFilter(field_name="account__platform", label="Platform (comma-separated for several)")
    organization = django_filters.CharFilter(
        field_name="account__organization__name", lookup_expr="iexact", label="Organization name"
    )
    is_core = StrictBooleanFilter(field_name="account__is_core")

    class Meta:
        model = AccountLatest
        fields: list[str] = []


class GridFilter(FilterSet):
    """Filters of /api/grid and /api/download (on snapshots)."""

    platform = PlatformFilter(field_name="account__platform", label="Platform (comma-separated for several)")
    organization = django_filters.CharFilter(
        field_name="account__organization__name", lookup_expr="iexact", label="Organization name"
    )
    handle = django_filters.CharFilter(
        field_name="account__handle", lookup_expr="icontains", label="Handle contains"
    )
    is_core = StrictBooleanFilter(field_name="account__is_core")
    ordering = GridOrderingFilter(
        label=f"Order by columns, comma-separated, - for descending: {', '.join(GRID_ORDER_COLUMNS)}"
    )

    class Meta:
        model = Snapshot
        fields: list[str] = []


GridFilter.base_filters.update(date_range_filters(field_name="date"))

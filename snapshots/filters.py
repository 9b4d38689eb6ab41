"""Query-string filters of the summary, the grid, the CSV download and the account list."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import F
from drf_spectacular.utils import extend_schema_field

from accounts.filters import AccountFilter, PlatformFilter
from socialmetrics.api.filters import FilterSet, StrictBooleanFilter, date_range_filters

from .engagement import rate_expression
from .models import AccountLatest, Snapshot
from .selectors import GRID_DEFAULT_ORDER

#: The grid's ordering name of the engagement rate: computed per row (`snapshots.engagement`).
ENGAGEMENT_RATE = "engagement_rate"

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
    ENGAGEMENT_RATE: ENGAGEMENT_RATE,
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
            "followers, engagement, posts, likes, comments, shares, engagement_rate (default "
            "-date,platform,handle)."
        ),
    }
)
class GridOrderingFilter(django_filters.Filter):
    """``ordering=-followers,handle``: any column, nulls last, ties broken by the default order."""

    field_class = OrderingField

    def filter(self, qs, value):
        if not value:
            return qs
        order = []
        for path, desc in value:
            column = rate_expression() if path == ENGAGEMENT_RATE else F(path)
            order.append(column.desc(nulls_last=True) if desc else column.asc(nulls_last=True))
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


# --- /api/accounts?ordering= ------------------------------------------------------------------------

#: Orderings of the account list -> the maintained latest row's column (`AccountLatest`).
ACCOUNT_ORDER_COLUMNS = {
    "followers": "latest__followers",
    "growth_1d": "latest__followers_change_1d",
    "growth_7d": "latest__followers_change_7d",
    "growth_30d": "latest__followers_change_30d",
    "growth_1d_pct": "latest__followers_change_pct_1d",
    "growth_7d_pct": "latest__followers_change_pct_7d",
    "growth_30d_pct": "latest__followers_change_pct_30d",
    "engagement_rate": "latest__engagement_rate",
}
#: Every value `ordering` takes: each name ascending, and with "-" descending.
ACCOUNT_ORDERINGS = (*ACCOUNT_ORDER_COLUMNS, *(f"-{name}" for name in ACCOUNT_ORDER_COLUMNS))


class AccountOrderingField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(strip=False, **kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if text and text not in ACCOUNT_ORDERINGS:
            raise forms.ValidationError(
                f"Cannot order accounts by {text[:60]!r}; expected one of {', '.join(ACCOUNT_ORDER_COLUMNS)} "
                "(prefix with - for descending).",
                code="invalid",
            )
        return text


@extend_schema_field(
    {
        "type": "string",
        "enum": ["", *ACCOUNT_ORDERINGS],
        "description": (
            "Rank the accounts by their latest values: followers, follower growth over 1, 7 or 30 days "
            "(growth_7d) or in percent of the count it grew from (growth_7d_pct), or the latest day's "
            "engagement rate; - for descending (-growth_7d: the biggest gainers first). Accounts without "
            "the value come last either way, ties by platform, then handle. Empty or left out: by "
            "platform, then handle."
        ),
    }
)
class AccountOrderingFilter(django_filters.Filter):
    field_class = AccountOrderingField

    def filter(self, qs, value):
        if not value:
            return qs
        column = F(ACCOUNT_ORDER_COLUMNS[value.removeprefix("-")])
        order = column.desc(nulls_last=True) if value.startswith("-") else column.asc(nulls_last=True)
        return qs.order_by(order, "platform", "handle")


class AccountListFilter(AccountFilter):
    """Filters of /api/accounts: the account filters, and ranking by the latest values."""

    ordering = AccountOrderingFilter(label="Rank by: " + ", ".join(ACCOUNT_ORDERINGS))

    class Meta(AccountFilter.Meta):
        pass

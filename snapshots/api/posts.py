"""``/api/posts``: accounts' posts with their likes, comments, shares, views and engagement.

Collection stores each account's recent posts where the platform's public API lists them (see
README, "Posts"); simulated runs make plausible ones. Filtered by platform, handle and a range of
publication days, ordered by any count (the account page's "Top posts": ``ordering=-engagement``),
paginated like the other lists, and cached under the posts' generation (every post write replaces
it) and the accounts' (a renamed or deleted account is never served from an old entry).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import django_filters
from django import forms
from django.db.models import F
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.filters import PlatformFilter
from snapshots.models import Post, PostType
from snapshots.selectors import POST_COLUMNS, POST_DEFAULT_ORDER, post_page, post_queryset
from socialmetrics import cache as generations
from socialmetrics.api.errors import ErrorSerializer, InvalidParameter
from socialmetrics.api.filters import FilterSet
from socialmetrics.api.pagination import page_info, page_parameters, page_request
from socialmetrics.api.params import optional_date
from socialmetrics.cache import CachedReadMixin, CacheSpec
from socialmetrics.dates import local_today

from .serializers import PaginationSerializer

POSTS_DEFAULT_PER_PAGE = 20
POSTS_MAX_PER_PAGE = 200
#: Without `since`, the list starts this many days before today.
DEFAULT_SINCE_DAYS = 30
ROW_KEYS = (
    "platform", "handle", "post_id", "url", "post_type", "text", "published_at",
    "likes", "comments", "shares", "views", "engagement",
)  # fmt: skip
assert len(ROW_KEYS) == len(POST_COLUMNS)
#: What a client may order by -> the model field.
POST_ORDER_COLUMNS = {
    "engagement": "engagement",
    "likes": "likes",
    "comments": "comments",
    "shares": "shares",
    "views": "views",
    "published_at": "published_at",
}


def default_since(until: dt.date | None = None) -> dt.date:
    """DEFAULT_SINCE_DAYS before today, or before `until` when that is earlier."""
    end = min(local_today(), until) if until is not None else local_today()
    return (
        end - dt.timedelta(days=DEFAULT_SINCE_DAYS) if end.toordinal() > DEFAULT_SINCE_DAYS else dt.date.min
    )


# --- Filters --------------------------------------------------------------------------------------


class PostOrderingField(forms.CharField):
    def to_python(self, value):
        text = super().to_python(value)
        terms = []
        for term in (t.strip() for t in (text or "").split(",")):
            if not term:
                continue
            column = term.removeprefix("-")
            if column not in POST_ORDER_COLUMNS:
                raise forms.ValidationError(
                    f"Cannot order by {column!r}; expected one of {', '.join(POST_ORDER_COLUMNS)} "
                    "(prefix with - for descending).",
                    code="invalid",
                )
            terms.append((POST_ORDER_COLUMNS[column], term.startswith("-")))
        return terms


_TERM = rf"\s*(-?({'|'.join(POST_ORDER_COLUMNS)})\s*)?"


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^{_TERM}(,{_TERM})*$",
        "description": (
            f"Order by counts, comma-separated, - for descending: {', '.join(POST_ORDER_COLUMNS)} "
            "(default -published_at). Unknown counts last; ties newest first."
        ),
    }
)
class PostOrderingFilter(django_filters.Filter):
    """``ordering=-engagement``: nulls last, ties broken by the default order (newest first)."""

    field_class = PostOrderingField

    def filter(self, qs, value):
        if not value:
            return qs
        order = [
            F(name).desc(nulls_last=True) if desc else F(name).asc(nulls_last=True) for name, desc in value
        ]
        named = {name for name, _ in value}
        return qs.order_by(*order, *(t for t in POST_DEFAULT_ORDER if t.removeprefix("-") not in named))


class PostFilter(FilterSet):
    platform = PlatformFilter(field_name="account__platform", label="Platform (comma-separated for several)")
    handle = django_filters.CharFilter(
        field_name="account__handle",
        lookup_expr="iexact",
        label="Exact handle (any case), e.g. with platform",
    )
    ordering = PostOrderingFilter(
        label=f"Order by, comma-separated, - for descending: {', '.join(POST_ORDER_COLUMNS)}"
    )

    class Meta:
        model = Post
        fields: list[str] = []


# --- Response shapes (for the schema) -------------------------------------------------------------


class PostSerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()
    post_id = serializers.CharField(help_text="The platform's own id of the post.")
    url = serializers.CharField(help_text="The post on its platform ('' when not known).")
    post_type = serializers.ChoiceField(choices=PostType.choices)
    text = serializers.CharField(help_text=f"Plain-text excerpt, at most {Post.TEXT_LENGTH} characters.")
    published_at = serializers.DateTimeField()
    likes = serializers.IntegerField(allow_null=True, help_text="Lifetime total; null when not shown.")
    comments = serializers.IntegerField(allow_null=True)
    shares = serializers.IntegerField(allow_null=True, help_text="Reposts, boosts, quotes.")
    views = serializers.IntegerField(allow_null=True)
    engagement = serializers.IntegerField(allow_null=True, help_text="likes + comments + shares.")


class PostPaginationSerializer(PaginationSerializer):
    since = serializers.DateField(help_text="The first publication day listed (since, or its default).")
    until = serializers.DateField(allow_null=True, help_text="The last publication day listed, if any.")


class PostPageSerializer(serializers.Serializer):
    data = PostSerializer(many=True)
    pagination = PostPaginationSerializer()


_DAY = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}


class PostListView(CachedReadMixin, GenericAPIView):
    """Accounts' posts, newest first or ordered by a count."""

    cache_name = "posts"
    cache_timeout = "grid"
    cache_groups = (generations.POSTS, generations.ACCOUNTS)
    filterset_class = PostFilter
    queryset = Post.objects.none()
    pagination_class = None

    @classmethod
    def cache_spec(cls, request, kwargs: dict) -> CacheSpec | None:
        """Without `since`, keyed by the day the list starts on: a list cached yesterday is not
        served today."""
        spec = super().cache_spec(request, kwargs)
        if request.GET.get("since", "").strip():
            return spec
        return dataclasses.replace(spec, path=f"/api/posts/since-{default_since().isoformat()}")

    @extend_schema(
        tags=["posts"],
        summary="Accounts' posts with their counts",
        description=(
            "Posts collected from the platforms that list an account's recent posts (Bluesky, "
            "Mastodon, YouTube, Reddit; simulated runs make plausible ones), with their lifetime "
            "likes, comments, shares and views as last collected. Publication days are calendar days "
            "in the installation's time zone. Top posts of an account in a range: "
            "platform=...&handle=...&since=...&until=...&ordering=-engagement."
        ),
        filters=True,
        parameters=[
            OpenApiParameter(
                "since",
                _DAY,
                description=(
                    f"First publication day (inclusive, YYYY-MM-DD); empty or left out: {DEFAULT_SINCE_DAYS} "
                    "days before until, or before today."
                ),
            ),
            OpenApiParameter(
                "until", _DAY, description="Last publication day (inclusive, YYYY-MM-DD); empty: no bound."
            ),
            *page_parameters(default_per_page=POSTS_DEFAULT_PER_PAGE, max_per_page=POSTS_MAX_PER_PAGE),
        ],
        responses={
            200: PostPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="A parameter cannot be used (names it)."),
        },
    )
    def get(self, request):
        return self.cached(request, build=self._build)

    def _build(self) -> Response:
        params = self.request.query_params
        until = optional_date(params=params, name="until")
        since = optional_date(params=params, name="since") or default_since(until)
        if until is not None and since > until:
            raise InvalidParameter(
                field="since", message=f"{since.isoformat()} is after until ({until.isoformat()})."
            )
        page = page_request(
            params=params, default_per_page=POSTS_DEFAULT_PER_PAGE, max_per_page=POSTS_MAX_PER_PAGE
        )
        queryset = self.filter_queryset(post_queryset(since=since, until=until))
        total, rows = post_page(queryset=queryset, offset=page.offset, limit=page.per_page)
        data = [dict(zip(ROW_KEYS, row, strict=True)) for row in rows]
        pagination = page_info(
            request=page, total=total, since=since.isoformat(), until=until.isoformat() if until else None
        )
        return Response({"data": data, "pagination": pagination})

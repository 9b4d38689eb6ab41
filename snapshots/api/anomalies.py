"""``/api/anomalies``: the days whose follower count is flagged as implausible (`snapshots.anomalies`).

A day's values are shown as stored; the flag and its reason only say that the change from the day
before is out of line with the account's usual changes (a platform glitch, a purge of fake followers,
a mistyped CSV value). Newest first, paginated like the other lists, cached under the grid's
generation (every snapshot write replaces it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import django_filters
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.filters import PlatformFilter
from snapshots.models import Snapshot
from snapshots.selectors import ANOMALY_COLUMNS, anomaly_page, anomaly_queryset
from socialmetrics import cache as generations
from socialmetrics.api.errors import ErrorSerializer
from socialmetrics.api.filters import FilterSet
from socialmetrics.api.pagination import page_info, page_parameters, page_request
from socialmetrics.api.params import parse_iso_date
from socialmetrics.cache import CachedReadMixin, CacheSpec
from socialmetrics.dates import local_today

from .serializers import AnomalyPageSerializer

ANOMALIES_DEFAULT_PER_PAGE = 50
ANOMALIES_MAX_PER_PAGE = 500
#: Without `since`, the list starts this many days before today.
DEFAULT_SINCE_DAYS = 30
ROW_KEYS = ("platform", "handle", "org_name", "date", "followers", "anomaly_reason")
assert len(ROW_KEYS) == len(ANOMALY_COLUMNS)


def default_since() -> dt.date:
    return local_today() - dt.timedelta(days=DEFAULT_SINCE_DAYS)


class AnomalyFilter(FilterSet):
    platform = PlatformFilter(field_name="account__platform", label="Platform (comma-separated for several)")
    handle = django_filters.CharFilter(
        field_name="account__handle",
        lookup_expr="iexact",
        label="Exact handle (any case), e.g. with platform",
    )

    class Meta:
        model = Snapshot
        fields: list[str] = []


class AnomalyListView(CachedReadMixin, GenericAPIView):
    """Days flagged as anomalies, newest first."""

    cache_name = "anomalies"
    cache_timeout = "grid"
    cache_groups = (generations.GRID,)
    filterset_class = AnomalyFilter
    queryset = Snapshot.objects.none()
    pagination_class = None

    @classmethod
    def cache_spec(cls, request, kwargs: dict) -> CacheSpec | None:
        """Without `since`, keyed by the day the list starts on: a list cached yesterday is not
        served today."""
        spec = super().cache_spec(request, kwargs)
        if request.GET.get("since", "").strip():
            return spec
        return dataclasses.replace(spec, path=f"/api/anomalies/since-{default_since().isoformat()}")

    @extend_schema(
        tags=["grid"],
        summary="Days flagged as anomalies",
        description=(
            "Days whose follower count changed far more than the account's usual daily change (or "
            "rose tenfold, or fell by half); the values are as stored, the reason says what is "
            "implausible. Newest first, then platform and handle."
        ),
        filters=True,
        parameters=[
            OpenApiParameter(
                "since",
                {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]},
                description=(
                    f"First day (inclusive, YYYY-MM-DD); empty or left out: {DEFAULT_SINCE_DAYS} days before "
                    "today."
                ),
            ),
            *page_parameters(
                default_per_page=ANOMALIES_DEFAULT_PER_PAGE, max_per_page=ANOMALIES_MAX_PER_PAGE
            ),
        ],
        responses={
            200: AnomalyPageSerializer,
            400: OpenApiResponse(ErrorSerializer, description="A parameter cannot be used (names it)."),
        },
    )
    def get(self, request):
        return self.cached(request, build=self._build)

    def _build(self) -> Response:
        params = self.request.query_params
        raw_since = params.get("since", "").strip()
        since = parse_iso_date(value=raw_since, name="since") if raw_since else default_since()
        page = page_request(
            params=params, default_per_page=ANOMALIES_DEFAULT_PER_PAGE, max_per_page=ANOMALIES_MAX_PER_PAGE
        )
        queryset = self.filter_queryset(anomaly_queryset(since=since))
        total, rows = anomaly_page(queryset=queryset, offset=page.offset, limit=page.per_page)
        data = [dict(zip(ROW_KEYS, (*row[:3], row[3].isoformat(), *row[4:]), strict=True)) for row in rows]
        return Response(
            {"data": data, "pagination": page_info(request=page, total=total, since=since.isoformat())}
        )

"""``/api/movers``: the accounts that gained or lost the most followers over 1, 7 or 30 days, in
followers and in percent (the overview's "Top movers" panel).

Read from the maintained latest rows (`AccountLatest.followers_change_*`), so it never scans the
snapshots; cached under the summary's generation, which every write to snapshots or accounts
replaces.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from snapshots.filters import SummaryFilter
from snapshots.models import AccountLatest
from snapshots.selectors import movers, summary_queryset
from snapshots.services import GROWTH_PERIODS
from socialmetrics import cache as generations
from socialmetrics.api.errors import ErrorSerializer, InvalidParameter
from socialmetrics.api.params import positive_int
from socialmetrics.cache import CachedReadMixin

from .serializers import MoversSerializer

MOVERS_DEFAULT_DAYS = 7
MOVERS_DEFAULT_LIMIT = 10
MOVERS_MAX_LIMIT = 100
ROW_KEYS = (
    "platform",
    "handle",
    "org_name",
    "account_display_name",
    "date",
    "followers",
    "change",
    "change_pct",
    "anomaly_reason",
)


def _mover(row: tuple) -> dict:
    mover = dict(zip(ROW_KEYS, row, strict=True))
    mover["date"] = mover["date"].isoformat()
    reason = mover.pop("anomaly_reason")
    return {**mover, "anomaly": reason is not None, "anomaly_reason": reason}


def _days(params) -> int:
    raw = params.get("days")
    if raw is None:
        return MOVERS_DEFAULT_DAYS
    if raw not in {str(p) for p in GROWTH_PERIODS}:
        raise InvalidParameter(
            field="days", message=f"expected one of {', '.join(map(str, GROWTH_PERIODS))}, got {raw[:40]!r}."
        )
    return int(raw)


class MoversView(CachedReadMixin, GenericAPIView):
    """The biggest gains and losses in followers of the active accounts."""

    cache_name = "movers"
    cache_timeout = "summary"
    cache_groups = (generations.SUMMARY,)
    filterset_class = SummaryFilter
    queryset = AccountLatest.objects.none()
    pagination_class = None

    def get_queryset(self):
        return summary_queryset()

    @extend_schema(
        tags=["summary"],
        summary="Top gainers and losers of followers",
        description=(
            "The active accounts whose followers rose or fell most over the last `days` days to their "
            "latest day: by followers gained or lost, and by percent of the count they grew from. Only "
            "accounts whose latest day is at most `days` days before the newest day with data (as_of) "
            "are ranked; ties go by platform, then handle. A mover whose latest follower count is "
            "flagged as an anomaly says so."
        ),
        filters=True,
        parameters=[
            OpenApiParameter(
                "days",
                {"type": "integer", "enum": list(GROWTH_PERIODS)},
                description=f"The period, in days (default {MOVERS_DEFAULT_DAYS}).",
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1},
                description=(
                    f"Accounts per list (default {MOVERS_DEFAULT_LIMIT}; more than {MOVERS_MAX_LIMIT} is "
                    f"read as {MOVERS_MAX_LIMIT})."
                ),
            ),
        ],
        responses={
            200: MoversSerializer,
            400: OpenApiResponse(ErrorSerializer, description="A parameter cannot be used (names it)."),
        },
    )
    def get(self, request):
        return self.cached(request, build=self._build)

    def _build(self) -> Response:
        params = self.request.query_params
        days = _days(params)
        limit = min(positive_int(params=params, name="limit", default=MOVERS_DEFAULT_LIMIT), MOVERS_MAX_LIMIT)
        found = movers(queryset=self.filter_queryset(self.get_queryset()), days=days, limit=limit)
        return Response(
            {
                "days": days,
                "limit": limit,
                "as_of": found.as_of.isoformat() if found.as_of else None,
                "gainers": [_mover(row) for row in found.gainers],
                "losers": [_mover(row) for row in found.losers],
                "gainers_pct": [_mover(row) for row in found.gainers_pct],
                "losers_pct": [_mover(row) for row in found.losers_pct],
            }
        )

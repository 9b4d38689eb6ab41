"""Response shapes of the snapshot endpoints, for the OpenAPI schema.

Rows are not serialised through these (a model instance and a serializer per row is too slow for
10,000 summary rows); the views build them from ``values_list`` tuples. These classes only
describe what the views return, so the schema and the code name the same fields.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from snapshots.models import REPORTED_FIELDS
from snapshots.services import GROWTH_PERIODS


class UploadErrorSerializer(serializers.Serializer):
    error = serializers.CharField()


class SummaryRowSerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()
    org_name = serializers.CharField(allow_null=True)
    followers = serializers.IntegerField(allow_null=True)
    engagement = serializers.IntegerField(allow_null=True)
    posts = serializers.IntegerField(allow_null=True)
    date = serializers.DateField(help_text="The account's own most recent day.")
    anomaly = serializers.BooleanField(
        help_text="Whether that day's follower count is flagged as implausible."
    )
    anomaly_reason = serializers.CharField(
        allow_null=True, help_text="Why it is flagged (null when it is not)."
    )


def _growth_fields() -> dict:
    fields = {}
    for period in GROWTH_PERIODS:
        fields[f"followers_change_{period}d"] = serializers.IntegerField(allow_null=True)
        fields[f"followers_change_pct_{period}d"] = serializers.FloatField(allow_null=True)
    return fields


TotalsRowSerializer = type(
    "TotalsRowSerializer",
    (serializers.Serializer,),
    {
        "accounts": serializers.IntegerField(),
        "followers": serializers.IntegerField(),
        "engagement": serializers.IntegerField(),
        **_growth_fields(),
    },
)


class PlatformTotalsSerializer(TotalsRowSerializer):
    platform = serializers.CharField()


class OrganizationTotalsSerializer(TotalsRowSerializer):
    organization = serializers.CharField(allow_null=True)


class TotalsSerializer(serializers.Serializer):
    total = TotalsRowSerializer()
    platforms = PlatformTotalsSerializer(many=True)
    organizations = OrganizationTotalsSerializer(many=True)


def _series() -> serializers.ListField:
    return serializers.ListField(child=serializers.IntegerField(allow_null=True))


HistorySerializer = type(
    "HistorySerializer",
    (serializers.Serializer,),
    {
        "dates": serializers.ListField(child=serializers.DateField(), help_text="Every day, oldest first."),
        **{name: _series() for name in REPORTED_FIELDS},
        "anomaly": serializers.ListField(
            child=serializers.BooleanField(allow_null=True),
            help_text="Whether each day's follower count is flagged as implausible (null: no snapshot).",
        ),
        "anomaly_reason": serializers.ListField(
            child=serializers.CharField(allow_null=True),
            help_text="Why each flagged day is flagged, else null.",
        ),
    },
)


class PaginationSerializer(serializers.Serializer):
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total = serializers.IntegerField()
    pages = serializers.IntegerField()
    total_estimated = serializers.BooleanField(
        required=False, help_text="True when total is the database's estimate, not a count."
    )


class CursorPaginationSerializer(serializers.Serializer):
    per_page = serializers.IntegerField()
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as cursor= for the next page.")


class GridPageSerializer(serializers.Serializer):
    data = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text=(
            "[platform, handle, org_name, date, followers, engagement, posts, likes, comments, shares, "
            "anomaly, anomaly_reason]: anomaly says whether the day's follower count is flagged as "
            "implausible, anomaly_reason why (null when it is not)."
        ),
    )
    pagination = PaginationSerializer()


class GridCursorPageSerializer(serializers.Serializer):
    data = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    pagination = CursorPaginationSerializer()


LatestSerializer = type(
    "LatestSerializer",
    (serializers.Serializer,),
    {
        "date": serializers.DateField(),
        **{name: serializers.IntegerField(allow_null=True) for name in REPORTED_FIELDS},
        "precision": serializers.ChoiceField(choices=["exact", "rounded"]),
        **_growth_fields(),
    },
)


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account_key = serializers.CharField(help_text="platform:handle (lower case)")
    platform = serializers.CharField()
    handle = serializers.CharField()
    org_name = serializers.CharField(allow_null=True)
    account_display_name = serializers.CharField()
    is_core_account = serializers.BooleanField()
    is_active = serializers.BooleanField()
    url = serializers.CharField()
    latest = LatestSerializer(allow_null=True)


@extend_schema_serializer(many=False)  # the list action answers one page object, not an array
class AccountPageSerializer(serializers.Serializer):
    data = AccountSerializer(many=True)
    pagination = PaginationSerializer()


class AnomalySerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()
    org_name = serializers.CharField(allow_null=True)
    date = serializers.DateField()
    followers = serializers.IntegerField(help_text="As stored: a flag never alters a value.")
    anomaly_reason = serializers.CharField(help_text="What is implausible about the day's follower count.")


class AnomalyPaginationSerializer(PaginationSerializer):
    since = serializers.DateField(help_text="The first day listed (the since parameter, or its default).")


class AnomalyPageSerializer(serializers.Serializer):
    data = AnomalySerializer(many=True)
    pagination = AnomalyPaginationSerializer()


class UploadErrorRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class UploadResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    kind = serializers.ChoiceField(choices=["accounts", "snapshots"])
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Same as created (for older clients).")
    accounts_created = serializers.IntegerField()
    errors = UploadErrorRowSerializer(many=True)


class BulkUploadSerializer(serializers.Serializer):
    csv_data = serializers.CharField(trim_whitespace=False, allow_blank=True)


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()

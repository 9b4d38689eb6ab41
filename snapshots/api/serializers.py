"""Response shapes of the snapshot endpoints, for the OpenAPI schema.

Rows are not serialised through these (a model instance and a serializer per row is too slow for
10,000 summary rows); the views build them from ``values_list`` tuples. These classes only
describe what the views return, so the schema and the code name the same fields.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from snapshots.models import REPORTED_FIELDS
from snapshots.selectors import GRID_COLUMNS
from snapshots.services import GROWTH_PERIODS

#: What every engagement_rate field says (the definition: `snapshots.engagement`).
RATE_HELP = (
    "Engagement rate: the day's engagement (likes + comments + shares) divided by its followers, as a "
    "fraction (0.0125 is 1.25 %); null when the followers are 0 or unknown, or the engagement unknown."
)


def _rate_field(help_text: str = RATE_HELP) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class UploadErrorSerializer(serializers.Serializer):
    error = serializers.CharField()


class SummaryRowSerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()
    org_name = serializers.CharField(allow_null=True)
    followers = serializers.IntegerField(allow_null=True)
    engagement = serializers.IntegerField(allow_null=True)
    engagement_rate = _rate_field(RATE_HELP + " Of the account's most recent day.")
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
        "engagement_rate": serializers.ListField(
            child=serializers.FloatField(allow_null=True), help_text=f"Each day's rate. {RATE_HELP}"
        ),
        "engagement_rate_avg": _rate_field(
            "The engagement rate over the range: the mean of the daily rates of the days that have one "
            "(null when none has)."
        ),
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


# --- The grid's rows: positional arrays (the seed's form, kept for its clients) or named objects ---

_GRID_NAMES = {
    "account__platform": "platform",
    "account__handle": "handle",
    "account__organization__name": "org_name",
}
#: The columns of the grid's positional rows, in order: the values, then the anomaly flag and reason.
GRID_ARRAY_COLUMNS = (*(_GRID_NAMES.get(c, c) for c in GRID_COLUMNS[:-1]), "anomaly", "anomaly_reason")
#: The fields of its named rows (?rows=objects), in order: the same, and the day's engagement rate.
GRID_OBJECT_COLUMNS = (*GRID_ARRAY_COLUMNS[:-2], "engagement_rate", "anomaly", "anomaly_reason")


def _grid_field(name: str) -> serializers.Field:
    if name in ("platform", "handle"):
        return serializers.CharField()
    if name == "org_name":
        return serializers.CharField(allow_null=True)
    if name == "date":
        return serializers.DateField()
    if name == "anomaly":
        return serializers.BooleanField(
            help_text="Whether the day's follower count is flagged as implausible."
        )
    if name == "anomaly_reason":
        return serializers.CharField(allow_null=True, help_text="Why it is flagged (null when it is not).")
    if name == "engagement_rate":
        return _rate_field()
    return serializers.IntegerField(allow_null=True, help_text="As stored; null when not known.")


GridRowSerializer = type(
    "GridRowSerializer",
    (serializers.Serializer,),
    {name: _grid_field(name) for name in GRID_OBJECT_COLUMNS},
)


@extend_schema_field(
    {
        "type": "string",
        "pattern": "^arrays$",
        "description": "The rows are arrays (rows=arrays, the default).",
    }
)
class _ArrayRowsField(serializers.CharField):
    pass


@extend_schema_field(
    {"type": "string", "pattern": "^objects$", "description": "The rows are objects (rows=objects)."}
)
class _ObjectRowsField(serializers.CharField):
    pass


def _array_rows() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        help_text=(
            f"Each row an array of the values named by columns: [{', '.join(GRID_ARRAY_COLUMNS)}], typed "
            "as the GridRow fields of the same names. rows=objects gives them as named fields instead "
            "(with the engagement rate)."
        ),
    )


def _columns(names: tuple[str, ...]) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(), help_text=f"The rows' columns, in order: {', '.join(names)}."
    )


class GridPageSerializer(serializers.Serializer):
    rows = _ArrayRowsField()
    columns = _columns(GRID_ARRAY_COLUMNS)
    data = _array_rows()
    pagination = PaginationSerializer()


class GridCursorPageSerializer(serializers.Serializer):
    rows = _ArrayRowsField()
    columns = _columns(GRID_ARRAY_COLUMNS)
    data = _array_rows()
    pagination = CursorPaginationSerializer()


class GridObjectsPageSerializer(serializers.Serializer):
    rows = _ObjectRowsField()
    columns = _columns(GRID_OBJECT_COLUMNS)
    data = GridRowSerializer(many=True)
    pagination = PaginationSerializer()


class GridObjectsCursorPageSerializer(serializers.Serializer):
    rows = _ObjectRowsField()
    columns = _columns(GRID_OBJECT_COLUMNS)
    data = GridRowSerializer(many=True)
    pagination = CursorPaginationSerializer()


LatestSerializer = type(
    "LatestSerializer",
    (serializers.Serializer,),
    {
        "date": serializers.DateField(),
        **{name: serializers.IntegerField(allow_null=True) for name in REPORTED_FIELDS},
        "engagement_rate": _rate_field(),
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


class UploadAccountRefSerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()


class UploadNewAccountSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The first line naming the account.")
    platform = serializers.CharField()
    handle = serializers.CharField()
    organization = serializers.CharField(allow_blank=True)
    suggestions = UploadAccountRefSerializer(
        many=True,
        help_text=(
            "Existing accounts the line may have meant (did you mean): on the same platform a handle one "
            "typo or only separators away, or the same handle on another platform; closest first."
        ),
    )


_UPLOAD_DRY_RUN_HELP = (
    "true: check and count everything, create nothing and write nothing (a preview of the import: the "
    "counts, new accounts and refused lines are exactly what the import would give). Also accepted as "
    "the query parameter dry_run."
)


class UploadResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    kind = serializers.ChoiceField(choices=["accounts", "snapshots"])
    dry_run = serializers.BooleanField(help_text="Whether this was a preview: nothing was written.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Same as created (for older clients).")
    accounts_created = serializers.IntegerField()
    errors = UploadErrorRowSerializer(many=True)
    new_accounts = UploadNewAccountSerializer(
        many=True, help_text="The accounts the import creates (the first 1,000), with suggestions."
    )
    new_account_count = serializers.IntegerField(help_text="How many accounts the import creates in all.")
    refused_csv = serializers.CharField(
        allow_null=True,
        help_text=(
            "The refused lines as a CSV file: Line, Column, Reason, Original line (the first 1,000); "
            "null when no line was refused."
        ),
    )


class BulkUploadSerializer(serializers.Serializer):
    csv_data = serializers.CharField(trim_whitespace=False, allow_blank=True)
    dry_run = serializers.BooleanField(required=False, default=False, help_text=_UPLOAD_DRY_RUN_HELP)


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    dry_run = serializers.BooleanField(required=False, default=False, help_text=_UPLOAD_DRY_RUN_HELP)


# --- /api/movers ---------------------------------------------------------------------------------


class MoverSerializer(serializers.Serializer):
    platform = serializers.CharField()
    handle = serializers.CharField()
    org_name = serializers.CharField(allow_null=True)
    account_display_name = serializers.CharField()
    date = serializers.DateField(help_text="The account's latest day, which the change runs to.")
    followers = serializers.IntegerField(help_text="Followers on that day.")
    change = serializers.IntegerField(help_text="Followers gained (negative: lost) over the period.")
    change_pct = serializers.FloatField(
        allow_null=True, help_text="The change in percent of the count it grew from (null from 0)."
    )
    anomaly = serializers.BooleanField(help_text="Whether the latest day's follower count is flagged.")
    anomaly_reason = serializers.CharField(
        allow_null=True, help_text="Why it is flagged (null when it is not)."
    )


class MoversSerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text="The period the changes are over.")
    limit = serializers.IntegerField(help_text="The most accounts in each list.")
    as_of = serializers.DateField(
        allow_null=True, help_text="The newest latest day of the accounts ranked (null: no data)."
    )
    gainers = MoverSerializer(many=True, help_text="The largest gains in followers, largest first.")
    losers = MoverSerializer(many=True, help_text="The largest losses in followers, largest first.")
    gainers_pct = MoverSerializer(many=True, help_text="The largest gains in percent, largest first.")
    losers_pct = MoverSerializer(many=True, help_text="The largest losses in percent, largest first.")

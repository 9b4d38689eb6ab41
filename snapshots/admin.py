import datetime as dt

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IS_FACETS_VAR, IS_POPUP_VAR, TO_FIELD_VAR
from django.contrib.admin.views.main import ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.utils.formats import date_format
from django.utils.html import format_html

from accounts.admin import AccountAdmin
from accounts.models import Account
from socialmetrics.admin_tools import (
    EstimatedCountPaginator,
    count_column,
    grouped,
    hierarchy_range,
    percent,
    signed,
    with_range_dates,
)
from socialmetrics.dates import local_today

from .csv_import import METRIC_BOUNDS
from .models import METRIC_FIELDS, REPORTED_FIELDS, AccountLatest, Post, Precision, Snapshot
from .selectors import grid_date_counts
from .services import SnapshotDateOutOfRange, snapshot_date_check, snapshot_delete_many, snapshot_save

RECENT_DAYS = 30


class CountColumns:
    """`<metric>_shown` for every reported metric: its count with thousands separators, for
    list_display and readonly_fields."""


for _name in REPORTED_FIELDS:
    setattr(CountColumns, f"{_name}_shown", count_column(_name))


class RecentSnapshotInline(CountColumns, admin.TabularInline):
    """An account's snapshots of the last 30 days, read-only (edit them in the snapshot admin)."""

    model = Snapshot
    #: Each row's date says which snapshot it is; the model's own name for it ("67 on ...") would not.
    template = "admin/edit_inline/tabular_untitled.html"
    fields = ["date", *(f"{name}_shown" for name in REPORTED_FIELDS), "source", "precision", "anomaly_reason"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = f"snapshots of the last {RECENT_DAYS} days"

    def get_queryset(self, request):
        since = local_today() - dt.timedelta(days=RECENT_DAYS)
        return super().get_queryset(request).filter(date__gte=since).order_by("-date")


def _latest(field: str, *, description: str, show=grouped):
    """A read-only field of the account page showing one of its maintained latest values."""

    @admin.display(description=description)
    def value(model_admin, account: Account):
        latest = _latest_of(account)
        shown = None if latest is None else show(getattr(latest, field, None))
        return model_admin.get_empty_value_display() if shown is None else shown

    value.__name__ = f"latest_{field}"
    return value


def _latest_of(account: Account) -> AccountLatest | None:
    try:
        return account.latest
    except AccountLatest.DoesNotExist:
        return None


def _growth(days: int):
    @admin.display(description=f"{days}-day growth")
    def value(model_admin, account: Account):
        latest = _latest_of(account)
        change = None if latest is None else getattr(latest, f"followers_change_{days}d")
        if change is None:
            return model_admin.get_empty_value_display()
        pct = percent(getattr(latest, f"followers_change_pct_{days}d"))
        return f"{signed(change)} ({pct})" if pct else signed(change)

    value.__name__ = f"growth_{days}d"
    return value


def _rate(value: float | None) -> str | None:
    return None if value is None else percent(value * 100).lstrip("+")


#: The account page's "Latest values": each account's maintained latest row, as people read it.
LATEST_FIELDS = {
    "latest_date": _latest("date", description="latest day", show=lambda day: date_format(day)),
    **{f"latest_{name}": _latest(name, description=name) for name in REPORTED_FIELDS},
    "latest_engagement_rate": _latest("engagement_rate", description="engagement rate", show=_rate),
    "growth_1d": _growth(1),
    "growth_7d": _growth(7),
    "growth_30d": _growth(30),
    "latest_precision": _latest("precision", description="precision", show=lambda v: Precision(v).label),
    "latest_anomaly_reason": _latest("anomaly_reason", description="anomaly", show=lambda value: value),
}


class LatestValues:
    """The read-only fields of LATEST_FIELDS."""


for _name, _field in LATEST_FIELDS.items():
    setattr(LatestValues, _name, _field)


admin.site.unregister(Account)


@admin.register(Account)
class AccountWithSnapshotsAdmin(LatestValues, AccountAdmin):
    """The account admin with its latest values (a column and a section) and recent snapshots."""

    inlines = [RecentSnapshotInline]
    list_display = [*AccountAdmin.list_display[:-1], "latest_followers_column", AccountAdmin.list_display[-1]]
    list_select_related = [*AccountAdmin.list_select_related, "latest"]
    readonly_fields = [*AccountAdmin.readonly_fields, *LATEST_FIELDS]
    fieldsets = [
        *AccountAdmin.fieldsets,
        ("Latest values", {"fields": list(LATEST_FIELDS)}),
    ]

    @admin.display(description="followers", ordering="latest__followers")
    def latest_followers_column(self, account: Account) -> str | None:
        latest = _latest_of(account)
        return None if latest is None else grouped(latest.followers)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if obj is not None else fieldsets[:-1]  # a new account has no values yet

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is not None else [f for f in fields if f not in LATEST_FIELDS]


class SnapshotForm(forms.ModelForm):
    """The snapshot's day and counts checked as every user-given snapshot is: the day by
    `snapshot_date_check`, each count within the bounds the CSV import keeps (0 to METRIC_BOUNDS)."""

    class Meta:
        model = Snapshot
        fields = ["account", "date", *METRIC_FIELDS, "source", "precision"]

    def clean_date(self):
        day = self.cleaned_data["date"]
        try:
            snapshot_date_check(day=day)
        except SnapshotDateOutOfRange as exc:
            raise forms.ValidationError(str(exc)) from None
        return day

    def clean(self):
        cleaned = super().clean()
        for name in METRIC_FIELDS:
            value = cleaned.get(name)
            if value is not None and not 0 <= value <= METRIC_BOUNDS[name]:
                self.add_error(name, f"Expected a whole number from 0 to {METRIC_BOUNDS[name]:,}.")
        return cleaned


class AnomalyListFilter(admin.SimpleListFilter):
    """Flagged days, read through their partial index (`snapshots.anomalies`)."""

    title = "anomaly"
    parameter_name = "anomaly"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged"), ("no", "Not flagged")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(anomaly_reason__isnull=self.value() == "no")
        return queryset


#: Changelist parameters that leave the set of snapshots as the date hierarchy selects it.
_COUNT_NEUTRAL_PARAMS = {ORDER_VAR, PAGE_VAR, ERROR_FLAG, IS_POPUP_VAR, TO_FIELD_VAR, IS_FACETS_VAR}


@admin.register(Snapshot)
class SnapshotAdmin(CountColumns, admin.ModelAdmin):
    form = SnapshotForm
    list_display = [
        "account",
        "date",
        "followers_shown",
        "following_shown",
        "posts_shown",
        "engagement_shown",
        "source",
        "precision",
        "anomaly",
    ]
    list_filter = [AnomalyListFilter, "source", "precision", "account__platform"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    search_fields = ["account__handle"]
    date_hierarchy = "date"
    #: The flag is the rule's (computed on every save); the values it marks stay as they are.
    readonly_fields = ["engagement_shown", "collected_at", "anomaly_reason"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ["-date", "account_id"]

    def get_queryset(self, request):
        return with_range_dates(super().get_queryset(request))

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        """The total is exact and costs one small query when the list shows every snapshot, or the
        days a date hierarchy link selects: the per-date counts the database's triggers keep."""
        params = request.GET
        selected = {name for name, value in params.items() if value}
        days = None
        if not selected - _COUNT_NEUTRAL_PARAMS:
            days = (dt.date.min, dt.date.max)
        elif not selected - _COUNT_NEUTRAL_PARAMS - {"date__year", "date__month", "date__day"}:
            days = hierarchy_range(params, field="date")
        if SEARCH_VAR in selected:
            days = None

        def exact_count() -> int | None:
            if days is None:
                return None
            first, last = days
            return sum(n for day, n in grid_date_counts(using=queryset.db) if first <= day <= last)

        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, exact_count=exact_count)

    @admin.display(boolean=True, description="anomaly")
    def anomaly(self, obj: Snapshot) -> bool:
        return obj.anomaly_reason is not None

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.account  # noqa: B018 - loaded once for the page's title
        return obj

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk is not None:
            # The page's title names the account and the day, not the account's id.
            context["subtitle"] = context["snapshot_title"] = f"{obj.account} on {date_format(obj.date)}"
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        snapshot_save(snapshot=obj)

    def delete_model(self, request, obj):
        snapshot_delete_many(snapshots=Snapshot.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        snapshot_delete_many(snapshots=queryset)


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    """Posts as collection stored them: read-only (the next run would overwrite an edit), deletable."""

    list_display = [
        "excerpt",
        "account",
        "published_at",
        "likes_shown",
        "comments_shown",
        "shares_shown",
        "views_shown",
        "engagement_shown",
        "link",
    ]
    list_display_links = ["excerpt"]
    list_filter = ["account__platform", "post_type", "published_at"]
    list_select_related = ["account"]
    search_fields = ["account__handle", "text", "platform_post_id"]
    fields = [
        "account",
        "platform_post_id",
        "post_type",
        "link",
        "text",
        "published_at",
        "likes_shown",
        "comments_shown",
        "shares_shown",
        "views_shown",
        "engagement_shown",
        "collected_at",
        "updated_at",
    ]
    readonly_fields = fields
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ["-published_at", "-id"]

    likes_shown = count_column("likes")
    comments_shown = count_column("comments")
    shares_shown = count_column("shares")
    views_shown = count_column("views")
    engagement_shown = count_column("engagement")

    @admin.display(description="post", ordering="text")
    def excerpt(self, obj: Post) -> str:
        text = obj.text or f"({obj.get_post_type_display().lower()} without text)"
        return text if len(text) <= 80 else f"{text[:79]}…"

    @admin.display(description="on the platform")
    def link(self, obj: Post) -> str:
        if not obj.url:
            return "-"
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">open ↗</a>', obj.url)

    def has_add_permission(self, request) -> bool:
        return False  # posts come from collection

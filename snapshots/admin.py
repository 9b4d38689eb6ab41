import datetime as dt

from django import forms
from django.contrib import admin

from accounts.admin import AccountAdmin
from accounts.models import Account
from socialmetrics.admin_tools import EstimatedCountPaginator, with_range_dates
from socialmetrics.dates import local_today

from .csv_import import METRIC_BOUNDS
from .models import METRIC_FIELDS, REPORTED_FIELDS, AccountLatest, Snapshot
from .services import SnapshotDateOutOfRange, snapshot_date_check, snapshot_delete_many, snapshot_save

RECENT_DAYS = 30


class RecentSnapshotInline(admin.TabularInline):
    """An account's snapshots of the last 30 days, read-only (edit them in the snapshot admin)."""

    model = Snapshot
    fields = ["date", *REPORTED_FIELDS, "source", "precision", "anomaly_reason"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = f"snapshots of the last {RECENT_DAYS} days"

    def get_queryset(self, request):
        since = local_today() - dt.timedelta(days=RECENT_DAYS)
        return super().get_queryset(request).filter(date__gte=since).order_by("-date")


class LatestInline(admin.StackedInline):
    model = AccountLatest
    can_delete = False
    readonly_fields = [f.name for f in AccountLatest._meta.fields if f.name != "account"]
    fields = readonly_fields
    max_num = 0
    extra = 0


admin.site.unregister(Account)


@admin.register(Account)
class AccountWithSnapshotsAdmin(AccountAdmin):
    inlines = [LatestInline, RecentSnapshotInline]


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


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    form = SnapshotForm
    list_display = [
        "account",
        "date",
        "followers",
        "following",
        "posts",
        "engagement",
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
    readonly_fields = ["engagement", "collected_at", "anomaly_reason"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ["-date", "account_id"]

    def get_queryset(self, request):
        return with_range_dates(super().get_queryset(request))

    @admin.display(boolean=True, description="anomaly")
    def anomaly(self, obj: Snapshot) -> bool:
        return obj.anomaly_reason is not None

    def save_model(self, request, obj, form, change):
        snapshot_save(snapshot=obj)

    def delete_model(self, request, obj):
        snapshot_delete_many(snapshots=Snapshot.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        snapshot_delete_many(snapshots=queryset)

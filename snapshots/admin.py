import datetime as dt

from django import forms
from django.contrib import admin

from accounts.admin import AccountAdmin
from accounts.models import Account
from socialmetrics.admin_tools import EstimatedCountPaginator, with_range_dates
from socialmetrics.dates import local_today

from .models import METRIC_FIELDS, REPORTED_FIELDS, AccountLatest, Snapshot
from .services import SnapshotDateOutOfRange, snapshot_date_check, snapshot_delete_many, snapshot_save

RECENT_DAYS = 30


class RecentSnapshotInline(admin.TabularInline):
    """An account's snapshots of the last 30 days, read-only (edit them in the snapshot admin)."""

    model = Snapshot
    fields = ["date", *REPORTED_FIELDS, "source", "precision"]
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
    """The snapshot's day checked as every user-given day is (`snapshot_date_check`)."""

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


@admin.register(Snapshot)
class SnapshotAdmin(admin.ModelAdmin):
    form = SnapshotForm
    list_display = ["account", "date", "followers", "following", "posts", "engagement", "source", "precision"]
    list_filter = ["source", "precision", "account__platform"]
    list_select_related = ["account"]
    raw_id_fields = ["account"]
    search_fields = ["account__handle"]
    date_hierarchy = "date"
    readonly_fields = ["engagement", "collected_at"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 100
    ordering = ["-date", "account_id"]

    def get_queryset(self, request):
        return with_range_dates(super().get_queryset(request))

    def save_model(self, request, obj, form, change):
        snapshot_save(snapshot=obj)

    def delete_model(self, request, obj):
        snapshot_delete_many(snapshots=Snapshot.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        snapshot_delete_many(snapshots=queryset)

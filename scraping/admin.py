from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from accounts.models import Platform
from socialmetrics.admin_tools import EstimatedCountPaginator
from socialmetrics.dates import day_ranges

from . import selectors, services
from .models import CollectionBatch, CollectionOutcome, CollectionRun

#: Accounts the admin's "Missing days" page lists at most (the command and the API list all).
GAPS_SHOWN = 500


class ReadOnlyAdminMixin:
    """Collection records are written by the runner only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OutcomeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CollectionOutcome
    fields = ["account", "status", "error_message", "duration_seconds", "attempts"]
    readonly_fields = fields
    raw_id_fields = ["account"]
    can_delete = False
    extra = 0

    def get_queryset(self, request):
        # Failures first: those are what a person opens a run to read.
        return super().get_queryset(request).select_related("account").order_by("status", "account__handle")


class BatchInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A run spread over Celery workers: its batches, which worker finished each, and why one failed."""

    model = CollectionBatch
    fields = [
        "index",
        "platform",
        "status",
        "attempts",
        "counts",
        "worker",
        "message",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    can_delete = False
    extra = 0


@admin.register(CollectionRun)
class CollectionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "mode",
        "status",
        "date",
        "started_at",
        "duration_seconds",
        "accounts_total",
        "accounts_succeeded",
        "accounts_failed",
        "accounts_skipped",
    ]
    list_filter = ["mode", "status"]
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in CollectionRun._meta.fields if f.name != "lock_token"]
    inlines = [BatchInline, OutcomeInline]
    show_facets = admin.ShowFacets.NEVER

    def changelist_view(self, request, extra_context=None):
        services.runs_reap_stale()  # a run whose process died is listed as it ended, not "running"
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        services.runs_reap_stale()
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        gaps = path("gaps/", self.admin_site.admin_view(self.gaps_view), name="scraping_collectionrun_gaps")
        return [gaps, *super().get_urls()]

    def gaps_view(self, request):
        """Active accounts with days missing in the last N days (`manage.py find_gaps` on a page)."""
        try:
            days = min(max(int(request.GET.get("days", 7)), 1), selectors.GAPS_MAX_DAYS)
        except ValueError:
            days = 7
        platform = request.GET.get("platform", "")
        platform = platform if platform in Platform.values else ""
        gaps = selectors.account_gaps(days=days, platform=platform)
        missing = sum(len(gap.missing) for gap in gaps)
        summary = (
            f"{len(gaps):,} active accounts miss {missing:,} account-days of the last {days} days."
            if gaps
            else f"No active account misses a day of the last {days} days."
        )
        rows = [{"gap": gap, "ranges": day_ranges(gap.missing)} for gap in gaps[:GAPS_SHOWN]]
        context = {
            **self.admin_site.each_context(request),
            "title": "Missing days",
            "opts": self.model._meta,
            "days": days,
            "max_days": selectors.GAPS_MAX_DAYS,
            "platform": platform,
            "platforms": Platform.choices,
            "gaps": rows,
            "more": len(gaps) > GAPS_SHOWN,
            "summary": summary,
        }
        return TemplateResponse(request, "admin/scraping/collectionrun/gaps.html", context)


@admin.register(CollectionOutcome)
class CollectionOutcomeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run", "account", "status", "error_message", "duration_seconds", "attempts"]
    list_filter = ["status", "account__platform"]
    list_select_related = ["run", "account"]
    raw_id_fields = ["run", "account"]
    search_fields = ["account__handle", "error_message"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator

from django.contrib import admin

from socialmetrics.admin_tools import EstimatedCountPaginator

from . import services
from .models import CollectionOutcome, CollectionRun


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
    inlines = [OutcomeInline]
    show_facets = admin.ShowFacets.NEVER

    def changelist_view(self, request, extra_context=None):
        services.runs_reap_stale()  # a run whose process died is listed as it ended, not "running"
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        services.runs_reap_stale()
        return super().change_view(request, object_id, form_url, extra_context)


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

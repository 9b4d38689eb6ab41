from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.models import Platform
from socialmetrics.admin_tools import EstimatedCountPaginator, count_column, grouped, json_summary, seconds
from socialmetrics.dates import day_ranges

from . import selectors, services
from .models import CollectionBatch, CollectionOutcome, CollectionRun, OutcomeStatus, RunStatus

#: Accounts the admin's "Missing days" page lists at most (the command and the API list all).
GAPS_SHOWN = 500


class ReadOnlyAdminMixin:
    """Collection records are written by the runner only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BatchInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A run spread over Celery workers: its batches, which worker finished each, and why one failed."""

    model = CollectionBatch
    #: Each row's index and platform say which batch it is.
    template = "admin/edit_inline/tabular_untitled.html"
    fields = [
        "index",
        "platform",
        "status",
        "attempts",
        "counts_shown",
        "worker",
        "message",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    can_delete = False
    extra = 0
    verbose_name_plural = "batches (a run spread over Celery workers)"

    counts_shown = count_column("counts", description="counts", show=json_summary, ordering=False)


#: Outcome statuses in the order the run page lists them.
OUTCOME_STATUSES = (
    OutcomeStatus.SUCCEEDED,
    OutcomeStatus.FAILED,
    OutcomeStatus.SKIPPED,
    OutcomeStatus.DEFERRED,
)
#: Reasons (failed, skipped, deferred) the run page groups at most.
REASONS_SHOWN = 20


def outcomes_url(**filters) -> str:
    """The outcomes changelist filtered (run, status, platform)."""
    names = {"run": "run__id__exact", "status": "status__exact", "platform": "account__platform__exact"}
    query = urlencode({names[key]: value for key, value in filters.items()})
    return f"{reverse('admin:scraping_collectionoutcome_changelist')}?{query}"


def outcome_summary(run: CollectionRun) -> dict:
    """A run's outcomes as its page shows them, in two grouped queries however many there are: the
    count per platform and status (each linked to those outcomes), and the most frequent reasons
    accounts failed or were skipped."""
    counts: dict[str, dict[str, int]] = {}
    for platform, status, n in (
        run.outcomes.order_by()
        .values_list("account__platform", "status")
        .annotate(n=Count("*"))
        .values_list("account__platform", "status", "n")
    ):
        counts.setdefault(platform, {})[status] = n

    def cells(by_status: dict[str, int], **filters) -> list[dict]:
        return [
            {
                "count": grouped(by_status.get(status, 0)),
                "url": outcomes_url(run=run.pk, status=status, **filters) if by_status.get(status) else "",
            }
            for status in OUTCOME_STATUSES
        ]

    totals = {status: sum(row.get(status, 0) for row in counts.values()) for status in OUTCOME_STATUSES}
    reasons = (
        run.outcomes.exclude(status=OutcomeStatus.SUCCEEDED)
        .order_by()
        .values_list("status", "account__platform", "error_message")
        .annotate(n=Count("*"))
        .order_by("-n", "status", "account__platform", "error_message")[:REASONS_SHOWN]
    )
    return {
        "statuses": [OutcomeStatus(status).label for status in OUTCOME_STATUSES],
        "rows": [
            {"platform": Platform(p).label if p in Platform.values else p, "cells": cells(row, platform=p)}
            for p, row in sorted(counts.items())
        ],
        "totals": cells(totals),
        "total": grouped(sum(totals.values())),
        "all_url": outcomes_url(run=run.pk),
        "reasons": [
            {
                "status": OutcomeStatus(status).label,
                "platform": Platform(p).label if p in Platform.values else p,
                "reason": reason or "(no reason given)",
                "count": grouped(n),
                "url": outcomes_url(run=run.pk, status=status, platform=p),
            }
            for status, p, reason, n in reasons
        ],
    }


@admin.register(CollectionRun)
class CollectionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "mode",
        "status",
        "date",
        "started_at",
        "duration_shown",
        "accounts_total_shown",
        "accounts_succeeded_shown",
        "accounts_failed_shown",
        "accounts_skipped_shown",
    ]
    list_filter = ["mode", "status"]
    date_hierarchy = "started_at"
    #: The run's record as people read it; the outcomes are summarised below it (`outcome_summary`),
    #: with links to them, and the internal fields (lock token, plan, raw counts) are left out.
    fieldsets = [
        (None, {"fields": ["mode", "status", "date", "message", "cancel_requested_at", "cancelled_by"]}),
        ("Timing", {"fields": ["started_at", "finished_at", "duration_shown", "heartbeat_at"]}),
        (
            "Accounts",
            {
                "fields": [
                    "accounts_total_shown",
                    "accounts_succeeded_shown",
                    "accounts_failed_shown",
                    "accounts_skipped_shown",
                    "rate_shown",
                ]
            },
        ),
        ("Options", {"fields": ["options_shown"]}),
    ]
    readonly_fields = [name for _, section in fieldsets for name in section["fields"]]
    inlines = [BatchInline]
    show_facets = admin.ShowFacets.NEVER
    actions = ["cancel_runs"]

    def has_cancel_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff  # as the API's cancel

    @admin.action(description="Cancel the selected runs that are still going", permissions=["cancel"])
    def cancel_runs(self, request, queryset):
        """As POST /api/runs/<id>/cancel: each stops before its next batch and keeps what it collected."""
        going = list(
            queryset.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING]).values_list("pk", flat=True)
        )
        for pk in going:
            services.run_cancel(run_id=pk, by=request.user.get_username())
        if going:
            runs = f"{'runs' if len(going) > 1 else 'run'} {', '.join(map(str, going))}"
            self.message_user(
                request,
                f"Asked {runs} to stop: what was collected is kept, and the run ends cancelled.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, "None of the selected runs is still going: nothing to cancel.", messages.WARNING
            )

    duration_shown = count_column("duration_seconds", description="duration", show=seconds)
    accounts_total_shown = count_column("accounts_total", description="accounts")
    accounts_succeeded_shown = count_column("accounts_succeeded", description="succeeded")
    accounts_failed_shown = count_column("accounts_failed", description="failed")
    accounts_skipped_shown = count_column("accounts_skipped", description="skipped")
    options_shown = count_column("options", description="options", show=json_summary, ordering=False)

    @admin.display(description="speed")
    def rate_shown(self, run: CollectionRun) -> str | None:
        rate = run.accounts_per_second
        return self.get_empty_value_display() if rate is None else f"{grouped(rate)} accounts/s"

    def changelist_view(self, request, extra_context=None):
        services.runs_reap_stale()  # a run whose process died is listed as it ended, not "running"
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        services.runs_reap_stale()
        return super().change_view(request, object_id, form_url, extra_context)

    def get_inline_instances(self, request, obj=None):
        # Only a run spread over Celery workers has batches.
        if obj is None or not obj.batches.exists():
            return []
        return super().get_inline_instances(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["outcomes"] = outcome_summary(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

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


class RunListFilter(admin.SimpleListFilter):
    """The outcomes of one run (the run page links here): the newest runs, and the one chosen."""

    title = "run"
    parameter_name = "run__id__exact"
    NEWEST = 10

    def lookups(self, request, model_admin):
        runs = list(CollectionRun.objects.order_by("-started_at").values_list("pk", "date")[: self.NEWEST])
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(pk) != chosen for pk, _ in runs):
            runs += list(CollectionRun.objects.filter(pk=int(chosen)).values_list("pk", "date"))
        return [(str(pk), f"run {pk} ({day})" if day else f"run {pk}") for pk, day in runs]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(run_id=int(value))
        return queryset


@admin.register(CollectionOutcome)
class CollectionOutcomeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run", "account", "status", "error_message", "duration_shown", "attempts"]
    list_filter = [RunListFilter, "status", "account__platform"]
    list_select_related = ["run", "account"]
    raw_id_fields = ["run", "account"]
    search_fields = ["account__handle", "error_message"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    ordering = ["-run_id", "status", "account_id"]

    duration_shown = count_column("duration_seconds", description="duration", show=seconds)

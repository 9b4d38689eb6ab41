from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from socialmetrics.admin_tools import grouped

from .account_lists import account_list_csv, account_list_import, account_list_json, account_list_text
from .models import Account, Organization
from .services import ImportFileError, accounts_set_flags


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "account_count", "updated_at"]
    list_select_related = ["parent"]
    search_fields = ["name"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_account_count=Count("accounts"))

    @admin.display(description="accounts", ordering="_account_count")
    def account_count(self, obj: Organization) -> str:
        return grouped(obj._account_count)


class AccountImportForm(forms.Form):
    file = forms.FileField(
        label="Account list",
        help_text=(
            "A JSON list of {platform, url or handle, organization, display_name} or a CSV with the "
            "columns Platform, Handle, Organization[, URL, Display_Name]: the files manage.py "
            "import_accounts reads and the export actions write."
        ),
    )
    dry_run = forms.BooleanField(
        required=False, label="Dry run", help_text="Check and count every entry, then write nothing."
    )

    def clean_file(self):
        file = self.cleaned_data["file"]
        limit = settings.SOCIALMETRICS_MAX_UPLOAD_MB
        if file.size > limit * 1024 * 1024:
            raise forms.ValidationError(f"The file is larger than {limit} MB.")
        return file


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = [
        "handle",
        "platform",
        "display_name",
        "organization",
        "is_core",
        "is_active",
        "updated_at",
    ]
    list_display_links = ["handle"]
    list_filter = ["platform", "is_core", "is_active", ("organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["handle", "display_name", "organization__name", "external_id"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["created_at", "updated_at"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    list_per_page = 100
    actions = ["mark_core", "mark_not_core", "deactivate", "activate", "export_csv", "export_json"]
    fieldsets = [
        (None, {"fields": ["platform", "handle", "display_name", "profile_url", "organization"]}),
        ("Collection", {"fields": ["is_core", "is_active", "external_id", "instance_host"]}),
        ("Notes", {"fields": ["notes", "created_at", "updated_at"]}),
    ]

    def _set_flags(self, request, queryset, message: str, **flags) -> None:
        count = accounts_set_flags(account_ids=queryset.values_list("pk", flat=True), **flags)
        self.message_user(request, f"{grouped(count)} account(s) {message}.", messages.SUCCESS)

    @admin.action(description="Mark selected accounts as core", permissions=["change"])
    def mark_core(self, request, queryset):
        self._set_flags(request, queryset, "marked core", is_core=True)

    @admin.action(description="Mark selected accounts as not core", permissions=["change"])
    def mark_not_core(self, request, queryset):
        self._set_flags(request, queryset, "marked not core", is_core=False)

    @admin.action(description="Deactivate selected accounts (stop collecting them)", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_flags(request, queryset, "deactivated", is_active=False)

    @admin.action(description="Activate selected accounts", permissions=["change"])
    def activate(self, request, queryset):
        self._set_flags(request, queryset, "activated", is_active=True)

    # --- Export and import: the files `manage.py import_accounts` reads

    @admin.action(description="Export selected accounts as CSV (for import_accounts)", permissions=["view"])
    def export_csv(self, request, queryset):
        return _attachment(account_list_csv(accounts=queryset), extension="csv", content_type="text/csv")

    @admin.action(description="Export selected accounts as JSON (for import_accounts)", permissions=["view"])
    def export_json(self, request, queryset):
        return _attachment(
            account_list_json(accounts=queryset), extension="json", content_type="application/json"
        )

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_import"
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=name),
            *super().get_urls(),
        ]

    def has_import_permission(self, request) -> bool:
        """An import creates accounts and changes existing ones."""
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            "has_import_permission": self.has_import_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        """An account list uploaded and imported as `manage.py import_accounts` imports it: one
        transaction, bad entries listed with their position and reason, the rest imported."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = AccountImportForm(request.POST or None, request.FILES or None)
        report = entries = None
        dry_run = False
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            dry_run = form.cleaned_data["dry_run"]
            try:
                text = account_list_text(data=upload.read(), name=upload.name)
                report, entries = account_list_import(name=upload.name, text=text, dry_run=dry_run)
            except ImportFileError as exc:
                form.add_error("file", str(exc))
            else:
                summary = (
                    f"{grouped(report.created)} created, {grouped(report.updated)} updated, "
                    f"{grouped(report.unchanged)} unchanged, {grouped(len(report.rejected))} rejected"
                    f" of {grouped(entries)} entries in {upload.name}"
                    + (" (dry run: nothing was written)." if dry_run else ".")
                )
                level = messages.WARNING if report.rejected else messages.SUCCESS
                self.message_user(request, summary, level)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import accounts",
            "opts": self.model._meta,
            "form": form,
            "report": report,
            "dry_run": dry_run,
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/accounts/account/import.html", context)


def _attachment(text: str, *, extension: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="accounts-{stamp}.{extension}"'
    return response

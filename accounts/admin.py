from django.contrib import admin, messages
from django.db.models import Count

from .models import Account, Organization
from .services import accounts_set_flags


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
    def account_count(self, obj: Organization) -> int:
        return obj._account_count


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
    actions = ["mark_core", "mark_not_core", "deactivate", "activate"]
    fieldsets = [
        (None, {"fields": ["platform", "handle", "display_name", "profile_url", "organization"]}),
        ("Collection", {"fields": ["is_core", "is_active", "external_id", "instance_host"]}),
        ("Notes", {"fields": ["notes", "created_at", "updated_at"]}),
    ]

    def _set_flags(self, request, queryset, message: str, **flags) -> None:
        count = accounts_set_flags(account_ids=queryset.values_list("pk", flat=True), **flags)
        self.message_user(request, f"{count} account(s) {message}.", messages.SUCCESS)

    @admin.action(description="Mark selected accounts as core")
    def mark_core(self, request, queryset):
        self._set_flags(request, queryset, "marked core", is_core=True)

    @admin.action(description="Mark selected accounts as not core")
    def mark_not_core(self, request, queryset):
        self._set_flags(request, queryset, "marked not core", is_core=False)

    @admin.action(description="Deactivate selected accounts (stop collecting them)")
    def deactivate(self, request, queryset):
        self._set_flags(request, queryset, "deactivated", is_active=False)

    @admin.action(description="Activate selected accounts")
    def activate(self, request, queryset):
        self._set_flags(request, queryset, "activated", is_active=True)

"""The dashboard's pages: thin TemplateViews whose JavaScript reads every number through the JSON API.

A view passes only what a page needs to draw its frame (the platform list, whether the user is
staff, the account named in the URL); the data arrive from ``/api/...`` after the first paint.
Staff-only controls are left out of the HTML for everyone else, and the API refuses their requests
regardless.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from accounts.models import Platform


def _is_staff(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


class PageView(TemplateView):
    #: Which item of the top navigation is the current page.
    nav = ""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["nav"] = self.nav
        context["platforms"] = [{"value": value, "label": label} for value, label in Platform.choices]
        context["is_staff"] = _is_staff(self.request.user)
        return context


class OverviewPage(PageView):
    template_name = "snapshots/overview.html"
    nav = "overview"


class AccountPage(PageView):
    template_name = "accounts/account_detail.html"
    nav = "overview"

    def get_context_data(self, **kwargs):
        if kwargs["platform"] not in Platform.values:
            raise Http404("No such platform.")
        context = super().get_context_data(**kwargs)
        context["platform_label"] = Platform(kwargs["platform"]).label
        return context


class ComparePage(PageView):
    template_name = "snapshots/compare.html"
    nav = "compare"


class GridPage(PageView):
    template_name = "snapshots/grid.html"
    nav = "grid"
    #: (field of /api/grid?rows=objects and its ordering name, heading, kind), in the table's order.
    columns = (
        ("platform", "Platform", "text"),
        ("handle", "Handle", "text"),
        ("org_name", "Organization", "text"),
        ("date", "Date", "text"),
        ("followers", "Followers", "num"),
        ("engagement", "Engagement", "num"),
        ("engagement_rate", "Eng. rate", "rate"),
        ("posts", "Posts", "num"),
        ("likes", "Likes", "num"),
        ("comments", "Comments", "num"),
        ("shares", "Shares", "num"),
    )

    def get_context_data(self, **kwargs):
        return super().get_context_data(columns=self.columns, **kwargs)


class UploadPage(PageView):
    """The form that sends a CSV to ``POST /upload``; the form is shown to staff only."""

    template_name = "snapshots/upload.html"
    nav = "upload"

    def get_context_data(self, **kwargs):
        return super().get_context_data(max_upload_mb=settings.SOCIALMETRICS_MAX_UPLOAD_MB, **kwargs)


def upload_route(api_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """``/upload`` is both the page (GET, HEAD) and the API's CSV upload (POST): one URL, two views.

    Exempt from the CSRF middleware exactly like the API view it wraps: REST framework checks the
    CSRF token of session-authenticated writes itself, and token clients have none to send.
    """
    page = UploadPage.as_view()

    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            return page(request, *args, **kwargs)
        return api_view(request, *args, **kwargs)

    return csrf_exempt(view)


urlpatterns = [
    path("", OverviewPage.as_view(), name="overview"),
    # A handle may hold a "/" (reddit u/name), as in /api/history/<platform>/<handle>.
    path("accounts/<str:platform>/<path:handle>/", AccountPage.as_view(), name="account-page"),
    path("compare/", ComparePage.as_view(), name="compare"),
    path("grid/", GridPage.as_view(), name="grid"),
]

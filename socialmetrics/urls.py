from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from snapshots.api.accounts import AccountViewSet
from snapshots.api.anomalies import AnomalyListView
from snapshots.api.movers import MoversView
from snapshots.api.posts import PostListView
from snapshots.api.upload import BulkUploadView, UploadView
from snapshots.api.views import DownloadView, GridView, HistoryView, SummaryTotalsView, SummaryView
from socialmetrics import pages
from socialmetrics.api import errors
from socialmetrics.api.health import LiveView, ReadyView
from socialmetrics.api.performance import PerformanceView
from socialmetrics.api.prometheus import MetricsView
from socialmetrics.api.tokens import TokenView
from socialmetrics.api.views import ApiRootView, CacheView

# Every API path answers with and without a trailing slash (the earlier tracker's clients use both).
router = SimpleRouter()
router.trailing_slash = "/?"  # the constructor only takes True/False
router.register("api/accounts", AccountViewSet, basename="account")

# GET /upload: the dashboard's page; POST: the API's CSV upload. `cls` lets the schema see the API view.
upload_view = pages.upload_route(UploadView.as_view())
upload_view.cls, upload_view.initkwargs = UploadView, {}

api_urlpatterns = [
    re_path(r"^api/?$", ApiRootView.as_view(), name="api-root"),  # lists every endpoint below
    re_path(r"^api/summary/?$", SummaryView.as_view(), name="api-summary"),
    re_path(r"^api/summary/totals/?$", SummaryTotalsView.as_view(), name="api-summary-totals"),
    # A handle may hold a "/" (reddit u/name, LinkedIn showcase/name), so it runs to the end.
    re_path(
        r"^api/history/(?P<platform>[^/]+)/(?P<handle>.+?)/?$", HistoryView.as_view(), name="api-history"
    ),
    re_path(r"^api/grid/?$", GridView.as_view(), name="api-grid"),
    re_path(r"^api/anomalies/?$", AnomalyListView.as_view(), name="api-anomalies"),
    re_path(r"^api/movers/?$", MoversView.as_view(), name="api-movers"),
    re_path(r"^api/posts/?$", PostListView.as_view(), name="api-posts"),
    re_path(r"^api/download/?$", DownloadView.as_view(), name="api-download"),
    re_path(r"^api/upload-bulk/?$", BulkUploadView.as_view(), name="api-upload-bulk"),
    re_path(r"^api/cache/?$", CacheView.as_view(), name="api-cache"),
    re_path(r"^api/performance/?$", PerformanceView.as_view(), name="api-performance"),
    path("", include("scraping.api.urls")),  # run-scraper, job-status
    *router.urls,
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its script from a URL: the Content-Security-Policy runs no inline script.
    re_path(r"^api/docs/?$", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^api/auth/token/?$", TokenView.as_view(), name="api-auth-token"),
    path("api/auth/", include("rest_framework.urls")),
]

urlpatterns = [
    *api_urlpatterns,
    re_path(r"^api(?:/.*)?$", errors.not_found),  # any other /api/ path: JSON 404
    # GET: the dashboard's upload page; POST: this API view.
    re_path(r"^upload/?$", upload_view, name="upload"),
    re_path(r"^health/live/?$", LiveView.as_view(), name="health-live"),
    re_path(r"^health/ready/?$", ReadyView.as_view(), name="health-ready"),
    re_path(r"^metrics/?$", MetricsView.as_view(), name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("django.contrib.auth.urls")),
    path("", include("socialmetrics.pages")),
]

handler404 = errors.handler404
handler500 = errors.handler500

if settings.DEBUG and "debug_toolbar" in settings.INSTALLED_APPS:
    urlpatterns += [path("__debug__/", include("debug_toolbar.urls"))]

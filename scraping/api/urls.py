from django.urls import re_path

from .views import GapsView, JobStatusView, RunCancelView, RunLatestView, RunScraperView, ScheduleView

urlpatterns = [
    re_path(r"^api/run-scraper/?$", RunScraperView.as_view(), name="api-run-scraper"),
    re_path(r"^api/job-status/(?P<job_id>\d+)/?$", JobStatusView.as_view(), name="api-job-status"),
    re_path(r"^api/runs/latest/?$", RunLatestView.as_view(), name="api-run-latest"),
    re_path(r"^api/runs/(?P<job_id>\d+)/cancel/?$", RunCancelView.as_view(), name="api-run-cancel"),
    re_path(r"^api/schedule/?$", ScheduleView.as_view(), name="api-schedule"),
    re_path(r"^api/gaps/?$", GapsView.as_view(), name="api-gaps"),
]

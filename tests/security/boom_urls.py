"""The project's URLs plus two views that fail, for the error pages of tests/security/test_secrets.py."""

from django.urls import path

from socialmetrics.urls import handler404, handler500
from socialmetrics.urls import urlpatterns as project_urlpatterns

__all__ = ["handler404", "handler500", "urlpatterns"]


def boom(request):
    raise RuntimeError("the view failed")


urlpatterns = [path("boom/", boom), path("api/boom", boom), *project_urlpatterns]

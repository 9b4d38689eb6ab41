"""The minimal Django baseline: no apps, no middleware, one view, served by gunicorn exactly as the
product is (`gunicorn 'django.core.wsgi:get_wsgi_application()'` with DJANGO_SETTINGS_MODULE set to
this module). Nothing Django serves can be faster, so cached reads are measured as a ratio to it.
This module is the settings, the URLconf and the view at once."""

from django.http import JsonResponse
from django.urls import path

SECRET_KEY = "bench-minimal-view-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict = {}
ROOT_URLCONF = "bench.minimal"
USE_TZ = True

BODY = {"status": "ok", "service": "socialmetrics", "baseline": True}


def minimal(request):
    return JsonResponse(BODY)


urlpatterns = [path("bench/minimal", minimal)]

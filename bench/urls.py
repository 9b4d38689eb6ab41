"""The product's URLs plus the baseline view at /bench/baseline (only under bench.settings)."""

from django.urls import include, path

from bench.baseline import baseline
from socialmetrics.urls import handler404, handler500

urlpatterns = [
    path("bench/baseline", baseline, name="bench-baseline"),
    path("", include("socialmetrics.urls")),
]

__all__ = ["handler404", "handler500", "urlpatterns"]

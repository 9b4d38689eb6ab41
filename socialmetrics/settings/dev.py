"""Development: DEBUG on, django-debug-toolbar for looking at one request's queries."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, MIDDLEWARE, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production")
INTERNAL_IPS = ["127.0.0.1"]

if env.bool("DEBUG_TOOLBAR", default=True):
    INSTALLED_APPS = [*INSTALLED_APPS, "debug_toolbar"]
    _gzip = MIDDLEWARE.index("django.middleware.gzip.GZipMiddleware")
    MIDDLEWARE = [
        *MIDDLEWARE[: _gzip + 1],
        "debug_toolbar.middleware.DebugToolbarMiddleware",
        *MIDDLEWARE[_gzip + 1 :],
    ]

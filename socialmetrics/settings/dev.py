"""Development: a local key and static files from the finders. DEBUG=true turns on debugging and
django-debug-toolbar (for looking at one request's queries); it is never on in tests or production."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, MIDDLEWARE, env

DEBUG = env.bool("DEBUG", default=False)
WHITENOISE_USE_FINDERS = True
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production")
INTERNAL_IPS = ["127.0.0.1"]

if DEBUG and env.bool("DEBUG_TOOLBAR", default=True):
    INSTALLED_APPS = [*INSTALLED_APPS, "debug_toolbar"]
    _gzip = MIDDLEWARE.index("django.middleware.gzip.GZipMiddleware")
    MIDDLEWARE = [
        *MIDDLEWARE[: _gzip + 1],
        "debug_toolbar.middleware.DebugToolbarMiddleware",
        *MIDDLEWARE[_gzip + 1 :],
    ]

"""Tests: fast password hashing, no toolbar, a throwaway key. The backends come from the environment
exactly as in production, so the suite runs on SQLite + local memory or on PostgreSQL + Redis."""

from .base import *  # noqa: F403
from .base import CACHES, env

SECRET_KEY = "test-only-insecure-key"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]
if "KEY_PREFIX" in CACHES["default"]:
    CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="sm-test")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

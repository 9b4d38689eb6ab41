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

# SQLite: the test database is a file, as in production, not Django's default shared in-memory one.
# In memory, every connection shares one cache, where a write and a read in two threads (a
# background collection run and the request that follows it) fail at once with "database table is
# locked" instead of waiting; a file in WAL mode lets readers read while the writer writes.
_default_db = DATABASES["default"]  # noqa: F405
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    # SQLITE_TEST_NAME lets two test runs share a checkout without sharing a database.
    _test_name = env.str("SQLITE_TEST_NAME", default="test-db.sqlite3")
    _default_db.setdefault("TEST", {})["NAME"] = str(BASE_DIR / _test_name)  # noqa: F405

# Sign-in lockout (django-axes) is off, so tests that sign in with a wrong password never lock out
# the next ones; tests/security/test_login_lockout.py turns it on for itself.
AXES_ENABLED = False

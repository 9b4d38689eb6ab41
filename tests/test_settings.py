"""Settings: production refuses to start without its secrets, and the embedded default works."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from socialmetrics.db.pool import check_connection

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env=None):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_its_secrets(missing):
    env = {
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.prod",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "a.example",
    }
    del env[missing]
    result = manage("check", env=env)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_production_passes_the_deployment_checks():
    env = {
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.prod",
        "SECRET_KEY": "k3y-" + "q8Zr1x" * 10,
        "ALLOWED_HOSTS": "metrics.example.org",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_unless_asked_for():
    result = manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG)")
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert not settings.DEBUG
    assert "debug_toolbar" not in settings.INSTALLED_APPS


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    code = (
        "from django.db import connection\n"
        "c = connection.cursor()\n"
        "mode = c.execute('PRAGMA journal_mode').fetchone()[0]\n"
        "print(mode, c.execute('PRAGMA busy_timeout').fetchone()[0])\n"
    )
    result = manage("shell", "-c", code, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    mode, timeout = result.stdout.strip().splitlines()[-1].split()
    assert mode == "wal"
    assert int(timeout) >= 5000


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_uses_the_psycopg_pool_and_health_checks():
    db = settings.DATABASES["default"]
    assert db["OPTIONS"]["pool"] == {
        "min_size": 2,
        "max_size": 10,
        "timeout": 20.0,
        "reconnect_timeout": 5.0,
        "check": check_connection,  # the health check, a round trip only when needed
    }
    assert db["CONN_HEALTH_CHECKS"] is True
    assert connection.pool is not None


def test_redis_failures_are_counted_and_never_raised():
    code = (
        "from django.core.cache import cache\n"
        "from prometheus_client import REGISTRY\n"
        "cache.set('k', 1); v = cache.get('k')\n"
        "print(v, int(REGISTRY.get_sample_value('socialmetrics_redis_failures_total')))\n"
    )
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test"}
    result = manage("shell", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    # The get comes while backing off after the set's failure: not tried, so not counted again.
    assert result.stdout.strip().splitlines()[-1] == "None 1"

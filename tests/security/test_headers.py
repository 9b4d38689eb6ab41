"""Production hardening: the deployment checks pass, every page carries a Content-Security-Policy
that runs only this site's scripts and styles, and the other security headers are set."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.api.conftest import account

ROOT = Path(__file__).resolve().parent.parent.parent
PAGES = ["/", "/grid/", "/compare/", "/upload", "/accounts/x/nasa/", "/login/", "/api/docs"]
STAFF_PAGES = [
    "/admin/",
    "/admin/accounts/account/",
    "/admin/authtoken/tokenproxy/add/",
    "/api/summary?format=api",
]
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
STYLE_ATTRIBUTE = re.compile(rb"<[^>]+\sstyle=", re.I)


PROD = {
    "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.prod",
    "SECRET_KEY": "prod-" + "Zq81xKp3" * 8,
    "ALLOWED_HOSTS": "metrics.example.org",
}


def test_check_deploy_is_clean_under_the_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}, **PROD},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_lockout_settings_come_from_the_environment():
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'x'); django.setup(); "
        "from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(), s.AXES_LOCKOUT_PARAMETERS)"
    )
    env = {**os.environ, **PROD}
    default = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert default.stdout.strip() == "5 900.0 ['ip_address', 'username']", default.stderr
    env.update(
        SOCIALMETRICS_LOGIN_FAILURE_LIMIT="8",
        SOCIALMETRICS_LOGIN_COOLOFF_MINUTES="60",
        SOCIALMETRICS_LOGIN_LOCKOUT_BY="username+ip_address",
    )
    custom = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert custom.stdout.strip() == "8 3600.0 [['username', 'ip_address']]", custom.stderr


def _assert_hardened(path: str, response) -> None:
    assert response.status_code == 200, path
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'", path
    assert directives["style-src"] == "'self'", path
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    if "text/html" in response["Content-Type"]:
        assert not INLINE_SCRIPT.findall(response.content), f"{path} has an inline script"


@pytest.mark.django_db
def test_every_page_is_served_under_the_policy(admin_client):
    account("nasa")
    for path in PAGES:
        response = Client().get(path)
        _assert_hardened(path, response)
        assert not STYLE_ATTRIBUTE.findall(response.content), f"{path} has a style attribute"
    for path in [*PAGES, *STAFF_PAGES]:
        _assert_hardened(path, admin_client.get(path))


@pytest.mark.django_db
def test_the_api_docs_script_comes_from_a_url():
    page = Client().get("/api/docs").content.decode()
    script = re.search(r'<script src="(/api/docs\?script=[^"]*)"', page).group(1)
    response = Client().get(script)
    assert response.status_code == 200
    assert "javascript" in response["Content-Type"]
    assert "SwaggerUIBundle" in response.content.decode()


def test_templates_hold_no_inline_script_or_style():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_bytes()
        assert not INLINE_SCRIPT.findall(text), template
        assert not STYLE_ATTRIBUTE.findall(text), template
        assert not re.search(rb"<style|\son[a-z]+=", text), template

"""Every URL pattern, every method, every kind of caller: only staff write, and a session write needs
the CSRF token.

The patterns come from the resolver itself (admin and auth views included), so a route added later
is walked too. Path parameters are filled with plausible values: existing objects where a view looks
one up. For the anonymous caller, a signed-in non-staff user (session) and a non-staff token holder,
no POST/PUT/PATCH/DELETE may succeed (2xx) except the intentional ones listed in INTENTIONAL; a staff
session without the CSRF token is refused (403) on every write. Nothing answers 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Account
from scraping.models import CollectionRun
from socialmetrics.dates import local_today
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

WRITES = ("POST", "PUT", "PATCH", "DELETE")
METHODS = ("GET", *WRITES)
ROLES = ("anonymous", "user-session", "user-token")

# (path, methods, roles that may get a 2xx, why). Empty bodies are sent, so a form view answers 200
# with its errors: nothing is written, but the view is open to these callers by design. Django's form
# views treat PUT as POST.
_ANYONE = frozenset(ROLES)
_FORM = ("POST", "PUT")
INTENTIONAL: list[tuple[str, tuple[str, ...], frozenset[str], str]] = [
    ("/login/", _FORM, _ANYONE, "signing in is open to everybody (throttled by django-axes)"),
    ("/admin/login/", _FORM, _ANYONE, "the admin's sign-in form; the admin itself needs staff"),
    ("/api/auth/login/", _FORM, _ANYONE, "REST framework's sign-in form (browsable API)"),
    ("/password_reset/", _FORM, _ANYONE, "anyone may ask for a reset link to the address on file"),
    ("/reset/MQ/set-password/", WRITES, _ANYONE, "an invalid link shows 'invalid link' to any method"),
    ("/password_change/", _FORM, frozenset({"user-session"}), "a user changes their own password"),
    ("/api/auth/token", ("POST", "DELETE"), frozenset({"user-session", "user-token"}), "own API token"),
]
ALLOWED = {(path, method): roles for path, methods, roles, _why in INTENTIONAL for method in methods}
# Routes that read no session and accept no write (404 or 405 before any authentication), so a
# write without the CSRF token meets no CSRF check there.
NO_SESSION = {
    "/api": "unknown /api/ paths: a JSON 404 for every method",
    "/health/live": "liveness probe, GET only",
    "/health/ready": "readiness probe, GET only",
}


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        regex = prefix + pattern.pattern.regex.pattern.removeprefix("^")
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, regex)
        else:
            yield regex, pattern


def _values(pattern: URLPattern, *, acc: Account, run: CollectionRun, user) -> dict[str, str]:
    model_admin = getattr(pattern.callback, "model_admin", None)
    obj = model_admin.model._default_manager.order_by("pk").first() if model_admin else None
    return {
        "app_label": "accounts",
        "platform": acc.platform,
        "handle": acc.handle,
        "pk": str(acc.pk),
        "job_id": str(run.pk),
        "object_id": str(obj.pk) if obj else "1",
        "content_type_id": str(ContentType.objects.get_for_model(Account).pk),
        "id": str(user.pk),
        "url": "nothing-here/",
        "uidb64": "MQ",
        "token": "set-password",
    }


def concrete_paths(**objects) -> list[str]:
    """One plausible path for every URL pattern of the project."""
    paths = []
    for regex, pattern in _walk(get_resolver().url_patterns):
        template, params = normalize("^" + regex)[0]
        values = _values(pattern, **objects)
        path = "/" + template % {name: values[name] for name in params}
        paths.append(path)
    return list(dict.fromkeys(paths))


@pytest.fixture
def objects(django_user_model):
    acc = account("nasa")
    history(acc, days=2, end=local_today())
    run = CollectionRun.objects.create()
    staff = django_user_model.objects.create_user("editor", password="pw", is_staff=True)
    Token.objects.create(user=staff)
    return {"acc": acc, "run": run, "user": staff}


@pytest.fixture
def callers(django_user_model, settings):
    """A fresh client per request: signing out or rotating a token must not change the next one."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "off"}}
    reader = django_user_model.objects.create_user("reader", password="pw")
    holder = django_user_model.objects.create_user("holder", password="pw")
    staff = django_user_model.objects.get(username="editor")

    def make(role: str) -> APIClient:
        if role == "anonymous":
            return APIClient()
        if role == "user-session":
            client = APIClient()
            client.force_login(reader)
            return client
        if role == "user-token":
            client = APIClient()
            key = Token.objects.get_or_create(user=holder)[0].key
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
            return client
        client = APIClient(enforce_csrf_checks=True)  # staff, session, no CSRF token
        client.force_login(staff)
        return client

    return make


def _send(client: APIClient, method: str, path: str):
    return getattr(client, method.lower())(path)


def test_the_walk_covers_every_kind_of_route(objects):
    paths = concrete_paths(**objects)
    for expected in [
        "/api/summary",
        f"/api/accounts/{objects['acc'].pk}",
        "/api/history/x/nasa",
        "/api/auth/token",
        "/upload",
        "/metrics",
        "/admin/",
        "/admin/accounts/account/add/",
        "/admin/authtoken/tokenproxy/",
        "/login/",
        "/",
        "/accounts/x/nasa/",
    ]:
        assert expected in paths, expected
    assert len(paths) > 80
    assert {path for path, *_ in INTENTIONAL} <= set(paths), "an intentional exception names no route"


def test_no_write_succeeds_without_staff_and_no_session_write_without_csrf(objects, callers):
    wrong: list[str] = []
    for path in concrete_paths(**objects):
        for method in METHODS:
            for role in (*ROLES, "staff-session-no-csrf"):
                response = _send(callers(role), method, path)
                status = response.status_code
                where = f"{role} {method} {path} -> {status}"
                if status >= 500:
                    wrong.append(f"{where} (server error)")
                elif method == "GET":
                    continue
                elif role == "staff-session-no-csrf":
                    if status != 403 and not (path in NO_SESSION and status in (404, 405)):
                        wrong.append(f"{where} (a session write without the CSRF token must be 403)")
                elif 200 <= status < 300 and role not in ALLOWED.get((path, method), ()):
                    wrong.append(f"{where} (only staff may write)")
    assert not wrong, "\n".join(wrong)


def test_intentional_exceptions_write_nothing_they_should_not(objects, callers):
    """The open form views answered 2xx above only because they re-rendered with errors."""
    for path, methods, roles, _why in INTENTIONAL:
        if path == "/api/auth/token":
            continue  # its own tests: tests/security/test_tokens.py
        for role in roles:
            method = methods[0]
            response = _send(callers(role), method, path)
            assert response.status_code == 200, (role, path)
            assert re.search(rb"error|invalid|required", response.content, re.I), (role, path)

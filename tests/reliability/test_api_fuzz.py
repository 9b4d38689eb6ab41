"""Every operation of the app's own OpenAPI schema, fuzzed with schemathesis, anonymous and as staff.

Requests go in-process to the WSGI application (no socket, no network); their writes land in the
test database and are rolled back with it. All of schemathesis's checks run: no 5xx, every status
and content type documented, every body as the schema describes it, valid data accepted and invalid
data refused. The number of examples per operation and generation mode is small so the suite stays
fast; for a long run raise it, e.g. ``FUZZ_EXAMPLES=500`` (examples are then also drawn at random
instead of from a fixed seed).
"""

from __future__ import annotations

import os
import socket
from types import SimpleNamespace

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client, override_settings
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from accounts.models import Platform
from accounts.platforms import UnknownPlatform, normalize_platform
from scraping.models import RunStatus
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
LONG_RUN = "FUZZ_EXAMPLES" in os.environ
BASE_URL = "http://127.0.0.1"


@pytest.fixture
def wsgi_app(api_document):
    """Django's WSGI handler, kept on the test's database connection: the handler would otherwise
    close it at the end of each request (as Django's test client also prevents)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_document() -> dict:
    """The schema as /api/schema serves it (fetched before `wsgi_app` changes the signals)."""
    response = Client().get("/api/schema", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return response.json()


@pytest.fixture(autouse=True)
def _local_only(monkeypatch):
    """Nothing leaves this machine: a collection run the fuzzer asks for (mode "real" would call the
    platforms) is recorded as started but never runs, and any socket to an address other than
    127.0.0.1 (or a Unix socket) is refused."""
    monkeypatch.setattr(
        "scraping.api.views.collect_in_background",
        lambda *, options: SimpleNamespace(pk=1, status=RunStatus.PENDING, accounts_total=0),
    )
    connect = socket.socket.connect

    def local_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            raise OSError(f"The fuzz test connects to 127.0.0.1 only, not {address[0]}.")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_connect)


@pytest.fixture
def api_schema(api_document, wsgi_app):
    schema = schemathesis.openapi.from_dict(api_document)
    schema.app = wsgi_app
    schema.base_url = BASE_URL
    return schema


@pytest.fixture
def data(today):
    """A few accounts with history, so reads return rows and ids exist to be found."""
    for handle in ("alpha", "beta"):
        history(account(handle), days=40, end=today)
    account("gamma", organization=None)


@pytest.fixture
def today():
    from socialmetrics.dates import local_today

    return local_today()


def _all_checks() -> list:
    load_all_checks()
    return CHECKS.get_all()


#: Disagreements between schema and API still to fix, each with the file
#: that owns it: operation -> the checks left out for it. Remove an entry when its fix lands.
KNOWN_GAPS: dict[str, set[str]] = {}
# An account write is refused when its handle or URL does not fit the platform's own rules
# (accounts/platforms.py: a Mastodon handle is name@host, a YouTube one @name or a channel id...);
# no JSON schema pattern can state rules that depend on another field, so generated handles that
# the schema allows are refused (400) and the "valid data is accepted" check cannot hold.
for _label in ("POST /api/accounts/", "PUT /api/accounts/{id}/", "PATCH /api/accounts/{id}/"):
    KNOWN_GAPS.setdefault(_label, set()).add("positive_data_acceptance")


def _valid_combination(case):
    """Make a valid example valid across parameters too, where a schema cannot say it: a range's
    ``from`` is not after its ``to``, and a grid cursor is opaque (only one the API gave out is
    valid, tested in tests/api/test_grid.py) and not combined with page or ordering: valid examples
    keep the first page's empty cursor. Likewise a post list's ``since`` and ``until``."""
    query = case.query if case.query is not None else {}
    for low, high in (("from", "to"), ("since", "until")):
        start, end = query.get(low), query.get(high)
        if isinstance(start, str) and isinstance(end, str) and start > end:
            query[low], query[high] = end, start
    if case.operation.label == "GET /api/grid/" and "cursor" in query:
        query["cursor"] = ""
        query.pop("page", None)
        query.pop("ordering", None)
    return case


def _platform_alias(case) -> bool:
    """Documented leniency: a platform parameter is documented as the platform values but also reads
    the display names and usual aliases people write ("X", "Twitter"), so an "invalid" platform may
    be one of those and be accepted. Such examples are left out of the invalid ones."""
    for values in (case.query or {}, case.path_parameters or {}):
        value = values.get("platform")
        if isinstance(value, str) and value not in Platform.values:
            try:
                normalize_platform(value)
            except UnknownPlatform:
                continue
            return True
    return False


def _runner(operation, mode, *, app, headers: dict[str, str], checks: list):
    """A Hypothesis test of one operation in one generation mode."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not LONG_RUN,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        if mode is GenerationMode.POSITIVE:
            case = _valid_combination(case)
        else:
            assume(not _platform_alias(case))
        case.call_and_validate(app=app, base_url=BASE_URL, headers=headers, checks=checks)

    return run


def _fuzz(schema, *, headers: dict[str, str]) -> list[str]:
    """Fuzz every operation in both generation modes; return the failures, one report each."""
    checks = _all_checks()
    # schemathesis's WSGI client does not undo Content-Encoding; the gzip path has tests of its own.
    headers = {"Accept-Encoding": "identity", **headers}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        excluded = KNOWN_GAPS.get(operation.label, set())
        operation_checks = [check for check in checks if check.__name__ not in excluded]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = _runner(operation, mode, app=schema.app, headers=headers, checks=operation_checks)
            try:
                run()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (no parameters, or only free text).
                assert mode is GenerationMode.NEGATIVE, operation.label
            except FailureGroup as exc:
                failures.append(f"{operation.label} ({mode.value}):\n{exc}")
    return failures


@override_settings(
    REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "off"}}
)
def test_fuzz_anonymous(api_schema, data):
    failures = _fuzz(api_schema, headers={})
    assert not failures, "\n\n".join(failures)


def test_fuzz_staff_token(api_schema, data, django_user_model):
    staff = django_user_model.objects.create_user("fuzz-staff", "fuzz@example.org", "pw", is_staff=True)
    token = Token.objects.create(user=staff).key
    failures = _fuzz(api_schema, headers={"Authorization": f"Token {token}"})
    assert not failures, "\n\n".join(failures)

"""Cache hits answered in front of Django's handler (`socialmetrics.cache.ReadCacheApplication`, what
gunicorn serves): the same status, body and headers as Django's own answer to the same request, the
throttle counted once, refusals and signed-in callers never given a cached body, misses handed on
with the look-up made, the request id and the figures as the middleware gives them."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
import uuid

import pytest
from django.conf import settings
from django.core import signals
from django.core.cache import caches
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from prometheus_client import REGISTRY
from rest_framework.views import APIView

from socialmetrics import cache as read_cache
from socialmetrics import logs
from socialmetrics.dates import local_today
from tests.api.conftest import account, history
from tests.api.test_early_cache import READS, VIEW_ONLY_JSON

#: Headers whose values differ from one request to the next.
PER_REQUEST = {"Server-Timing", "X-Request-ID"}


@pytest.fixture
def data(db):
    nasa = account("nasa")
    history(nasa, days=3, end=local_today())
    history(account("esa"), days=3, end=local_today())
    return nasa


class Django:
    """Django's own WSGI handler, counting the requests that reach it."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.environs: list[dict] = []

    def __call__(self, environ, start_response):
        self.environs.append(environ)
        return self.handler(environ, start_response)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django's handler would close the test's database connection at each request's start and
    end (as Django's test client also prevents)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def django_app():
    return Django()


@pytest.fixture
def front(django_app):
    """What socialmetrics/wsgi.py serves, in front of a handler made under this test's settings."""
    return read_cache.ReadCacheApplication(django_app)


def environ(path: str, *, method: str = "GET", **headers: str) -> dict:
    """A request as gunicorn hands it over."""
    path_info, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()},
    }


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.named = dict(headers)

    @property
    def code(self) -> int:
        return int(self.status.split()[0])

    def names(self) -> list[str]:
        return [name for name, _ in self.headers]

    def fixed(self) -> list[tuple[str, str]]:
        return [(name, value) for name, value in self.headers if name not in PER_REQUEST]

    def json(self):
        body = self.body
        if self.named.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return json.loads(body)


def call(app, path: str, **kwargs) -> Answer:
    seen: dict = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, list(headers)

    result = app(environ(path, **kwargs), start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()  # as the server does: Django's request_finished
    return Answer(seen["status"], seen["headers"], body)


def refuse_views(monkeypatch) -> list[str]:
    """The REST framework views that run from now on (each answers 500): what answers otherwise was
    answered before them."""
    ran: list[str] = []

    def refuse(self, request, *args, **kwargs):
        ran.append(request.get_full_path())
        raise AssertionError("the view ran")

    monkeypatch.setattr(APIView, "dispatch", refuse)
    return ran


def test_gunicorn_serves_djangos_handler_behind_the_cache():
    shown = subprocess.run(
        [sys.executable, "-c", "from socialmetrics.wsgi import application as a; print(type(a).__name__,"
         " type(a.application).__name__)"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test"},
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert shown.stdout.split() == ["ReadCacheApplication", "WSGIHandler"]


def test_a_hit_never_reaches_djangos_handler(front, django_app, data, monkeypatch):
    first = {path: call(front, path, accept_encoding="gzip") for path in READS}
    assert [a.named["X-Cache"] for a in first.values()] == ["MISS"] * len(READS)
    django_app.environs.clear()
    ran = refuse_views(monkeypatch)
    for path in READS:
        hit = call(front, path, accept_encoding="gzip")
        assert hit.status == "200 OK", path
        assert hit.named["X-Cache"] == "HIT", path
        assert hit.body == first[path].body, path
    assert django_app.environs == []
    assert ran == []


@pytest.mark.parametrize("encoding", ["gzip", "", "br, gzip;q=0.5"])
def test_a_hit_is_djangos_own_answer_to_the_same_request(front, django_app, data, encoding):
    """Byte for byte and header for header (in their order) what Django's handler gives the same
    request: its early answer in the middleware, and the view's own hit."""
    for path in READS:
        call(front, path)
        ours = call(front, path, accept_encoding=encoding)
        djangos = call(django_app, path, accept_encoding=encoding)
        views = call(django_app, path, accept_encoding=encoding, accept=VIEW_ONLY_JSON)
        assert ours.named["X-Cache"] == djangos.named["X-Cache"] == views.named["X-Cache"] == "HIT"
        assert ours.status == djangos.status == views.status == "200 OK"
        assert ours.body == djangos.body == views.body, path
        assert ours.names() == djangos.names(), path
        assert ours.fixed() == djangos.fixed(), path
        for name, value in ours.fixed():  # the view's answer adds Content-Length (CommonMiddleware)
            assert views.named.get(name) == value, (path, name)
        assert ours.names()[-2:] == ["Server-Timing", "X-Request-ID"]
        assert ours.named["Server-Timing"].startswith('db;desc="0 queries";dur=0.00, cache;dur=')
        assert len(ours.named["X-Request-ID"]) == 32


def test_a_head_request_is_answered_with_the_get_headers(front, django_app, data):
    call(front, "/api/grid")
    ours = call(front, "/api/grid", method="HEAD", accept_encoding="gzip")
    djangos = call(django_app, "/api/grid", method="HEAD", accept_encoding="gzip")
    assert ours.named["X-Cache"] == "HIT"
    assert ours.fixed() == djangos.fixed()
    assert ours.body == djangos.body  # the server sends none


def test_a_hit_over_https_carries_strict_transport_security(front, django_app, data, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    secure = read_cache.ReadCacheApplication(Django())  # made under these settings
    call(secure, "/api/grid", x_forwarded_proto="https")
    ours = call(secure, "/api/grid", x_forwarded_proto="https")
    djangos = call(secure.application, "/api/grid", x_forwarded_proto="https")
    assert ours.named["X-Cache"] == "HIT"
    assert ours.named["Strict-Transport-Security"] == "max-age=3600"
    assert ours.fixed() == djangos.fixed()
    assert "Strict-Transport-Security" not in call(secure, "/api/grid").named


def test_an_http_request_is_redirected_not_served(data, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    front = read_cache.ReadCacheApplication(Django())
    call(front, "/api/grid", x_forwarded_proto="https")
    assert call(front, "/api/grid", x_forwarded_proto="https").named["X-Cache"] == "HIT"
    refused = call(front, "/api/grid")
    assert refused.code == 301
    assert refused.named["Location"].startswith("https://")


def test_a_host_without_www_is_redirected_not_served(front, data, settings):
    call(front, "/api/grid")
    assert call(front, "/api/grid").named["X-Cache"] == "HIT"
    settings.PREPEND_WWW = True
    refused = call(front, "/api/grid")
    assert refused.code == 301
    assert refused.named["Location"] == "http://www.testserver/api/grid"


def test_the_callers_request_id_is_kept_and_a_made_one_is_djangos_too(front, django_app, data):
    assert call(front, "/api/grid").named["X-Cache"] == "MISS"
    hit = call(front, "/api/grid", x_request_id="trace-42")
    assert (hit.named["X-Cache"], hit.named["X-Request-ID"]) == ("HIT", "trace-42")
    assert logs.request_id.get() == "trace-42"  # the hit's log lines carry it
    read_cache.bump(read_cache.DATA_GROUPS)
    miss = call(front, "/api/grid")
    assert miss.named["X-Cache"] == "MISS"
    # One id per request: the one the front gave it is the one Django's middleware sent back.
    assert miss.named["X-Request-ID"] == django_app.environs[-1][logs.ENVIRON_KEY]
    assert logs.request_id.get() == miss.named["X-Request-ID"]
    made = uuid.UUID(hex=call(front, "/api/grid").named["X-Request-ID"])  # a hit's, made in front
    assert (made.version, made.variant) == (4, uuid.RFC_4122)


def test_a_miss_is_built_from_the_look_up_made_in_front(front, django_app, data, monkeypatch):
    calls: list[str] = []
    backend = caches["default"]
    for name in ("get_many", "incr", "add", "set", "set_many"):
        original = getattr(backend, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(backend, name, counted)
    call(front, "/api/summary")
    read_cache.bump(read_cache.DATA_GROUPS)
    calls.clear()
    miss = call(front, "/api/summary")
    assert miss.named["X-Cache"] == "MISS"
    assert read_cache.LOOKED_UP in django_app.environs[-1]
    # Counted and looked up once (on Redis in one round trip, under the cache API), then stored.
    assert calls == (["set_many"] if settings.REDIS_URL else ["incr", "get_many", "set"])


@pytest.mark.redis
@pytest.mark.django_db
def test_a_hit_is_one_redis_round_trip_and_a_miss_one_more_to_store(front, data, monkeypatch):
    from socialmetrics import redis_policy

    sent: list[bytes] = []
    original = redis_policy.Connection.send_packed_command

    def counted(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    call(front, "/api/grid")
    monkeypatch.setattr(redis_policy.Connection, "send_packed_command", counted)
    assert call(front, "/api/grid").named["X-Cache"] == "HIT"
    assert len(sent) == 1
    read_cache.bump(read_cache.DATA_GROUPS)
    sent.clear()
    assert call(front, "/api/grid").named["X-Cache"] == "MISS"
    entry = [c for c in sent if b"resp:grid:" in b"".join(c if isinstance(c, list) else [c])]
    assert len(entry) == 2  # looked up once (with the count), then stored


def test_the_throttle_counts_once_and_a_refused_request_gets_no_cached_body(
    front, django_app, data, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/minute"}}
    states = [call(front, "/api/summary").named.get("X-Cache") for _ in range(3)]
    assert states == ["MISS", "HIT", "HIT"]
    assert len(django_app.environs) == 1  # the miss
    for _ in range(2):
        refused = call(front, "/api/summary", accept_encoding="gzip")
        assert refused.code == 429
        assert "X-Cache" not in refused.named
        assert refused.json()["error"]["code"] == "THROTTLED"
        assert int(refused.named["Retry-After"]) >= 1
    # Refused by the view with the count made in front: counted once each, never twice.
    assert [e.get("socialmetrics.anon_count") for e in django_app.environs[1:]] == [4, 5]
    assert all(read_cache.LOOKED_UP not in e for e in django_app.environs[1:])


def test_a_signed_in_caller_never_gets_the_anonymous_entry(front, django_app, data, client, staff):
    call(front, "/api/summary")
    assert call(front, "/api/summary").named["X-Cache"] == "HIT"
    client.force_login(staff)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    django_app.environs.clear()
    assert call(front, "/api/summary", cookie=cookie).named["X-Cache"] == "MISS"  # staff's own entry
    # A session cookie, whatever it holds, is the view's to judge (here: anonymous, the public entry).
    assert call(front, "/api/summary", cookie=f"{settings.SESSION_COOKIE_NAME}=forged").code == 200
    refused = call(front, "/api/summary", authorization="Token forged")
    assert refused.code == 401
    assert "X-Cache" not in refused.named
    assert len(django_app.environs) == 3


def test_private_reads_are_refused_even_when_cached(front, data, settings):
    assert call(front, "/api/summary").code == 200
    assert call(front, "/api/summary").named["X-Cache"] == "HIT"
    settings.SOCIALMETRICS_PUBLIC_READ = False
    refused = call(front, "/api/summary")
    assert refused.code == 401
    assert "X-Cache" not in refused.named


def test_a_disallowed_host_is_refused_by_django_with_every_header(front, django_app, data, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    call(front, "/api/grid")
    refused = call(front, "/api/grid", host="evil.example")
    assert refused.code == 400
    assert "X-Cache" not in refused.named
    assert "Content-Security-Policy" in refused.named
    assert "X-Request-ID" in refused.named


def test_what_the_early_answer_leaves_to_the_view_goes_to_django(front, django_app, data, monkeypatch):
    call(front, "/api/summary")
    django_app.environs.clear()
    ran = refuse_views(monkeypatch)
    for path, headers in (
        ("/api/summary", {"accept": "text/html"}),
        ("/api/summary", {"accept": "application/json; indent=4"}),
        ("/api/summary?format=json", {}),
        ("/api/summary", {"cookie": "sessionid=whatever"}),
    ):
        assert call(front, path, **headers).code == 500, (path, headers)  # the view ran
    assert call(front, "/api/summary", method="POST").code == 500
    assert len(ran) == len(django_app.environs) == 5


def test_a_hit_is_counted_in_the_figures(front, data):
    call(front, "/api/grid")

    def figure(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        figure("socialmetrics_http_requests_total", endpoint="api-grid", status="2xx"),
        figure("socialmetrics_cache_hits_total", group="grid"),
        figure("socialmetrics_http_request_duration_seconds_count", endpoint="api-grid"),
        figure("socialmetrics_db_request_duration_seconds_count"),
    )
    assert call(front, "/api/grid").named["X-Cache"] == "HIT"
    after = (
        figure("socialmetrics_http_requests_total", endpoint="api-grid", status="2xx"),
        figure("socialmetrics_cache_hits_total", group="grid"),
        figure("socialmetrics_http_request_duration_seconds_count", endpoint="api-grid"),
        figure("socialmetrics_db_request_duration_seconds_count"),
    )
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]


def test_a_failure_in_front_is_answered_by_django_as_before(front, django_app, data, monkeypatch):
    call(front, "/api/grid")
    failures: list[int] = []

    def broken(*args, **kwargs):
        failures.append(1)
        raise RuntimeError("the look-up broke")

    monkeypatch.setattr(read_cache, "_look_up", broken)
    ours = call(front, "/api/grid")
    djangos = call(django_app, "/api/grid")
    assert ours.code == djangos.code == 500
    assert ours.body == djangos.body
    assert ours.names() == djangos.names()
    assert failures == [1, 1]  # once each: the failure in front was raised again, not retried


# --- Large entries: each process's copy, served while Redis holds the same stamp -------------------


@pytest.fixture
def copied(monkeypatch):
    """Every entry counts as large: kept by the process that stores or reads it."""
    monkeypatch.setattr(read_cache, "COPY_FROM", 0)
    read_cache._copies.entries.clear()
    read_cache._copies.size = 0
    yield read_cache._copies
    read_cache._copies.entries.clear()
    read_cache._copies.size = 0


def _sent(monkeypatch) -> list[bytes]:
    from socialmetrics import redis_policy

    sent: list[bytes] = []
    original = redis_policy.Connection.send_packed_command

    def counted(self, command, *args, **kwargs):
        sent.append(b"".join(command if isinstance(command, list) else [command]))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis_policy.Connection, "send_packed_command", counted)
    return sent


@pytest.mark.redis
@pytest.mark.django_db
def test_a_large_entry_is_served_from_the_copy_while_its_stamp_holds(front, data, copied, monkeypatch):
    first = call(front, "/api/summary", accept_encoding="gzip")
    assert first.named["X-Cache"] == "MISS"
    (key,) = copied.entries
    sent = _sent(monkeypatch)
    hit = call(front, "/api/summary", accept_encoding="gzip")
    assert hit.named["X-Cache"] == "HIT"
    assert hit.body == first.body
    assert len(sent) == 1
    assert f"{key}:stamp".encode() in sent[0]
    assert f"{key}\r\n".encode() not in sent[0]  # the stamp read, not the entry


@pytest.mark.redis
@pytest.mark.django_db
def test_an_entry_stored_again_elsewhere_replaces_the_copy(front, data, copied, monkeypatch):
    call(front, "/api/summary")
    (key,) = copied.entries
    entry = copied.entries[key][1]
    # Another process stores it again under the same tokens (its entry lived out its time).
    other = (entry[0], 200, "application/json", b'{"rebuilt": true}', False)
    caches["default"].set_many({key: other, read_cache.stamp_key(key): "another-stamp"}, timeout=60)
    sent = _sent(monkeypatch)
    hit = call(front, "/api/summary")
    assert (hit.named["X-Cache"], hit.body) == ("HIT", b'{"rebuilt": true}')
    assert len(sent) == 2  # the stamp, then (once) the new version
    assert copied.entries[key][0] == "another-stamp"
    sent.clear()
    assert call(front, "/api/summary").body == b'{"rebuilt": true}'
    assert len(sent) == 1


@pytest.mark.redis
@pytest.mark.django_db
def test_a_copy_is_never_served_once_its_entry_is_gone_or_stale(front, data, copied, redis_client):
    call(front, "/api/summary")
    (key,) = copied.entries
    stored = caches["default"].make_key(key)
    redis_client.delete(stored, caches["default"].make_key(read_cache.stamp_key(key)))  # expired
    assert call(front, "/api/summary").named["X-Cache"] == "MISS"
    assert call(front, "/api/summary").named["X-Cache"] == "HIT"
    read_cache.bump(read_cache.DATA_GROUPS)  # a write: the copy's tokens are no longer current
    assert call(front, "/api/summary").named["X-Cache"] == "MISS"
    assert call(front, "/api/summary").named["X-Cache"] == "HIT"


@pytest.mark.redis
@pytest.mark.django_db
def test_copies_stay_within_their_budget(front, data, copied, monkeypatch):
    call(front, "/api/summary")
    (first,) = copied.entries
    monkeypatch.setattr(read_cache, "COPIES_BYTES", copied.size + 1)
    call(front, "/api/summary/totals")
    assert list(copied.entries) != [first]  # the oldest went first
    assert copied.size == sum(len(e[3]) for _, e in copied.entries.values()) <= read_cache.COPIES_BYTES


@pytest.mark.redis
@pytest.mark.django_db
def test_threads_that_come_and_go_give_their_connection_back(front, data):
    # runserver answers each request on a thread of its own: more threads than the pool's
    # connections must never use it up.
    pool = caches["default"].client.get_client(write=True).connection_pool
    call(front, "/api/summary")  # stored: the threads' answers are hits, with no database
    answers = []
    for _ in range(pool.max_connections + 10):
        thread = threading.Thread(target=lambda: answers.append(call(front, "/api/summary").named["X-Cache"]))
        thread.start()
        thread.join()
    assert answers == ["HIT"] * (pool.max_connections + 10)
    assert len(pool._in_use_connections) <= 1  # at most this thread's

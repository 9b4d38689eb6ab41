"""The early answer: anonymous cache hits are served before sessions, authentication and REST
framework, with the throttle counted in the same round trip, and exactly as the view would have
answered (same bytes, same headers, same refusals)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import caches
from rest_framework.views import APIView

from socialmetrics import cache as generations
from tests.api.conftest import account, history

READS = [
    "/api/summary",
    "/api/summary/totals",
    "/api/grid?per_page=5",
    "/api/grid?cursor=",
    "/api/accounts",
    "/api/accounts?search=nas",
    "/api/history/x/nasa",
]
#: Accept headers REST framework answers with plain JSON that the early answer leaves to the view.
VIEW_ONLY_JSON = "application/json, text/plain"
SAME_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Vary",
    "Allow",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Cache",
)


@pytest.fixture
def data(db, today):
    nasa = account("nasa")
    history(nasa, days=3, end=today)
    history(account("esa"), days=3, end=today)
    return nasa


@pytest.fixture
def view_refuses(monkeypatch):
    """Makes every REST framework view fail: what still answers was answered before it."""

    def refuse(self, request, *args, **kwargs):
        raise AssertionError(f"the view ran for {request.get_full_path()}")

    def turn_on():
        monkeypatch.setattr(APIView, "dispatch", refuse)

    return turn_on


def test_an_anonymous_hit_never_reaches_the_view(api, data, view_refuses):
    first = {path: api.get(path, HTTP_ACCEPT_ENCODING="gzip") for path in READS}
    view_refuses()
    for path in READS:
        response = api.get(path, HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200, path
        assert response["X-Cache"] == "HIT", path
        assert response.content == first[path].content, path


def test_an_early_hit_has_the_bytes_and_headers_of_the_views_hit(api, data):
    for path in READS:
        assert api.get(path)["X-Cache"] == "MISS"
        for encoding in ("gzip", ""):
            early = api.get(path, HTTP_ACCEPT_ENCODING=encoding)
            by_view = api.get(path, HTTP_ACCEPT_ENCODING=encoding, HTTP_ACCEPT=VIEW_ONLY_JSON)
            assert early["X-Cache"] == by_view["X-Cache"] == "HIT", path
            assert early.content == by_view.content, path
            for header in SAME_HEADERS:
                assert early.get(header) == by_view.get(header), (path, header)


def test_the_early_answer_is_counted_under_its_endpoint(api, data, staff_api):
    staff_api.delete("/api/performance")
    api.get("/api/summary")
    api.get("/api/summary")
    figures = staff_api.get("/api/performance").json()
    assert figures["api"]["api-summary"]["count"] == 2
    assert figures["cache"]["by_key"]["summary"]["hits"] == 1
    assert figures["cache"]["by_key"]["summary"]["misses"] == 1


def test_a_miss_builds_from_the_early_look_up_without_reading_again(api, data, monkeypatch):
    calls: list[str] = []
    backend = caches["default"]
    for name in ("get_many", "incr", "set", "set_many"):
        original = getattr(backend, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(backend, name, counted)
    api.get("/api/summary")
    generations.bump(generations.DATA_GROUPS)
    calls.clear()
    response = api.get("/api/summary")
    assert response["X-Cache"] == "MISS"
    # On Redis the look-up and the count travel in one pipeline, under the cache API; the entry is
    # stored with its stamp in one transaction.
    assert calls == (["set_many"] if settings.REDIS_URL else ["incr", "get_many", "set"])


def test_a_disallowed_host_is_refused_even_when_cached(api, data, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    assert api.get("/api/summary")["X-Cache"] == "MISS"
    assert api.get("/api/summary", HTTP_HOST="evil.example").status_code == 400


def test_a_public_entry_is_not_served_once_reads_are_private(api, data, settings):
    assert api.get("/api/summary").status_code == 200
    assert api.get("/api/summary")["X-Cache"] == "HIT"
    settings.SOCIALMETRICS_PUBLIC_READ = False
    response = api.get("/api/summary")
    assert response.status_code == 401
    assert "X-Cache" not in response


def test_the_throttle_counts_each_request_once_and_refuses_hits_too(api, data, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/minute"}}
    states = [api.get("/api/summary").get("X-Cache") for _ in range(3)]
    assert states == ["MISS", "HIT", "HIT"]
    refused = api.get("/api/summary")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "THROTTLED"
    assert int(refused["Retry-After"]) >= 1


def test_the_browsable_api_and_parameters_are_left_to_the_view(api, data, view_refuses):
    api.get("/api/summary")
    view_refuses()
    for headers in (
        {"HTTP_ACCEPT": "text/html"},
        {"HTTP_ACCEPT": "application/json; indent=4"},
        {"HTTP_COOKIE": "sessionid=whatever"},
        {"HTTP_AUTHORIZATION": "Token whatever"},
    ):
        with pytest.raises(AssertionError, match="the view ran"):
            api.get("/api/summary", **headers)
    with pytest.raises(AssertionError, match="the view ran"):
        api.get("/api/summary?format=json")


def test_history_is_answered_early_for_every_spelling_once_the_account_is_known(api, data, view_refuses):
    assert api.get("/api/history/x/nasa")["X-Cache"] == "MISS"
    view_refuses()
    for spelling in ("/api/history/X/NASA", "/api/history/twitter/@nasa/", "/api/history/x/Nasa"):
        assert api.get(spelling)["X-Cache"] == "HIT", spelling


@pytest.mark.redis
@pytest.mark.django_db
def test_an_anonymous_hit_costs_one_redis_round_trip(api, data, monkeypatch):
    """The look-up, throttle included; the figures are recorded in the process."""
    import redis.connection

    sent: list[int] = []
    original = redis.connection.Connection.send_packed_command

    def counted(self, command, *args, **kwargs):
        sent.append(1)
        return original(self, command, *args, **kwargs)

    api.get("/api/summary")
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counted)
    assert api.get("/api/summary")["X-Cache"] == "HIT"
    assert len(sent) == 1

"""The cached fast path: an anonymous hit answered by ReadCacheMiddleware, second in the stack, still
carries every header, figure and refusal the middleware below it would have given."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from socialmetrics import cache as generations
from socialmetrics.dates import local_today
from tests.api.conftest import account, history

#: A hit's headers, in order, as the whole stack gave them before the hit moved up.
HIT_HEADERS = [
    "Content-Type",
    "Content-Encoding",
    "Vary",
    "X-Cache",
    "Allow",
    "X-Frame-Options",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "Server-Timing",
    "X-Request-ID",
]
#: Accept header REST framework answers with plain JSON that the early answer leaves to the view.
VIEW_ONLY_JSON = "application/json, text/plain"


@pytest.fixture
def data(db):
    nasa = account("nasa")
    history(nasa, days=3, end=local_today())
    return nasa


def _names(response) -> list[str]:
    return [name for name, _ in response.items()]


def test_a_hit_has_the_headers_of_the_whole_stack_in_their_order(api, data):
    api.get("/api/grid")
    hit = api.get("/api/grid", HTTP_ACCEPT_ENCODING="gzip")
    by_view = api.get("/api/grid", HTTP_ACCEPT_ENCODING="gzip", HTTP_ACCEPT=VIEW_ONLY_JSON)
    assert hit["X-Cache"] == by_view["X-Cache"] == "HIT"
    assert _names(hit) == HIT_HEADERS
    for name in HIT_HEADERS[:-2]:  # Server-Timing and X-Request-ID differ per request
        assert hit[name] == by_view[name], name
    assert hit["Vary"] == "Accept-Encoding, Accept, Cookie"
    assert hit["Server-Timing"].startswith('db;desc="0 queries";dur=0.00, cache;dur=')
    plain = api.get("/api/grid", HTTP_ACCEPT_ENCODING="")
    assert _names(plain) == [n for n in HIT_HEADERS if n != "Content-Encoding"]


def test_a_hit_over_https_carries_strict_transport_security(data, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = APIClient(HTTP_X_FORWARDED_PROTO="https")
    client.get("/api/grid")
    hit = client.get("/api/grid")
    by_view = client.get("/api/grid", HTTP_ACCEPT=VIEW_ONLY_JSON)
    assert hit["X-Cache"] == "HIT"
    assert hit["Strict-Transport-Security"] == by_view["Strict-Transport-Security"]
    assert "Strict-Transport-Security" not in APIClient().get("/api/grid")


def test_an_http_request_is_redirected_not_served(data, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    secure = APIClient(HTTP_X_FORWARDED_PROTO="https")
    secure.get("/api/grid")
    assert secure.get("/api/grid")["X-Cache"] == "HIT"
    refused = APIClient().get("/api/grid")
    assert refused.status_code == 301
    assert refused["Location"].startswith("https://")


def test_a_hit_keeps_the_callers_request_id(api, data):
    api.get("/api/grid")
    hit = api.get("/api/grid", HTTP_X_REQUEST_ID="trace-42")
    assert hit["X-Cache"] == "HIT"
    assert hit["X-Request-ID"] == "trace-42"


def test_a_hit_is_counted_in_the_metrics(api, data):
    api.get("/api/grid")

    def figure(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    requests = figure("socialmetrics_http_requests_total", endpoint="api-grid", status="2xx")
    hits = figure("socialmetrics_cache_hits_total", group="grid")
    timed = figure("socialmetrics_http_request_duration_seconds_count", endpoint="api-grid")
    assert api.get("/api/grid")["X-Cache"] == "HIT"
    assert figure("socialmetrics_http_requests_total", endpoint="api-grid", status="2xx") == requests + 1
    assert figure("socialmetrics_cache_hits_total", group="grid") == hits + 1
    assert figure("socialmetrics_http_request_duration_seconds_count", endpoint="api-grid") == timed + 1


def test_a_disallowed_host_is_refused_with_every_header(api, data, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    api.get("/api/grid")
    refused = api.get("/api/grid", HTTP_HOST="evil.example")
    assert refused.status_code == 400
    assert "Content-Security-Policy" in refused
    assert "X-Request-ID" in refused


def test_a_write_is_never_followed_by_the_old_entry(api, data):
    api.get("/api/grid")
    assert api.get("/api/grid")["X-Cache"] == "HIT"
    generations.invalidate_data([data.pk])
    assert api.get("/api/grid")["X-Cache"] == "MISS"


def test_a_miss_is_timed_from_the_top_of_the_stack(api, data):
    response = api.get("/api/grid")
    assert response["X-Cache"] == "MISS"
    assert _names(response)[-2:] == ["Server-Timing", "X-Request-ID"]

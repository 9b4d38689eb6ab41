"""Secrets never leak: with recognisable fake values for SECRET_KEY, the platform credentials and
the database password, nothing the site answers (error pages, the admin, every API read, /metrics,
the schema) and nothing it logs (a failed request, a failing platform call) contains any of them."""

import logging

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer
from werkzeug import Response

from scraping.collectors.base import AccountRef, get_collector, make_client
from scraping.ratelimit import InProcessRateLimiter
from tests.security.test_access import concrete_paths, objects  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SECRETS = {
    "SECRET_KEY": "fake-secret-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "YOUTUBE_API_KEY": "fake-youtube-key-AIzaSyZZ9988776655",
    "X_BEARER_TOKEN": "fake-x-bearer-AAAAAAAAAAAA554433",
    "GITHUB_TOKEN": "fake-github-ghp_0123456789abcdef",
    "META_ACCESS_TOKEN": "fake-meta-EAAB0123456789token",
    "TWITCH_TOKEN": "fake-twitch-oauth-9z8y7x6w5v",
}
DB_PASSWORD = "fake-database-password-51ab7c"


@pytest.fixture
def secrets(settings, monkeypatch):
    for name, value in SECRETS.items():
        setattr(settings, name, value)
    settings.TWITCH_CLIENT_ID = "twitch-client"
    settings.INSTAGRAM_BUSINESS_ID = "17841400000000000"
    # The connection's own settings dict is this one: the password is there as it would be in use.
    monkeypatch.setitem(settings.DATABASES["default"], "PASSWORD", DB_PASSWORD)
    settings.DEBUG = False
    return [*SECRETS.values(), DB_PASSWORD]


def _assert_clean(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked in {where}"


def test_error_pages_show_no_secret(secrets, settings, caplog):
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.DEBUG):
        for path in ["/boom/", "/api/boom", "/no-such-page/", "/api/no-such-endpoint"]:
            response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {SECRETS['X_BEARER_TOKEN']}z")
            assert response.status_code in (404, 500), path
            _assert_clean(path, response.content.decode() + str(response.headers), secrets)
    assert any(record.levelno >= logging.ERROR for record in caplog.records)  # the 500 was logged
    _assert_clean("the logs", caplog.text, secrets)


def test_no_page_or_api_read_shows_a_secret(secrets, objects, admin_client, caplog):  # noqa: F811
    with caplog.at_level(logging.DEBUG):
        paths = concrete_paths(**objects)
        for path in [*paths, "/api/performance", "/metrics", "/api/schema", "/api/docs?script="]:
            for client in (Client(), admin_client):
                response = client.get(path)
                assert response.status_code < 500, path
                body = b"".join(response.streaming_content) if response.streaming else response.content
                _assert_clean(path, body.decode(errors="replace") + str(response.headers), secrets)
    _assert_clean("the logs", caplog.text, secrets)


def _platform_rejects(httpserver: HTTPServer) -> None:
    """Every platform answers with an error that quotes the request, as badly behaved APIs do."""

    def handler(request):
        return Response(
            '{"error": {"message": "Invalid credentials for this request"}}',
            status=401,
            content_type="application/json",
        )

    httpserver.expect_request("").respond_with_handler(handler)


@pytest.mark.parametrize(
    ("platform", "ref"),
    [
        ("youtube", AccountRef(1, "youtube", "googledevelopers", external_id="UC" + "0" * 22)),
        ("x", AccountRef(2, "x", "nasa")),
        ("github", AccountRef(3, "github", "django")),
        ("twitch", AccountRef(4, "twitch", "esl_csgo")),
        ("instagram", AccountRef(5, "instagram", "nasa")),
        ("facebook", AccountRef(6, "facebook", "nasa", external_id="12345")),
    ],
)
def test_a_failing_platform_call_logs_no_credential(secrets, settings, httpserver, caplog, platform, ref):
    _platform_rejects(httpserver)
    base = httpserver.url_for("/").rstrip("/")
    settings.SOCIALMETRICS_API_BASE_URLS = dict.fromkeys(("youtube", "x", "github", "twitch", "meta"), base)
    limiter = InProcessRateLimiter(limits={}, max_concurrency={})
    with caplog.at_level(logging.DEBUG), make_client() as client:
        collector = get_collector(platform, client=client, limiter=limiter, sleep=lambda _s: None)
        outcomes = collector.collect([ref])
    assert httpserver.log, "the collector sent no request"
    sent = str(httpserver.log[0][0].headers) + httpserver.log[0][0].url
    assert any(secret in sent for secret in secrets), "the credential was not sent at all"
    assert outcomes[0].status == "failed"
    _assert_clean("the outcome", outcomes[0].error, secrets)
    _assert_clean("the logs", caplog.text, secrets)


def test_an_unreachable_platform_logs_no_credential(secrets, settings, caplog):
    settings.SOCIALMETRICS_API_BASE_URLS = {"youtube": "http://127.0.0.1:9", "x": "http://127.0.0.1:9"}
    limiter = InProcessRateLimiter(limits={}, max_concurrency={})
    with caplog.at_level(logging.DEBUG), make_client() as client:
        for platform, ref in [
            ("youtube", AccountRef(1, "youtube", "g", external_id="UC" + "0" * 22)),
            ("x", AccountRef(2, "x", "nasa")),
        ]:
            collector = get_collector(platform, client=client, limiter=limiter, sleep=lambda _s: None)
            outcome = collector.collect([ref])[0]
            assert outcome.status == "failed"
            _assert_clean("the outcome", outcome.error, secrets)
    _assert_clean("the logs", caplog.text, secrets)

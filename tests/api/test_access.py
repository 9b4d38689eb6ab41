"""Who may read and write: public reads by default, SOCIALMETRICS_PUBLIC_READ=false, staff writes,
tokens, CSRF, throttling, and the cache never serving a response to a request not allowed to see it."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

READS = [
    "/api/summary",
    "/api/summary/totals",
    "/api/grid",
    "/api/accounts",
    "/api/history/x/nasa",
    "/api/download",
]


@pytest.fixture
def data(today):
    acc = account("nasa")
    history(acc, days=2, end=today)
    return acc


@pytest.fixture
def private(settings):
    settings.SOCIALMETRICS_PUBLIC_READ = False


@pytest.mark.usefixtures("data")
def test_reads_are_public_by_default(api):
    for path in READS:
        assert api.get(path).status_code == 200, path


@pytest.mark.usefixtures("data", "private")
def test_private_reads_need_a_user_or_a_token(api, user, user_api):
    for path in READS:
        response = api.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
        assert response["WWW-Authenticate"] == "Token"
        assert user_api.get(path).status_code == 200, path
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert token_client.get("/api/summary").status_code == 200
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert bad_token.get("/api/summary").status_code == 401


@pytest.mark.usefixtures("data")
def test_a_cached_response_is_never_served_to_a_request_not_allowed_to_see_it(api, user_api, settings):
    settings.SOCIALMETRICS_PUBLIC_READ = False
    for path in READS[:-1]:
        assert user_api.get(path).status_code == 200
        assert user_api.get(path)["X-Cache"] == "HIT"
        response = api.get(path)
        assert response.status_code == 401, path
        assert "X-Cache" not in response


def test_every_write_needs_staff(api, user_api, staff_api, data):
    writes = [
        ("post", "/api/accounts", {"platform": "x", "handle": "new"}),
        ("patch", f"/api/accounts/{data.pk}", {"is_core_account": True}),
        ("put", f"/api/accounts/{data.pk}", {"platform": "x", "handle": "nasa"}),
        ("delete", f"/api/accounts/{data.pk}", None),
        ("post", "/api/upload-bulk", {"csv_data": "Platform,Handle,Date,Followers\n"}),
        ("delete", "/api/cache", None),
    ]
    for method, path, payload in writes:
        assert getattr(api, method)(path, payload, format="json").status_code == 401, path
        assert getattr(user_api, method)(path, payload, format="json").status_code == 403, path
        assert getattr(staff_api, method)(path, payload, format="json").status_code in (200, 201, 400), path


def test_a_session_write_needs_the_csrf_token(staff, data):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    response = client.patch(f"/api/accounts/{data.pk}", {"is_core_account": True}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_a_token_write_needs_no_csrf(staff_token_api, data):
    response = staff_token_api.patch(f"/api/accounts/{data.pk}", {"is_core_account": True}, format="json")
    assert response.status_code == 200


def test_an_inactive_staff_token_is_refused(staff, data):
    token = Token.objects.create(user=staff)
    staff.is_active = False
    staff.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.delete("/api/cache").status_code == 401


@pytest.mark.usefixtures("data")
def test_anonymous_traffic_is_throttled_with_retry_after(api, user_api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/minute"}}
    for _ in range(3):
        assert api.get("/api/summary").status_code == 200
    response = api.get("/api/grid")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["error"]["code"] == "THROTTLED"
    assert response.json()["error"]["retry_after"] == int(response["Retry-After"])
    for _ in range(5):  # signed-in users are not throttled
        assert user_api.get("/api/summary").status_code == 200


@pytest.mark.usefixtures("data")
def test_throttling_can_be_turned_off(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "off"}}
    for _ in range(20):
        assert api.get("/api/summary").status_code == 200


@pytest.mark.usefixtures("data")
def test_clients_behind_one_proxy_are_told_apart_when_configured(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "2/minute"},
        "NUM_PROXIES": 1,
    }
    one, two = APIClient(), APIClient()
    for _ in range(2):
        assert one.get("/api/summary", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 200
    assert one.get("/api/summary", HTTP_X_FORWARDED_FOR="10.0.0.1").status_code == 429
    assert two.get("/api/summary", HTTP_X_FORWARDED_FOR="10.0.0.2").status_code == 200

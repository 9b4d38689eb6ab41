"""Sign-in is throttled against guessing (django-axes): the site's login page, the admin's and REST
framework's. The test settings turn axes off for the rest of the suite; these tests turn it on."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/login/", "/admin/login/", "/api/auth/login/"]
LIMIT = 3


@pytest.fixture(autouse=True)
def axes_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user("editor", password="right-password", is_staff=True)


def _sign_in(client: Client, path: str, password: str, *, username: str = "editor", ip: str = "10.0.0.1"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", LOGIN_PAGES)
@pytest.mark.usefixtures("editor")
def test_wrong_passwords_lock_out_and_then_the_right_one_is_refused(path):
    client = Client()
    for _ in range(LIMIT - 1):
        assert _sign_in(client, path, "guess").status_code == 200  # the form again, with its error
    locked = _sign_in(client, path, "guess")
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Sign-in locked" in text
    assert "locked for 15 minutes" in text
    assert "Content-Security-Policy" in locked  # the page is one of ours, under the same headers

    refused = _sign_in(client, path, "right-password")
    assert refused.status_code == 429
    assert not _signed_in(client)


@pytest.mark.usefixtures("editor")
def test_the_lock_holds_for_the_address_whatever_the_username():
    client = Client()
    for number in range(LIMIT):
        _sign_in(client, "/login/", "guess", username=f"nobody{number}")
    assert _sign_in(client, "/login/", "right-password").status_code == 429
    # Another address is not locked out by this one.
    other = Client()
    assert _sign_in(other, "/login/", "right-password", ip="10.0.0.2").status_code == 302
    assert _signed_in(other)


@pytest.mark.usefixtures("editor")
def test_the_lock_holds_for_the_username_from_any_address():
    for number in range(LIMIT):
        _sign_in(Client(), "/login/", "guess", ip=f"10.0.1.{number}")
    assert _sign_in(Client(), "/login/", "right-password", ip="10.0.2.1").status_code == 429


@pytest.mark.usefixtures("editor")
def test_after_the_cool_off_the_right_password_works(settings):
    client = Client()
    for _ in range(LIMIT):
        _sign_in(client, "/login/", "guess")
    assert _sign_in(client, "/login/", "right-password").status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert _sign_in(client, "/login/", "right-password").status_code == 302
    assert _signed_in(client)


@pytest.mark.usefixtures("editor")
def test_a_success_resets_the_count():
    client = Client()
    for _ in range(LIMIT - 1):
        _sign_in(client, "/login/", "guess")
    assert _sign_in(client, "/login/", "right-password").status_code == 302
    client.logout()
    for _ in range(LIMIT - 1):  # as many failures again: still below the limit
        assert _sign_in(client, "/login/", "guess").status_code == 200
    assert _sign_in(client, "/login/", "right-password").status_code == 302


def test_the_backend_and_a_reset_on_success_are_configured(settings):
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.AXES_RESET_ON_SUCCESS
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"

"""API tokens: a signed-in user rotates and revokes their own (POST/DELETE /api/auth/token); staff
create, list and revoke anybody's in the admin."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def private(settings):
    settings.SOCIALMETRICS_PUBLIC_READ = False


def _with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.usefixtures("private")
def test_a_user_creates_then_rotates_their_token(user_api, user):
    first = user_api.post("/api/auth/token")
    assert first.status_code == 201
    key = first.json()["token"]
    assert first.json()["created"]
    assert Token.objects.get(user=user).key == key
    assert _with_token(key).get("/api/summary").status_code == 200

    second = user_api.post("/api/auth/token/")
    assert second.status_code == 201
    assert second.json()["token"] != key
    assert Token.objects.filter(user=user).count() == 1
    assert _with_token(key).get("/api/summary").status_code == 401
    assert _with_token(second.json()["token"]).get("/api/summary").status_code == 200


@pytest.mark.usefixtures("private")
def test_a_token_holder_rotates_and_revokes_with_the_token_itself(user):
    key = Token.objects.create(user=user).key
    rotated = _with_token(key).post("/api/auth/token")
    assert rotated.status_code == 201
    new = _with_token(rotated.json()["token"])
    assert new.delete("/api/auth/token").status_code == 204
    assert not Token.objects.filter(user=user).exists()
    assert new.get("/api/summary").status_code == 401


def test_revoking_without_a_token_is_harmless(user_api):
    assert user_api.delete("/api/auth/token").status_code == 204


def test_only_a_signed_in_user_has_a_token(user):
    response = APIClient().post("/api/auth/token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "NOT_AUTHENTICATED"
    assert not Token.objects.exists()


def test_a_session_rotation_needs_the_csrf_token(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/api/auth/token").status_code == 403
    assert not Token.objects.exists()


def test_a_non_staff_token_still_cannot_write(user_api):
    key = user_api.post("/api/auth/token").json()["token"]
    assert _with_token(key).delete("/api/cache").status_code == 403


def test_the_token_endpoint_is_in_the_schema():
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = schema["paths"]["/api/auth/token/"]
    assert set(operations) >= {"post", "delete"}
    assert "201" in operations["post"]["responses"]
    assert "204" in operations["delete"]["responses"]


def test_staff_create_list_and_revoke_tokens_in_the_admin(admin_client, user):
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 200
    assert admin_client.get("/admin/authtoken/tokenproxy/add/").status_code == 200

    response = admin_client.post("/admin/authtoken/tokenproxy/add/", {"user": user.pk})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Token.objects.filter(user=user).exists()
    listing = admin_client.get("/admin/authtoken/tokenproxy/")
    assert user.username in listing.content.decode()

    # The admin names a token by its user's id, so keys never appear in URLs.
    response = admin_client.post(f"/admin/authtoken/tokenproxy/{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Token.objects.filter(user=user).exists()

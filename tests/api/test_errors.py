"""Errors under /api/ are JSON: 400 naming the parameter, JSON 404/405, never HTML, never a 500 page."""

import pytest
from django.test import Client

from snapshots.api import views
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

BAD = [
    ("/api/summary?platform=orkut", "platform"),
    ("/api/summary?is_core=maybe", "is_core"),
    ("/api/summary/totals?platform=orkut", "platform"),
    ("/api/grid?page=abc", "page"),
    ("/api/grid?page=-3", "page"),
    ("/api/grid?per_page=-1", "per_page"),
    ("/api/grid?per_page=ten", "per_page"),
    ("/api/grid?from=2026-1-1x", "from"),
    ("/api/grid?to=2026-02-31", "to"),
    ("/api/grid?platform=orkut", "platform"),
    ("/api/grid?ordering=-secret", "ordering"),
    ("/api/grid?cursor=bm90IGEgY3Vyc29y", "cursor"),
    ("/api/download?from=tomorrow", "from"),
    ("/api/download?platform=orkut", "platform"),
    ("/api/accounts?page=abc", "page"),
    ("/api/accounts?per_page=-1", "per_page"),
    ("/api/accounts?platform=orkut", "platform"),
    ("/api/accounts?is_core=2", "is_core"),
    ("/api/history/orkut/nasa", "platform"),
    ("/api/history/x/nasa?from=2026-99-01", "from"),
    ("/api/history/x/nasa?to=2026-01-01&from=2026-02-01", "from"),
]


@pytest.mark.parametrize(("path", "field"), BAD)
def test_a_bad_parameter_is_a_json_400_naming_it(api, today, path, field):
    history(account("nasa"), days=1, end=today)
    for accept in ("application/json", "*/*", "text/html"):
        response = api.get(path, HTTP_ACCEPT=accept)
        assert response.status_code == 400, path
        if accept == "text/html":  # the browsable API shows the same error
            continue
        assert response["Content-Type"] == "application/json"
        error = response.json()["error"]
        assert error["code"] == "INVALID_PARAMETER"
        assert error["field"] == field
        assert field in error["message"]


@pytest.mark.parametrize(
    "path", ["/api/nothing", "/api/nothing/", "/api//", "/api/root", "/api/summary/extra", "/api/accounts/x/"]
)
def test_unknown_api_paths_are_json_404(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_an_unknown_page_outside_the_api_is_not_json(api):
    response = api.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_a_wrong_method_is_json_405(staff_api):
    response = staff_api.post("/api/summary", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert staff_api.delete("/api/grid").json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_a_crash_is_a_json_500_not_a_page(monkeypatch, today):
    history(account("nasa"), days=1, end=today)

    def boom(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(views, "summary_body", boom)
    client = Client(raise_request_exception=False)
    response = client.get("/api/summary")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "SERVER_ERROR"
    assert "bug" not in response.content.decode()  # no internals leak


def test_a_malformed_json_body_is_a_json_400(staff_api):
    response = staff_api.post("/api/accounts", "{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "PARSE_ERROR"


def test_an_unsupported_media_type_is_json_415(staff_api):
    response = staff_api.post("/api/accounts", "platform=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"

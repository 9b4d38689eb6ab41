"""The dashboard's pages without a browser: each renders, staff controls only for staff, names
escaped, Chart.js served from this server (no CDN), and /upload shared by the page and the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

PAGES = ["/", "/grid/", "/compare/", "/upload", "/accounts/x/healthdept/", "/login/"]
SCRIPTS = (
    "format.js",
    "api.js",
    "charts.js",
    "overview.js",
    "run.js",
    "account.js",
    "grid.js",
    "compare.js",
    "upload.js",
)
STAFF_MARKERS = ('id="run-panel"', 'id="upload-form"', "data-staff-only", 'href="/admin/"')


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("editor", password="pw", is_staff=True)


@pytest.fixture
def reader(django_user_model):
    return django_user_model.objects.create_user("reader", password="pw")


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_anyone(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<main" in html
    assert 'name="viewport"' in html
    for marker in STAFF_MARKERS:
        assert marker not in html, f"{marker} is shown to an anonymous visitor on {path}"


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_a_signed_in_reader_sees_no_staff_controls(client, reader, path):
    client.force_login(reader)
    html = client.get(path).content.decode()
    for marker in STAFF_MARKERS:
        assert marker not in html
    assert "Sign out" in html


@pytest.mark.django_db
def test_staff_see_the_staff_controls(client, staff):
    client.force_login(staff)
    overview = client.get("/").content.decode()
    assert 'id="run-panel"' in overview
    assert 'href="/upload"' in overview
    assert 'href="/admin/"' in overview
    assert "js/run.js" in overview
    upload = client.get("/upload").content.decode()
    assert 'id="upload-form"' in upload
    assert 'name="csrfmiddlewaretoken"' in upload


@pytest.mark.django_db
def test_upload_is_the_page_on_get_and_the_api_on_post(client, staff):
    assert client.get("/upload").status_code == 200
    assert client.get("/upload/").status_code == 200
    assert client.head("/upload").status_code == 200
    # Anonymous POST: refused by the API, as JSON.
    refused = client.post("/upload", {})
    assert refused.status_code in (401, 403)
    assert "error" in refused.json()
    # Staff POST without a file: the API's own message.
    client.force_login(staff)
    response = client.post("/upload", {})
    assert response.status_code == 400
    assert "No file was uploaded" in response.json()["error"]


def test_the_account_page_escapes_the_handle_from_the_address(client):
    response = client.get("/accounts/x/%3Cscript%3Ealert(1)%3C%2Fscript%3E/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_unknown_platform_is_not_found(client):
    assert client.get("/accounts/myspace/someone/").status_code == 404


def test_reddit_handles_with_a_slash_have_a_page(client):
    assert reverse("account-page", args=["reddit", "u/someone"]) == "/accounts/reddit/u/someone/"
    assert client.get("/accounts/reddit/u/someone/").status_code == 200


def test_chart_js_comes_from_npm_through_staticfiles():
    assert finders.find("chart.js/dist/chart.umd.js"), "run `npm ci` (make does it) to install Chart.js"
    assert finders.find("css/app.css")
    for name in SCRIPTS:
        assert finders.find(f"js/{name}"), name


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_no_page_loads_anything_from_another_site(client, path):
    html = client.get(path).content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"data-chart-src=\"([^\"]+)\"", html)
    external = [s for s in sources if re.match(r"^(https?:)?//", s)]
    assert external == []
    assert "/static/chart.js/dist/chart.umd.js" in html


def test_the_page_scripts_never_put_data_into_html():
    """Names reach the page as text only: no innerHTML / outerHTML / insertAdjacentHTML in the scripts."""
    for name in SCRIPTS:
        source = Path(finders.find(f"js/{name}")).read_text(encoding="utf-8")
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source), name

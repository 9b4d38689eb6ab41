"""``GET /api/``: the API's root lists every endpoint the schema documents, each link answers; the
browsable API shows the filter form and page links on the list endpoints."""

from __future__ import annotations

import html as entities
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(today):
    for handle in ("alpha", "beta", "gamma"):
        history(account(handle), days=5, end=today)


def root(client, path: str = "/api/") -> dict:
    response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/json"
    return response.json()


def schema_paths() -> set[str]:
    document = Client().get("/api/schema", {"format": "json"}).json()
    return set(document["paths"])


def test_the_root_lists_every_endpoint_of_the_schema_with_and_without_a_slash(api):
    listed = root(api)
    assert listed == root(api, "/api")
    assert listed["title"] == "socialmetrics API"
    assert listed["schema"] == "http://testserver/api/schema"
    assert listed["docs"] == "http://testserver/api/docs"
    paths = {endpoint["path"]: endpoint for endpoint in listed["endpoints"]}
    assert set(paths) == schema_paths() - {"/api/"}  # the root is the one it does not list
    assert paths["/api/grid/"] == {
        "path": "/api/grid/",
        "url": "http://testserver/api/grid/",
        "methods": {"GET": "The full data table, paginated"},
    }
    assert set(paths["/api/accounts/"]["methods"]) == {"GET", "POST"}
    history_endpoint = paths["/api/history/{platform}/{handle}/"]
    assert history_endpoint["url"] is None  # a path with parameters has no one address
    assert history_endpoint["methods"] == {"GET": "One account's daily series"}


def test_each_link_of_the_root_answers(staff_api, data):
    for endpoint in root(staff_api)["endpoints"]:
        url = endpoint["url"]
        if url is None:
            continue
        if "GET" in endpoint["methods"]:
            response = staff_api.get(url)
            assert response.status_code == 200, (url, response.content[:300])
        else:  # a write endpoint: it is there, and says which methods it takes
            response = staff_api.options(url)
            assert response.status_code == 200, url
            for method in endpoint["methods"]:
                assert method in response["Allow"], (url, method)


def test_the_root_is_open_to_anonymous_callers_and_refuses_writes_as_json(api):
    assert api.get("/api/").status_code == 200
    refused = api.post("/api/", {}, format="json")
    assert refused.status_code == 405
    assert refused.json()["error"]["code"]


def test_the_root_in_the_browsable_api_links_every_endpoint(api):
    response = api.get("/api/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    html = response.content.decode()
    assert "socialmetrics API" in html
    assert 'href="http://testserver/api/grid/"' in html


# --- The browsable API on the list endpoints -------------------------------------------------------


def browsable(api, path: str) -> str:
    response = api.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 200, path
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/api/accounts", {"platform", "organization", "is_core"}),
        ("/api/grid", {"platform", "organization", "handle", "from", "to", "ordering"}),
        ("/api/anomalies", {"platform", "handle"}),
    ],
)
def test_the_filter_form_is_shown_on_the_lists(api, data, path, fields):
    html = browsable(api, path)
    assert 'id="filtersModal"' in html
    form = html[html.index('id="filtersModal"') :]
    shown = set(re.findall(r'<input[^>]* name="([^"]+)"', form)) | set(
        re.findall(r'<select[^>]* name="([^"]+)"', form)
    )
    assert fields <= shown, shown


def test_the_filter_form_keeps_the_values_asked_for(api, data):
    html = browsable(api, "/api/grid?platform=x&handle=alp")
    form = html[html.index('id="filtersModal"') :]
    assert re.search(r'name="handle"[^>]*value="alp"|value="alp"[^>]*name="handle"', form)


def page_links(html: str) -> dict[str, dict]:
    """The pagination links: their text ("1", "«", "»") -> the query string each asks for."""
    nav = re.search(r'<ul class="pagination">(.*?)</ul>', html, re.S)
    assert nav, "no page links"
    links = {}
    for href, text in re.findall(r'<a href="([^"#]+)"[^>]*>(.*?)</a>', nav.group(1), re.S):
        url = urlsplit(entities.unescape(href))
        assert url.path in ("/api/grid", "/api/accounts"), href
        links[entities.unescape(re.sub(r"<[^>]+>|\s", "", text))] = parse_qs(url.query)
    return links


def test_page_links_on_a_list(api, data):
    links = page_links(browsable(api, "/api/grid?per_page=5&page=2&platform=x"))
    # 15 snapshots in pages of 5: 1, 2 (this one), 3, and previous / next
    assert links["1"] == {"per_page": ["5"], "platform": ["x"]}
    assert links["3"] == {"per_page": ["5"], "page": ["3"], "platform": ["x"]}
    assert links["«"] == links["1"]
    assert links["»"] == links["3"]
    accounts = page_links(browsable(api, "/api/accounts?per_page=1"))
    assert set(accounts) >= {"1", "2", "3", "»"}
    assert "«" not in accounts  # the first page has no previous one


def test_a_page_past_the_end_links_back_to_the_last_one(api, data):
    links = page_links(browsable(api, "/api/accounts?per_page=2&page=9"))
    assert links["«"] == {"per_page": ["2"], "page": ["2"]}
    assert "»" not in links


def test_cursor_pages_link_to_the_next_one(api, data):
    html = browsable(api, "/api/grid?cursor=&per_page=4")
    link = re.search(r'<li class="next">\s*<a href="([^"]+)"', html)
    assert link, "no next link"
    cursor = parse_qs(urlsplit(entities.unescape(link.group(1))).query)["cursor"][0]
    following = api.get("/api/grid", {"cursor": cursor, "per_page": 4}).json()
    first = api.get("/api/grid", {"cursor": "", "per_page": 4}).json()
    assert following["pagination"]["next_cursor"] != first["pagination"]["next_cursor"]


def test_json_answers_are_unchanged(api, data):
    body = api.get("/api/grid?per_page=5").json()
    assert body["pagination"] == {"page": 1, "per_page": 5, "total": 15, "pages": 3, "total_estimated": False}

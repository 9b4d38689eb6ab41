"""/api/accounts: the list with latest values, one account, and staff writes."""

import pytest

from accounts.models import Account, Platform
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db


def test_list_shape(api, today):
    acc = account("nasa", organization="NASA", display_name="NASA (X)", is_core=True)
    history(acc, days=8, end=today, followers=1000, step=10)
    account("quiet", platform=Platform.YOUTUBE, organization=None)

    response = api.get("/api/accounts")

    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"page": 1, "per_page": 100, "total": 2, "pages": 1}
    first, second = body["data"]
    assert first == {
        "id": acc.pk,
        "account_key": "x:nasa",
        "platform": "x",
        "handle": "nasa",
        "org_name": "NASA",
        "account_display_name": "NASA (X)",
        "is_core_account": True,
        "is_active": True,
        "url": "https://example.org/nasa",
        "latest": {
            "date": today.isoformat(),
            "followers": 1070,
            "following": 5,
            "posts": 107,
            "likes": 10,
            "comments": 2,
            "shares": 1,
            "views": 500,
            "engagement": 13,
            "engagement_rate": 0.01214953,
            "precision": "exact",
            "followers_change_1d": 10,
            "followers_change_7d": 70,
            "followers_change_30d": None,
            "followers_change_pct_1d": round(10 * 100 / 1060, 4),
            "followers_change_pct_7d": 7.0,
            "followers_change_pct_30d": None,
        },
    }
    assert second["handle"] == "quiet"
    assert second["latest"] is None
    assert second["org_name"] is None


def test_pagination_defaults_and_cap(api):
    for i in range(7):
        account(f"a{i}")
    body = api.get("/api/accounts?per_page=3&page=3").json()
    assert body["pagination"] == {"page": 3, "per_page": 3, "total": 7, "pages": 3}
    assert [a["handle"] for a in body["data"]] == ["a6"]
    assert api.get("/api/accounts?per_page=9999").json()["pagination"]["per_page"] == 500
    assert api.get("/api/accounts/?page=9").json()["data"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=abc", "page"),
        ("per_page=-1", "per_page"),
        ("platform=bebo", "platform"),
        ("is_active=2", "is_active"),
    ],
)
def test_bad_parameters(api, query, field):
    response = api.get(f"/api/accounts?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("query", "handles"),
    [
        ("platform=youtube", ["tube"]),
        ("organization=space agency", ["nasa", "tube"]),
        ("is_core=true", ["nasa"]),
        ("is_active=false", ["old"]),
        ("search=NAS", ["nasa"]),
        ("search=rocket", ["tube"]),  # display name
        ("search=agency", ["nasa", "tube"]),  # organization
        ("search=@old", ["old"]),
        ("handle=NASA", ["nasa"]),  # exact, any case
        ("handle=nas", []),
        ("platform=X&handle=tube", []),
    ],
)
def test_filters(api, query, handles):
    account("nasa", organization="Space Agency", is_core=True)
    account("tube", platform=Platform.YOUTUBE, organization="Space Agency", display_name="Rocket TV")
    account("old", organization="Other", is_active=False)
    assert [a["handle"] for a in api.get(f"/api/accounts?{query}").json()["data"]] == handles


def test_one_query_for_a_page_whatever_its_size(api, today, django_assert_num_queries):
    for i in range(40):
        history(account(f"a{i:02}", organization=f"Org {i % 4}"), days=2, end=today)
    with django_assert_num_queries(1):  # the page (organization and latest joined) and the total
        assert len(api.get("/api/accounts?per_page=500").json()["data"]) == 40
    with django_assert_num_queries(0):
        api.get("/api/accounts?per_page=500")
    with django_assert_num_queries(2):  # filtered: the total, the page
        assert len(api.get("/api/accounts?per_page=500&organization=Org 1").json()["data"]) == 10


def test_the_unfiltered_list_is_the_filtered_list_with_no_filter(api, today):
    for i in range(7):
        acc = account(f"a{i}", organization=None if i % 3 else f"Org {i}", is_core=i == 2, is_active=i != 4)
        if i % 2:
            history(acc, days=3, end=today, followers=100 * i)
    for query in ("per_page=3&page=1", "per_page=3&page=3", "per_page=3&page=4", "page=1"):
        unfiltered = api.get(f"/api/accounts?{query}").json()
        filtered = api.get(f"/api/accounts?{query}&search=a").json()  # every handle has an "a"
        assert unfiltered == filtered, query
    assert api.get("/api/accounts?per_page=3&page=4").json()["pagination"]["total"] == 7


def test_one_account(api, today, django_assert_num_queries):
    acc = account("nasa")
    history(acc, days=1, end=today)
    with django_assert_num_queries(1):
        response = api.get(f"/api/accounts/{acc.pk}")
    assert response.status_code == 200
    assert response.json()["account_key"] == "x:nasa"
    assert api.get(f"/api/accounts/{acc.pk}/").status_code == 200
    missing = api.get(f"/api/accounts/{acc.pk + 1000}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND"
    assert api.get("/api/accounts/abc").status_code == 404
    assert api.get("/api/accounts/abc").json()["error"]["code"] == "NOT_FOUND"


# --- writes -------------------------------------------------------------------------------------


def test_staff_create_an_account(staff_api):
    response = staff_api.post(
        "/api/accounts",
        {"platform": "Twitter", "handle": "@NASA", "org_name": "Space Agency", "is_core_account": True},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["account_key"] == "x:nasa"
    assert body["url"] == "https://x.com/NASA"
    assert body["org_name"] == "Space Agency"
    assert body["is_core_account"] is True
    assert body["latest"] is None
    assert Account.objects.get(pk=body["id"]).handle == "NASA"


def test_create_from_a_profile_url(staff_token_api):
    response = staff_token_api.post(
        "/api/accounts/", {"platform": "YouTube", "url": "https://www.youtube.com/@NASA"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["handle"] == "NASA"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"platform": "myspace", "handle": "tom"}, "platform"),
        ({"platform": "x"}, "handle"),
        ({"handle": "nasa"}, "platform"),
        ({"platform": "x", "handle": "nasa"}, "handle"),  # already exists
        ({"platform": "x", "url": "https://www.youtube.com/@NASA"}, "handle"),
        ({"platform": "x", "handle": "ok", "is_core_account": "sometimes"}, "is_core_account"),
    ],
)
def test_create_refuses_bad_input_naming_the_field(staff_api, payload, field):
    account("nasa")
    response = staff_api.post("/api/accounts", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["field"] == field
    assert Account.objects.count() == 1


def test_staff_update_and_deactivate(staff_api):
    acc = account("nasa", organization="Old Org")
    response = staff_api.patch(
        f"/api/accounts/{acc.pk}", {"org_name": "New Org", "account_display_name": "NASA"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["org_name"] == "New Org"
    assert response.json()["account_display_name"] == "NASA"

    response = staff_api.put(
        f"/api/accounts/{acc.pk}/",
        {"platform": "x", "handle": "NASA_HQ", "org_name": "", "is_core_account": True},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["handle"] == "NASA_HQ"
    assert response.json()["org_name"] is None
    assert response.json()["is_core_account"] is True

    response = staff_api.delete(f"/api/accounts/{acc.pk}")
    assert response.status_code == 200
    assert response.json()["is_active"] is False
    acc.refresh_from_db()
    assert not acc.is_active  # deactivated, not deleted

    assert staff_api.patch("/api/accounts/999999", {"is_active": True}, format="json").status_code == 404


def test_update_to_a_taken_handle_is_refused(staff_api):
    account("taken")
    acc = account("mine")
    response = staff_api.patch(f"/api/accounts/{acc.pk}", {"handle": "TAKEN"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "handle"


def test_writes_need_staff(api, user_api):
    acc = account("nasa")
    assert api.post("/api/accounts", {"platform": "x", "handle": "a"}, format="json").status_code == 401
    assert user_api.post("/api/accounts", {"platform": "x", "handle": "a"}, format="json").status_code == 403
    assert (
        user_api.patch(f"/api/accounts/{acc.pk}", {"is_core_account": True}, format="json").status_code == 403
    )
    assert api.delete(f"/api/accounts/{acc.pk}").status_code == 401
    acc.refresh_from_db()
    assert acc.is_active
    assert not acc.is_core


def test_a_write_is_seen_by_the_next_read(staff_api, django_capture_on_commit_callbacks):
    acc = account("nasa")
    assert staff_api.get("/api/accounts").json()["data"][0]["is_active"] is True
    assert staff_api.get("/api/accounts")["X-Cache"] == "HIT"
    with django_capture_on_commit_callbacks(execute=True):
        staff_api.delete(f"/api/accounts/{acc.pk}")
    assert staff_api.get("/api/accounts").json()["data"][0]["is_active"] is False

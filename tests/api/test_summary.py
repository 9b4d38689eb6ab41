"""GET /api/summary and /api/summary/totals."""

import datetime as dt

import pytest

from accounts.models import Platform
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db


def test_no_data_is_an_empty_list(api):
    response = api.get("/api/summary")
    assert response.status_code == 200
    assert response.json() == []


def test_each_account_appears_with_its_own_most_recent_day(api, today):
    fresh = account("fresh", organization="NASA")
    late = account("late", platform=Platform.YOUTUBE, organization=None)
    history(fresh, days=3, end=today, followers=100)
    history(late, days=2, end=today - dt.timedelta(days=4), followers=50)  # missed the last 4 days

    response = api.get("/api/summary")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == [
        {
            "platform": "x",
            "handle": "fresh",
            "org_name": "NASA",
            "followers": 120,
            "engagement": 13,
            "engagement_rate": 0.10833333,
            "posts": 102,
            "date": today.isoformat(),
            "anomaly": False,
            "anomaly_reason": None,
        },
        {
            "platform": "youtube",
            "handle": "late",
            "org_name": None,
            "followers": 60,
            "engagement": 13,
            "engagement_rate": 0.21666667,
            "posts": 101,
            "date": (today - dt.timedelta(days=4)).isoformat(),
            "anomaly": False,
            "anomaly_reason": None,
        },
    ]


def test_inactive_accounts_and_accounts_without_data_are_left_out(api, today):
    history(account("on"), days=1, end=today)
    history(account("off", is_active=False), days=1, end=today)
    account("never")
    assert [row["handle"] for row in api.get("/api/summary/").json()] == ["on"]


@pytest.fixture
def mixed(today):
    history(account("a1", organization="Alpha", is_core=True), days=1, end=today)
    history(account("a2", platform=Platform.YOUTUBE, organization="Alpha"), days=1, end=today)
    history(account("b1", platform=Platform.BLUESKY, organization="Beta"), days=1, end=today)


@pytest.mark.usefixtures("mixed")
@pytest.mark.parametrize(
    ("query", "handles"),
    [
        ("platform=x", ["a1"]),
        ("platform=X", ["a1"]),
        ("platform=twitter", ["a1"]),
        ("platform=YouTube,bluesky", ["b1", "a2"]),
        ("organization=alpha", ["a1", "a2"]),
        ("organization=Nobody", []),
        ("is_core=true", ["a1"]),
        ("is_core=false", ["b1", "a2"]),
        ("platform=youtube&organization=Alpha", ["a2"]),
    ],
)
def test_filters(api, query, handles):
    response = api.get(f"/api/summary?{query}")
    assert response.status_code == 200
    assert [row["handle"] for row in response.json()] == handles


@pytest.mark.parametrize(("query", "field"), [("platform=myspace", "platform"), ("is_core=maybe", "is_core")])
def test_bad_filters_are_400_naming_the_parameter(api, query, field):
    response = api.get(f"/api/summary?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_PARAMETER"
    assert response.json()["error"]["field"] == field


def test_one_query_whatever_the_number_of_accounts(api, today, django_assert_num_queries):
    for i in range(30):
        history(account(f"acc{i}", organization=f"Org {i % 3}"), days=2, end=today)
    with django_assert_num_queries(1):  # the latest rows with their organization's name
        body = api.get("/api/summary?platform=x").json()
    assert len(body) == 30
    assert {row["org_name"] for row in body} == {"Org 0", "Org 1", "Org 2"}
    with django_assert_num_queries(0):  # the cached response
        assert api.get("/api/summary?platform=x")["X-Cache"] == "HIT"


# --- totals -------------------------------------------------------------------------------------


def test_totals_per_platform_and_organization_with_growth(api, today):
    # a: 31 days, +10 a day; b: 8 days, +100 a day; c: inactive (left out)
    history(account("a", organization="Alpha"), days=31, end=today, followers=1000, step=10)
    history(account("b", platform=Platform.YOUTUBE, organization="Beta"), days=8, end=today, step=100)
    history(account("c", organization="Alpha", is_active=False), days=5, end=today)

    response = api.get("/api/summary/totals")

    assert response.status_code == 200
    body = response.json()
    a_now, b_now = 1000 + 300, 1000 + 700
    assert body["total"] == {
        "accounts": 2,
        "followers": a_now + b_now,
        "engagement": 26,
        "followers_change_1d": 10 + 100,
        "followers_change_pct_1d": round(110 * 100 / (a_now + b_now - 110), 4),
        "followers_change_7d": 70 + 700,
        "followers_change_pct_7d": round(770 * 100 / (a_now + b_now - 770), 4),
        "followers_change_30d": 300,  # only a has 30 days; b's growth is unknown, not 0
        "followers_change_pct_30d": round(300 * 100 / (a_now - 300), 4),
    }
    platforms = {row["platform"]: row for row in body["platforms"]}
    assert set(platforms) == {"x", "youtube"}
    assert platforms["youtube"]["followers"] == b_now
    assert platforms["youtube"]["followers_change_7d"] == 700
    assert platforms["youtube"]["followers_change_pct_7d"] == 70.0
    assert platforms["youtube"]["followers_change_30d"] is None
    organizations = {row["organization"]: row for row in body["organizations"]}
    assert organizations["Alpha"]["accounts"] == 1
    assert organizations["Alpha"]["followers_change_30d"] == 300
    assert organizations["Beta"]["engagement"] == 13


def test_totals_filters_and_empty(api, today, django_assert_num_queries):
    history(account("a", organization="Alpha", is_core=True), days=2, end=today)
    history(account("b", platform=Platform.YOUTUBE, organization="Beta"), days=2, end=today)
    with django_assert_num_queries(1):  # one aggregate per (organization, platform)
        body = api.get("/api/summary/totals/?is_core=true").json()
    assert body["total"]["accounts"] == 1
    assert [row["platform"] for row in body["platforms"]] == ["x"]
    empty = api.get("/api/summary/totals?platform=tiktok").json()
    assert empty["total"]["accounts"] == 0
    assert empty["total"]["followers"] == 0
    assert empty["platforms"] == []
    assert api.get("/api/summary/totals?organization=beta").json()["total"]["accounts"] == 1
    assert api.get("/api/summary/totals?platform=nope").status_code == 400


def test_the_fast_rendering_is_the_json_renderers(api, today):
    from rest_framework.renderers import JSONRenderer

    history(account('quote"back\\slash', organization="Zoë \u2028 <Org>"), days=1, end=today)
    history(account("plain", organization=None, is_core=True), days=1, end=today)
    fast = api.get("/api/summary").content
    browsable = api.get("/api/summary?format=api")
    assert browsable.status_code == 200
    expected = JSONRenderer().render(api.get("/api/summary").json(), "application/json", {})
    assert fast == expected
    assert b"\\u2028" in fast


def test_a_renamed_organization_or_account_shows_at_once(api, today):
    nasa = account("nasa", organization="NASA")
    history(nasa, days=1, end=today)
    assert api.get("/api/summary").json()[0]["org_name"] == "NASA"
    organization = nasa.organization
    organization.name = "National Aeronautics"
    organization.save()
    assert api.get("/api/summary").json()[0]["org_name"] == "National Aeronautics"
    nasa.refresh_from_db()
    nasa.handle = "NASA_HQ"
    nasa.save()
    assert [row["handle"] for row in api.get("/api/summary").json()] == ["NASA_HQ"]

"""GET /api/history/<platform>/<handle>."""

import datetime as dt

import pytest

from accounts.models import Platform
from snapshots.services import SnapshotRow, snapshot_upsert_many
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

SERIES = ("followers", "engagement", "following", "posts", "likes", "comments", "shares", "views")


def test_every_series_oldest_first_with_null_gaps(api, today):
    acc = account("nasa")
    history(acc, days=5, end=today, followers=100, step=1, skip={2})  # no snapshot 2 days ago

    response = api.get("/api/history/x/nasa")

    assert response.status_code == 200
    body = response.json()
    rates = {"engagement_rate", "engagement_rate_avg"}
    assert set(body) == {"dates", *SERIES, *rates, "anomaly", "anomaly_reason"}
    assert body["dates"] == [(today - dt.timedelta(days=d)).isoformat() for d in range(4, -1, -1)]
    assert body["followers"] == [100, 101, None, 103, 104]
    assert body["engagement"] == [13, 13, None, 13, 13]
    assert body["posts"] == [100, 101, None, 103, 104]
    assert body["views"] == [500, 500, None, 500, 500]
    assert all(len(body[name]) == 5 for name in SERIES)


def test_unknown_values_stay_null(api, today):
    acc = account("sparse")
    snapshot_upsert_many(rows=[SnapshotRow(account_id=acc.pk, date=today, followers=7)])
    body = api.get("/api/history/x/sparse").json()
    assert body["followers"] == [7]
    assert body["likes"] == [None]
    assert body["engagement"] == [None]


@pytest.mark.parametrize(
    "path",
    [
        "/api/history/x/NASA",
        "/api/history/X/nasa/",
        "/api/history/twitter/Nasa",
        "/api/history/x/@nasa",
    ],
)
def test_platform_and_handle_match_case_insensitively(api, today, path):
    history(account("NaSa"), days=2, end=today)
    response = api.get(path)
    assert response.status_code == 200
    assert len(response.json()["dates"]) == 2


def test_handles_with_a_slash_and_an_at(api, today):
    history(account("u/spez", platform=Platform.REDDIT), days=1, end=today)
    history(account("name@mastodon.social", platform=Platform.MASTODON), days=1, end=today)
    assert api.get("/api/history/reddit/u/spez").status_code == 200
    assert api.get("/api/history/Reddit/U/Spez/").status_code == 200
    assert api.get("/api/history/mastodon/name@mastodon.social").status_code == 200


def test_from_and_to_limit_the_range(api, today):
    history(account("nasa"), days=10, end=today, followers=0, step=1)
    start, end = today - dt.timedelta(days=6), today - dt.timedelta(days=3)
    body = api.get(f"/api/history/x/nasa?from={start}&to={end}").json()
    assert body["dates"] == [(start + dt.timedelta(days=d)).isoformat() for d in range(4)]
    assert body["followers"] == [3, 4, 5, 6]
    assert api.get(f"/api/history/x/nasa?from={today + dt.timedelta(days=1)}").json()["dates"] == []


def test_an_account_without_snapshots_has_empty_series(api):
    account("quiet")
    assert api.get("/api/history/x/quiet").json() == {
        "dates": [],
        **{name: [] for name in SERIES},
        "engagement_rate": [],
        "engagement_rate_avg": None,
        "anomaly": [],
        "anomaly_reason": [],
    }


def test_unknown_account_is_a_json_404(api, today):
    history(account("nasa"), days=1, end=today)
    response = api.get("/api/history/x/nobody")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert "nobody" in error["message"]
    assert api.get("/api/history/youtube/nasa").status_code == 404  # right handle, other platform


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/history/myspace/nasa", "platform"),
        ("/api/history/x/nasa?from=2026-13-01", "from"),
        ("/api/history/x/nasa?to=yesterday", "to"),
        ("/api/history/x/nasa?from=2026-02-02&to=2026-02-01", "from"),
    ],
)
def test_bad_parameters_are_400_naming_them(api, today, path, field):
    history(account("nasa"), days=1, end=today)
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_a_year_costs_two_queries_then_none(api, today, django_assert_num_queries):
    history(account("nasa"), days=365, end=today)
    with django_assert_num_queries(2):  # the account, its series
        assert len(api.get("/api/history/x/nasa").json()["dates"]) == 365
    with django_assert_num_queries(0):
        response = api.get("/api/history/X/NASA")  # another spelling: another key, same account
        response = api.get("/api/history/x/nasa")
    assert response["X-Cache"] == "HIT"


def test_a_renamed_account_is_not_served_under_its_old_handle(api, today):
    acc = account("old")
    history(acc, days=1, end=today)
    assert api.get("/api/history/x/old").status_code == 200
    acc.handle = "new"
    acc.save()  # the signal replaces the account's history token
    assert api.get("/api/history/x/old").status_code == 404
    other = account("old")
    history(other, days=3, end=today)
    assert len(api.get("/api/history/x/old").json()["dates"]) == 3
    assert len(api.get("/api/history/x/new").json()["dates"]) == 1


def test_a_remembered_id_that_went_stale_is_looked_up_again(api, today, django_assert_num_queries):
    first = account("nasa")
    history(first, days=1, end=today)
    assert api.get("/api/history/x/nasa").status_code == 200  # remembers nasa -> first
    first.delete()
    history(account("nasa"), days=2, end=today)
    # The series checked against the handle (nothing), the id checked alone, the account looked up,
    # its series.
    with django_assert_num_queries(4):
        assert len(api.get("/api/history/x/nasa").json()["dates"]) == 2
    with django_assert_num_queries(0):
        assert len(api.get("/api/history/x/nasa").json()["dates"]) == 2


def test_a_miss_for_a_remembered_account_is_one_query(api, today, django_assert_num_queries):
    from socialmetrics import cache as generations

    nasa = account("nasa")
    history(nasa, days=3, end=today)
    assert api.get("/api/history/x/nasa").status_code == 200
    generations.bump([*generations.DATA_GROUPS, generations.history_group(nasa.pk)])
    with django_assert_num_queries(1):  # the series, checked in the same query against the handle
        response = api.get("/api/history/X/@NASA")
    assert response["X-Cache"] == "MISS"
    assert len(response.json()["dates"]) == 3


def test_a_remembered_account_renamed_is_not_served_under_its_old_handle(api, today):
    nasa = account("nasa")
    history(nasa, days=3, end=today)
    assert api.get("/api/history/x/nasa").status_code == 200
    from accounts.services import account_update

    account_update(account=nasa, handle="nasa_hq")
    assert api.get("/api/history/x/nasa").status_code == 404
    assert len(api.get("/api/history/x/nasa_hq").json()["dates"]) == 3

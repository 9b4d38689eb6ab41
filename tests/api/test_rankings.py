"""Growth rankings: /api/accounts?ordering= by the latest values, and /api/movers (the overview's top
gainers and losers over 1, 7 and 30 days, in followers and in percent)."""

import datetime as dt

import pytest
from django.core.management import call_command

from accounts.models import Platform
from snapshots.filters import ACCOUNT_ORDER_COLUMNS, ACCOUNT_ORDERINGS
from snapshots.services import SnapshotRow, snapshot_upsert_many
from tests.api.conftest import account

pytestmark = pytest.mark.django_db

#: handle -> (followers 30 days before today, 7 days before, the day before, today, today's likes)
GROWTH = {
    "rising": (1000, 1000, 1100, 1500, 30),
    "falling": (5000, 5000, 4000, 3000, 30),
    "steady": (200, 200, 200, 200, 2),
    "tiny": (10, 10, 10, 40, 40),  # +300 %: the biggest gain in percent, a small one in followers
    "twin": (1000, 1000, 1100, 1500, 15),  # ties "rising" on growth: platform, then handle decide
}


@pytest.fixture
def ranked(today):
    """Five accounts with growth over 1, 7 and 30 days, one on YouTube; one account with no data."""
    made = {}
    for handle, (d30, d7, d1, d0, likes) in GROWTH.items():
        platform = Platform.YOUTUBE if handle == "twin" else Platform.X
        acc = made[handle] = account(handle, platform=platform)
        snapshot_upsert_many(
            rows=[
                SnapshotRow(account_id=acc.pk, date=today - dt.timedelta(days=back), followers=n, likes=likes)
                for back, n in ((30, d30), (7, d7), (1, d1), (0, d0))
            ]
        )
    made["empty"] = account("empty")
    return made


def handles(api, query: str) -> list[str]:
    response = api.get(f"/api/accounts?{query}")
    assert response.status_code == 200, response.content
    return [row["handle"] for row in response.json()["data"]]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("", ["empty", "falling", "rising", "steady", "tiny", "twin"]),  # platform, then handle
        ("-followers", ["falling", "rising", "twin", "steady", "tiny", "empty"]),
        ("followers", ["tiny", "steady", "rising", "twin", "falling", "empty"]),
        ("-growth_1d", ["rising", "twin", "tiny", "steady", "falling", "empty"]),
        ("-growth_7d", ["rising", "twin", "tiny", "steady", "falling", "empty"]),
        ("growth_7d", ["falling", "steady", "tiny", "rising", "twin", "empty"]),
        ("-growth_30d", ["rising", "twin", "tiny", "steady", "falling", "empty"]),
        ("-growth_7d_pct", ["tiny", "rising", "twin", "steady", "falling", "empty"]),
        ("growth_7d_pct", ["falling", "steady", "rising", "twin", "tiny", "empty"]),
        ("-growth_1d_pct", ["tiny", "rising", "twin", "steady", "falling", "empty"]),
        ("growth_30d_pct", ["falling", "steady", "rising", "twin", "tiny", "empty"]),
        ("-engagement_rate", ["tiny", "rising", "falling", "steady", "twin", "empty"]),
        ("engagement_rate", ["falling", "steady", "twin", "rising", "tiny", "empty"]),
    ],
)
def test_accounts_rank_by_their_latest_values_unknown_last_ties_by_platform_and_handle(
    api, ranked, ordering, expected
):
    assert handles(api, f"ordering={ordering}") == expected


def test_every_documented_ordering_works_both_ways(api, ranked):
    assert len(ACCOUNT_ORDERINGS) == 2 * len(ACCOUNT_ORDER_COLUMNS)
    for ordering in ACCOUNT_ORDERINGS:
        assert handles(api, f"ordering={ordering}")[-1] == "empty", ordering


def test_a_ranking_pages_and_filters(api, ranked):
    whole = handles(api, "ordering=-growth_7d")
    pages = [handles(api, f"ordering=-growth_7d&per_page=2&page={p}") for p in (1, 2, 3)]
    assert [h for page in pages for h in page] == whole
    assert handles(api, "ordering=-growth_7d&platform=x") == ["rising", "tiny", "steady", "falling", "empty"]


@pytest.mark.parametrize(
    "ordering",
    [
        "handle",
        "followers_change_7d",
        "growth_7",
        "--followers",
        "-",
        " followers",
        "followers,-growth_7d",
        "%",
    ],
)
def test_an_unknown_ordering_is_a_400_naming_the_choices(api, ranked, ordering):
    from urllib.parse import quote

    response = api.get(f"/api/accounts?ordering={quote(ordering)}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "ordering"
    assert "growth_7d_pct" in error["message"]


def test_a_ranked_page_is_still_two_queries(api, ranked, django_assert_num_queries):
    with django_assert_num_queries(2):  # the total, the page (organization and latest joined)
        assert len(handles(api, "ordering=-engagement_rate")) == 6


def test_the_schema_lists_the_orderings(tmp_path):
    import yaml

    path = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    parameters = {p["name"]: p for p in schema["paths"]["/api/accounts/"]["get"]["parameters"]}
    assert set(parameters["ordering"]["schema"]["enum"]) == {"", *ACCOUNT_ORDERINGS}
    assert {"growth_7d_pct", "-engagement_rate", "followers"} <= set(parameters["ordering"]["schema"]["enum"])


# --- /api/movers ------------------------------------------------------------------------------------


def movers(api, query: str = "") -> dict:
    response = api.get(f"/api/movers?{query}")
    assert response.status_code == 200, response.content
    return response.json()


def names(rows: list[dict]) -> list[str]:
    return [row["handle"] for row in rows]


def test_the_top_gainers_and_losers_over_a_week(api, ranked, today):
    body = movers(api)
    assert (body["days"], body["limit"], body["as_of"]) == (7, 10, today.isoformat())
    assert names(body["gainers"]) == ["rising", "twin", "tiny"]
    assert names(body["losers"]) == ["falling"]
    assert names(body["gainers_pct"]) == ["tiny", "rising", "twin"]
    assert names(body["losers_pct"]) == ["falling"]
    assert body["gainers"][0] == {
        "platform": "x",
        "handle": "rising",
        "org_name": "Org A",
        "account_display_name": "Rising",
        "date": today.isoformat(),
        "followers": 1500,
        "change": 500,
        "change_pct": 50.0,
        "anomaly": False,
        "anomaly_reason": None,
    }
    assert body["losers"][0]["change"] == -2000
    assert body["losers"][0]["change_pct"] == -40.0


def test_other_periods_limits_and_filters(api, ranked):
    day = movers(api, "days=1")
    assert [(m["handle"], m["change"]) for m in day["gainers"]] == [
        ("rising", 400),
        ("twin", 400),
        ("tiny", 30),
    ]
    assert [(m["handle"], m["change"]) for m in day["losers"]] == [("falling", -1000)]
    assert movers(api, "days=30")["days"] == 30
    assert names(movers(api, "limit=1")["gainers"]) == ["rising"]
    assert movers(api, "limit=5000")["limit"] == 100
    assert names(movers(api, "platform=youtube")["gainers"]) == ["twin"]
    assert movers(api, "platform=youtube")["losers"] == []


def test_inactive_and_stale_accounts_are_not_ranked(api, ranked, today):
    ranked["rising"].is_active = False
    ranked["rising"].save()
    old = account("old")  # big gains, but its latest day is three weeks before the newest
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=old.pk, date=today - dt.timedelta(days=d), followers=n)
            for d, n in ((51, 10), (28, 20), (21, 90000))
        ]
    )
    assert names(movers(api)["gainers"]) == ["twin", "tiny"]
    assert "old" in names(movers(api, "days=30")["gainers"])


def test_a_flagged_latest_day_says_so(api, ranked, today):
    snapshot_upsert_many(rows=[SnapshotRow(account_id=ranked["steady"].pk, date=today, followers=5)])
    loser = next(m for m in movers(api)["losers"] if m["handle"] == "steady")
    assert loser["anomaly"] is True
    assert loser["anomaly_reason"].startswith("followers fell")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("days=2", "days"),
        ("days=", "days"),
        ("days=seven", "days"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
    ],
)
def test_bad_parameters_are_400_naming_them(api, query, field):
    response = api.get(f"/api/movers?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_no_data_is_empty_lists(api):
    assert movers(api) == {
        "days": 7,
        "limit": 10,
        "as_of": None,
        "gainers": [],
        "losers": [],
        "gainers_pct": [],
        "losers_pct": [],
    }


def test_movers_are_cached_and_a_write_is_seen_at_once(api, ranked, today, django_assert_num_queries):
    assert movers(api)["gainers"][0]["handle"] == "rising"
    with django_assert_num_queries(0):
        assert api.get("/api/movers")["X-Cache"] == "HIT"
    snapshot_upsert_many(rows=[SnapshotRow(account_id=ranked["steady"].pk, date=today, followers=100_000)])
    assert movers(api)["gainers"][0]["handle"] == "steady"
    ranked["steady"].is_active = False
    ranked["steady"].save()
    assert movers(api)["gainers"][0]["handle"] == "rising"

"""Anomaly flags in the API: the history, the grid and the summary carry them; GET /api/anomalies
lists them; the CSV download stays as it was."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from django.core.management import call_command
from rest_framework.renderers import JSONRenderer

from accounts.models import Account, Platform
from snapshots.api import anomalies as anomalies_view
from snapshots.models import Snapshot
from snapshots.selectors import summary_body, summary_queryset, summary_rows
from snapshots.services import SnapshotRow, snapshot_upsert_many
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

DROP = "followers fell 18,040 (-90.0 %) in a day, 1,804x the typical daily change of 10"
#: The recovery, against a typical change that now counts the fall: (18,040 + 27 x 10) / 28.
RECOVERY = "followers rose 18,060 (+898.5 %) in a day, 28x the typical daily change of 654"


def glitch(acc, day: dt.date, followers: int) -> None:
    snapshot_upsert_many(rows=[SnapshotRow(account_id=acc.pk, date=day, followers=followers)])


@pytest.fixture
def flagged(today):
    """nasa: 60 days of +10 a day, a fall by 90 % 3 days ago and the recovery 2 days ago; esa: the
    same fall 40 days ago; quiet: nothing unusual."""
    nasa, esa = account("nasa", organization="NASA"), account("esa", platform=Platform.MASTODON)
    for acc in (nasa, esa):
        history(acc, days=60, end=today, followers=19_500, step=10)
    glitch(nasa, today - dt.timedelta(days=3), 2_010)
    glitch(esa, today - dt.timedelta(days=40), 1_710)
    history(account("quiet"), days=10, end=today)
    return nasa, esa


def days_ago(today: dt.date, n: int) -> str:
    return (today - dt.timedelta(days=n)).isoformat()


# --- History, grid, summary ----------------------------------------------------------------------


def test_the_history_flags_days_with_their_reason_and_keeps_the_values(api, today, flagged):
    history(account("gappy"), days=5, end=today, skip={2})
    body = api.get("/api/history/x/nasa").json()
    flagged_days = {body["dates"][i]: r for i, r in enumerate(body["anomaly_reason"]) if r}
    assert flagged_days == {
        days_ago(today, 3): DROP,
        days_ago(today, 2): RECOVERY,
    }
    assert body["anomaly"] == [d in flagged_days for d in body["dates"]]
    assert body["followers"][body["dates"].index(days_ago(today, 3))] == 2_010  # as stored
    gappy = api.get("/api/history/x/gappy").json()
    assert gappy["anomaly"] == [False, False, None, False, False]  # no snapshot: null, as every series
    assert gappy["anomaly_reason"] == [None] * 5


def test_grid_rows_end_with_the_flag_and_its_reason(api, today, flagged):
    rows = api.get(
        "/api/grid", {"handle": "nasa", "from": days_ago(today, 3), "to": days_ago(today, 3)}
    ).json()
    assert rows["data"] == [["x", "nasa", "NASA", days_ago(today, 3), 2_010, 13, 156, 10, 2, 1, True, DROP]]
    cursor = api.get("/api/grid", {"cursor": "", "per_page": 3}).json()
    assert [row[-2:] for row in cursor["data"]] == [[False, None]] * 3


def test_the_csv_download_keeps_its_columns(api, today, flagged):
    lines = b"".join(api.get("/api/download", {"handle": "nasa"}).streaming_content).decode().splitlines()
    assert lines[0] == (
        "Platform,Handle,Organization,Date,Followers,Engagement Total,Posts,Likes,Comments,Shares,"
        "Following,Views,Source,Precision,Collected At"
    )  # stored values only: the upload recomputes the flag
    assert {len(line.split(",")) for line in lines} == {15}


def test_the_summary_carries_the_latest_days_flag(api, today, flagged):
    nasa, _ = flagged
    glitch(nasa, today, 100)  # today falls again
    rows = {row["handle"]: row for row in api.get("/api/summary").json()}
    assert rows["nasa"]["anomaly"] is True
    assert rows["nasa"]["anomaly_reason"].startswith("followers fell 19,980 (-99.5 %) in a day")
    assert rows["quiet"]["anomaly"] is False
    assert rows["quiet"]["anomaly_reason"] is None
    # Both renderings of the summary say the same, byte for byte.
    expected = JSONRenderer().render(
        [
            {
                **dict(zip(SUMMARY_KEYS, row[:-1], strict=True)),
                "anomaly": row[-1] is not None,
                "anomaly_reason": row[-1],
            }
            for row in summary_rows(queryset=summary_queryset())
        ]
    )
    assert summary_body(queryset=summary_queryset()) == expected
    browsable = api.get("/api/summary", HTTP_ACCEPT="application/json; indent=2").content
    assert json.loads(browsable) == json.loads(expected)


SUMMARY_KEYS = (
    "platform",
    "handle",
    "org_name",
    "followers",
    "engagement",
    "engagement_rate",
    "posts",
    "date",
)


# --- /api/anomalies ------------------------------------------------------------------------------


def test_the_last_30_days_newest_first(api, today, flagged):
    response = api.get("/api/anomalies")
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {
        "page": 1,
        "per_page": 50,
        "total": 2,
        "pages": 1,
        "since": days_ago(today, 30),
    }
    assert body["data"] == [
        {
            "platform": "x",
            "handle": "nasa",
            "org_name": "NASA",
            "date": days_ago(today, 2),
            "followers": 20_070,
            "anomaly_reason": RECOVERY,
        },
        {
            "platform": "x",
            "handle": "nasa",
            "org_name": "NASA",
            "date": days_ago(today, 3),
            "followers": 2_010,
            "anomaly_reason": DROP,
        },
    ]


def test_since_platform_handle_and_pages(api, today, flagged):
    older = api.get("/api/anomalies", {"since": days_ago(today, 45)}).json()
    assert [(r["handle"], r["date"]) for r in older["data"]] == [
        ("nasa", days_ago(today, 2)),
        ("nasa", days_ago(today, 3)),
        ("esa", days_ago(today, 39)),
        ("esa", days_ago(today, 40)),
    ]
    mastodon = api.get("/api/anomalies", {"since": days_ago(today, 45), "platform": "Mastodon"}).json()
    assert {r["handle"] for r in mastodon["data"]} == {"esa"}
    assert api.get("/api/anomalies", {"handle": "NASA"}).json()["pagination"]["total"] == 2
    assert api.get("/api/anomalies", {"handle": "esa"}).json()["data"] == []
    second = api.get("/api/anomalies", {"since": days_ago(today, 45), "per_page": 3, "page": 2}).json()
    assert [r["date"] for r in second["data"]] == [days_ago(today, 40)]
    assert second["pagination"] == {
        "page": 2,
        "per_page": 3,
        "total": 4,
        "pages": 2,
        "since": days_ago(today, 45),
    }
    assert api.get("/api/anomalies", {"page": 9}).json()["data"] == []
    assert api.get("/api/anomalies", {"since": ""}).json()["pagination"]["since"] == days_ago(today, 30)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-30"}, "since"),
        ({"platform": "myspace"}, "platform"),
        ({"page": "0"}, "page"),
        ({"per_page": "-3"}, "per_page"),
    ],
)
def test_parameters_that_cannot_be_used_are_a_json_400_naming_them(api, params, field):
    response = api.get("/api/anomalies", params)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_two_queries_then_none_and_a_write_shows_at_once(api, today, flagged, django_assert_num_queries):
    with django_assert_num_queries(2):  # the count, the page
        assert api.get("/api/anomalies").json()["pagination"]["total"] == 2
    with django_assert_num_queries(0):
        response = api.get("/api/anomalies")
    assert response["X-Cache"] == "HIT"
    glitch(Account.objects.get(handle="quiet"), today, 10_000)  # was 1,090
    assert [r["handle"] for r in api.get("/api/anomalies").json()["data"]] == ["quiet", "nasa", "nasa"]


def test_the_default_since_moves_with_the_day(api, today, flagged, monkeypatch):
    assert api.get("/api/anomalies").json()["pagination"]["total"] == 2
    monkeypatch.setattr(anomalies_view, "local_today", lambda: today + dt.timedelta(days=28))
    body = api.get("/api/anomalies").json()  # not yesterday's list from the cache
    assert body["pagination"]["since"] == days_ago(today, 2)
    assert [r["date"] for r in body["data"]] == [days_ago(today, 2)]


def test_the_flag_never_changes_a_stored_value(api, today, flagged):
    nasa, _ = flagged
    stored = Snapshot.objects.get(account=nasa, date=today - dt.timedelta(days=3))
    assert (stored.followers, stored.anomaly_reason) == (2_010, DROP)


@pytest.fixture
def schema(tmp_path):
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_the_schema_documents_the_list(schema):
    operation = schema["paths"]["/api/anomalies/"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert set(parameters) >= {"since", "platform", "handle", "page", "per_page"}
    assert parameters["since"]["anyOf"][0]["format"] == "date"
    assert parameters["handle"]["pattern"] == "^[^\\u0000]*$"  # as every free-text parameter
    assert {"200", "400"} <= set(operation["responses"])
    row = schema["components"]["schemas"]["Anomaly"]["properties"]
    assert set(row) == {"platform", "handle", "org_name", "date", "followers", "anomaly_reason"}
    grid_help = schema["components"]["schemas"]["GridPage"]["properties"]["data"]["description"]
    assert "anomaly, anomaly_reason" in grid_help

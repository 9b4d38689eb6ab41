"""GET /api/download: the grid as a streamed CSV file."""

import csv
import datetime as dt
import io

import pytest

from accounts.models import Platform
from snapshots.models import Snapshot
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

HEADER = (
    "Platform,Handle,Organization,Date,Followers,Engagement Total,Posts,Likes,Comments,Shares,"
    "Following,Views,Source,Precision,Collected At"
)


def read(response) -> list[list[str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_csv_attachment_with_the_grids_rows(api, today):
    history(account("nasa", organization="NASA"), days=2, end=today, followers=100)
    history(account("tube", platform=Platform.YOUTUBE, organization=None), days=1, end=today)

    response = api.get("/api/download")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="socialmetrics.csv"'
    rows = read(response)
    assert ",".join(rows[0]) == HEADER
    day, before = today.isoformat(), (today - dt.timedelta(days=1)).isoformat()
    counts = ("13", "101", "10", "2", "1", "5", "500")  # engagement, posts, likes...shares, following, views
    assert [r[:14] for r in rows[1:]] == [
        ["x", "nasa", "NASA", day, "110", *counts, "manual", "exact"],
        ["youtube", "tube", "", day, "1000", "13", "100", *counts[2:], "manual", "exact"],
        ["x", "nasa", "NASA", before, "100", "13", "100", *counts[2:], "manual", "exact"],
    ]
    # Collected At: the stored time, with its UTC offset (the upload reads it back exactly).
    stored = {
        (s.account.handle, s.date.isoformat()): s.collected_at
        for s in Snapshot.objects.select_related("account")
    }
    assert all(dt.datetime.fromisoformat(r[14]) == stored[(r[1], r[3])] for r in rows[1:])


def test_filters_and_ordering_are_the_grids(api, today):
    history(account("nasa"), days=3, end=today, followers=100)
    history(account("tube", platform=Platform.YOUTUBE), days=3, end=today, followers=5)
    rows = read(api.get(f"/api/download/?platform=youtube&from={today.isoformat()}"))
    assert [r[:2] for r in rows[1:]] == [["youtube", "tube"]]
    rows = read(api.get("/api/download?ordering=followers"))
    assert [int(r[4]) for r in rows[1:]] == sorted(int(r[4]) for r in rows[1:])


def test_cells_a_spreadsheet_would_run_are_neutralised(api, today):
    history(account("=cmd", organization="+SUM(A1)"), days=1, end=today)
    history(account("@evil", organization="-2+3"), days=1, end=today)
    rows = read(api.get("/api/download"))
    cells = [c for r in rows[1:] for c in r[:3]]
    assert "'=cmd" in cells
    assert "'+SUM(A1)" in cells
    assert "'@evil" in cells
    assert "'-2+3" in cells
    assert not any(c[:1] in "=+-@" for c in cells)


def test_a_few_queries_streamed_whatever_the_size(api, today, django_assert_max_num_queries):
    for i in range(20):
        history(account(f"a{i}"), days=30, end=today)
    # SQLite: one query. PostgreSQL: the per-date counts, two settings set and put back, one COPY
    # for the newest date and one for the rest (groups double from 100,000 rows).
    with django_assert_max_num_queries(7):
        rows = read(api.get("/api/download"))
    assert len(rows) == 1 + 600


def test_the_client_asking_for_csv_gets_csv_and_bad_parameters_get_json(api):
    assert api.get("/api/download", HTTP_ACCEPT="text/csv").status_code == 200
    assert read(api.get("/api/download?format=csv"))[0] == HEADER.split(",")
    response = api.get("/api/download?from=yesterday", HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "from"

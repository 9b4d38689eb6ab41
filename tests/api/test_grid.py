"""GET /api/grid: page and cursor forms, filters, ordering, limits."""

import datetime as dt

import pytest

from accounts.models import Platform
from snapshots.services import SnapshotRow, snapshot_upsert_many
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db


@pytest.fixture
def grid(today):
    """3 accounts x 3 days: x/bravo (Alpha, core), x/alpha (Beta), youtube/alpha (Alpha)."""
    made = {
        "bravo": account("bravo", organization="Alpha", is_core=True),
        "alpha": account("alpha", organization="Beta"),
        "yt": account("alpha", platform=Platform.YOUTUBE, organization="Alpha"),
    }
    history(made["bravo"], days=3, end=today, followers=300)
    history(made["alpha"], days=3, end=today, followers=100)
    history(made["yt"], days=3, end=today, followers=200)
    return made


def keys(body):
    return [(row[0], row[1], row[3]) for row in body["data"]]


def test_rows_newest_date_first_then_platform_then_handle(api, grid, today):
    response = api.get("/api/grid")
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"page": 1, "per_page": 50, "total": 9, "pages": 1, "total_estimated": False}
    assert body["data"][0] == ["x", "alpha", "Beta", today.isoformat(), 120, 13, 102, 10, 2, 1, False, None]
    expected = [
        (platform, handle, (today - dt.timedelta(days=d)).isoformat())
        for d in range(3)
        for platform, handle in [("x", "alpha"), ("x", "bravo"), ("youtube", "alpha")]
    ]
    assert keys(body) == expected


def test_pages(api, grid):
    first = api.get("/api/grid?per_page=4").json()
    assert first["pagination"] == {"page": 1, "per_page": 4, "total": 9, "pages": 3, "total_estimated": False}
    third = api.get("/api/grid/?per_page=4&page=3").json()
    assert len(third["data"]) == 1
    assert api.get("/api/grid?per_page=4&page=4").json()["data"] == []  # past the end: empty, not 404
    all_rows = api.get("/api/grid").json()["data"]
    pages = [api.get(f"/api/grid?per_page=4&page={p}").json()["data"] for p in (1, 2, 3)]
    assert [r for page in pages for r in page] == all_rows


def test_per_page_is_capped_at_1000(api, grid):
    assert api.get("/api/grid?per_page=5000").json()["pagination"]["per_page"] == 1000


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=1.5", "page"),
        ("per_page=-1", "per_page"),
        ("per_page=0", "per_page"),
        ("from=2026-02-30", "from"),
        ("to=01/02/2026", "to"),
        ("platform=friendster", "platform"),
        ("is_core=perhaps", "is_core"),
        ("ordering=password", "ordering"),
        ("cursor=%%%", "cursor"),
        ("cursor=&ordering=followers", "cursor"),
        ("cursor=&per_page=x", "per_page"),
        ("cursor=&page=2", "page"),
        ("page=", "page"),
        ("per_page=", "per_page"),
    ],
)
def test_bad_parameters_are_400_naming_them(api, grid, query, field):
    response = api.get(f"/api/grid?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("platform=youtube", {("youtube", "alpha")}),
        ("platform=X", {("x", "alpha"), ("x", "bravo")}),
        ("organization=alpha", {("x", "bravo"), ("youtube", "alpha")}),
        ("handle=RAV", {("x", "bravo")}),
        ("is_core=1", {("x", "bravo")}),
        ("is_core=false&platform=x", {("x", "alpha")}),
    ],
)
def test_filters(api, grid, query, expected):
    body = api.get(f"/api/grid?{query}").json()
    assert {(p, h) for p, h, _ in keys(body)} == expected
    assert body["pagination"]["total"] == 3 * len(expected)


def test_date_range(api, grid, today):
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    body = api.get(f"/api/grid?from={yesterday}&to={yesterday}").json()
    assert {d for _, _, d in keys(body)} == {yesterday}
    assert body["pagination"]["total"] == 3
    assert len(api.get(f"/api/grid?from={yesterday}").json()["data"]) == 6


@pytest.mark.parametrize(
    ("ordering", "column", "reverse"),
    [
        ("followers", 4, False),
        ("-followers", 4, True),
        ("handle", 1, False),
        ("-platform", 0, True),
        ("org_name", 2, False),
        ("-date", 3, True),
        ("posts", 6, False),
        ("engagement", 5, False),
        ("likes", 7, False),
        ("comments", 8, False),
        ("shares", 9, False),
    ],
)
def test_ordering_by_any_column(api, grid, ordering, column, reverse):
    data = api.get(f"/api/grid?ordering={ordering}").json()["data"]
    values = [row[column] for row in data]
    assert values == sorted(values, reverse=reverse)
    assert len(data) == 9


def test_ordering_puts_unknown_values_last_and_breaks_ties_by_the_default_order(api, today):
    a, b = account("a"), account("b")
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=today, followers=None, posts=1),
            SnapshotRow(account_id=b.pk, date=today, followers=5),
            SnapshotRow(account_id=a.pk, date=today - dt.timedelta(days=1), followers=5),
        ]
    )
    for ordering in ("followers", "-followers"):
        data = api.get(f"/api/grid?ordering={ordering}").json()["data"]
        assert [(r[1], r[4]) for r in data] == [("b", 5), ("a", 5), ("a", None)]


def test_cursor_pages_walk_every_row_once(api, grid):
    expected = api.get("/api/grid?platform=x,youtube").json()["data"]
    seen, cursor, pages = [], "", 0
    while True:
        body = api.get(f"/api/grid?cursor={cursor}&per_page=2&platform=x,youtube").json()
        assert set(body["pagination"]) == {"per_page", "next_cursor"}
        seen += body["data"]
        pages += 1
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 5


def test_cursor_page_cost_does_not_grow_with_depth(api, grid, django_assert_max_num_queries):
    costs, cursor = [], ""
    while cursor is not None:
        with django_assert_max_num_queries(3) as captured:
            body = api.get(f"/api/grid?cursor={cursor}&per_page=1").json()
        costs.append(len(captured))
        cursor = body["pagination"]["next_cursor"]
    assert len(costs) == 9
    # The same few queries at the end as at the start: a page reads from where the last one ended.
    assert costs[1:4] == costs[4:7]


def test_the_unfiltered_grid_reads_the_maintained_counts_each_time(api, grid, django_assert_num_queries):
    with django_assert_num_queries(2):  # the rows per date (the total), the page
        api.get("/api/grid?per_page=3")
    with django_assert_num_queries(2):  # never cached: the counts the triggers keep, then the rows
        assert api.get("/api/grid?per_page=3&page=3").json()["pagination"]["total"] == 9
    with django_assert_num_queries(3):  # a page spanning two dates: a query for each
        assert len(api.get("/api/grid?per_page=4&page=2").json()["data"]) == 4
    with django_assert_num_queries(0):
        assert api.get("/api/grid?per_page=3&page=3")["X-Cache"] == "HIT"
    with django_assert_num_queries(2):  # another order: the counts (the total), its rows
        api.get("/api/grid?per_page=2&ordering=followers")


def test_a_filtered_total_is_counted_once_per_data_generation(api, grid, django_assert_num_queries):
    with django_assert_num_queries(2):  # the rows per date (the total), the page
        api.get("/api/grid?per_page=2&platform=x")
    with django_assert_num_queries(1):  # another page: its rows only
        assert api.get("/api/grid?per_page=2&page=2&platform=x").json()["pagination"]["total"] == 6
    with django_assert_num_queries(1):  # another order: its rows only, the same counts
        api.get("/api/grid?per_page=2&platform=x&ordering=followers")
    with django_assert_num_queries(2):  # another filter: counted once
        api.get("/api/grid?per_page=1&platform=youtube")


def test_pages_across_dates_match_one_big_page(api, grid):
    whole = api.get("/api/grid?per_page=1000").json()["data"]
    for per_page in (1, 2, 4, 5, 8):
        pages = [
            api.get(f"/api/grid?per_page={per_page}&page={p}").json()["data"]
            for p in range(1, 9 // per_page + 2)
        ]
        assert [row for page in pages for row in page] == whole, per_page


def test_the_unfiltered_total_is_exact_right_after_a_write(api, grid, today):
    assert api.get("/api/grid").json()["pagination"]["total"] == 9
    snapshot_upsert_many(rows=[SnapshotRow(account_id=grid["alpha"].pk, date=today + dt.timedelta(days=1))])
    body = api.get("/api/grid?per_page=2").json()
    assert body["pagination"]["total"] == 10
    assert body["pagination"]["total_estimated"] is False
    assert keys(body)[0] == ("x", "alpha", (today + dt.timedelta(days=1)).isoformat())


# --- Named rows (?rows=objects) ------------------------------------------------------------------

ARRAY_COLUMNS = [
    "platform",
    "handle",
    "org_name",
    "date",
    "followers",
    "engagement",
    "posts",
    "likes",
    "comments",
    "shares",
    "anomaly",
    "anomaly_reason",
]


def test_the_positional_rows_name_their_columns(api, grid):
    body = api.get("/api/grid").json()
    assert body["rows"] == "arrays"
    assert body["columns"] == ARRAY_COLUMNS
    assert all(len(row) == len(ARRAY_COLUMNS) for row in body["data"])


@pytest.mark.parametrize("cursor", ["", "&cursor="])
def test_named_rows_hold_the_positional_values_and_the_engagement_rate(api, grid, today, cursor):
    arrays = api.get(f"/api/grid?per_page=4{cursor}").json()
    objects = api.get(f"/api/grid?per_page=4&rows=objects{cursor}").json()
    assert objects["rows"] == "objects"
    assert objects["columns"] == [*ARRAY_COLUMNS[:-2], "engagement_rate", "anomaly", "anomaly_reason"]
    assert objects["pagination"] == arrays["pagination"]
    assert len(objects["data"]) == 4
    for row, values in zip(objects["data"], arrays["data"], strict=True):
        assert list(row) == objects["columns"]
        assert {name: row[name] for name in ARRAY_COLUMNS} == dict(zip(ARRAY_COLUMNS, values, strict=True))
        assert row["engagement_rate"] == round(row["engagement"] / row["followers"], 8)
    assert objects["data"][0] == {
        "platform": "x",
        "handle": "alpha",
        "org_name": "Beta",
        "date": today.isoformat(),
        "followers": 120,
        "engagement": 13,
        "posts": 102,
        "likes": 10,
        "comments": 2,
        "shares": 1,
        "engagement_rate": 0.10833333,
        "anomaly": False,
        "anomaly_reason": None,
    }


def test_named_rows_follow_filters_order_and_pages(api, grid):
    query = "platform=x&ordering=-followers&per_page=2&page=2"
    arrays = api.get(f"/api/grid?{query}").json()["data"]
    objects = api.get(f"/api/grid?{query}&rows=objects").json()["data"]
    assert [(r["handle"], r["date"], r["followers"]) for r in objects] == [(r[1], r[3], r[4]) for r in arrays]


@pytest.mark.parametrize("value", ["", "object", "OBJECTS", "dicts"])
def test_an_unknown_row_form_is_a_400(api, grid, value):
    response = api.get(f"/api/grid?rows={value}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "rows"


def test_the_schema_describes_each_column_of_the_named_rows(tmp_path):
    import yaml
    from django.core.management import call_command

    path = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(path))
    schema = yaml.safe_load(path.read_text())
    row = schema["components"]["schemas"]["GridRow"]
    assert list(row["properties"]) == [*ARRAY_COLUMNS[:-2], "engagement_rate", "anomaly", "anomaly_reason"]
    assert row["properties"]["engagement_rate"]["type"] == "number"
    assert row["properties"]["date"]["format"] == "date"
    assert "divided by its followers" in row["properties"]["engagement_rate"]["description"]
    grid = schema["components"]["schemas"]["GridResponse"]["oneOf"]
    assert len(grid) == 4
    page = schema["components"]["schemas"]["GridPage"]["properties"]
    assert ", ".join(ARRAY_COLUMNS) in page["data"]["description"]
    parameters = {p["name"]: p for p in schema["paths"]["/api/grid/"]["get"]["parameters"]}
    assert parameters["rows"]["schema"]["enum"] == ["arrays", "objects"]

"""GET /api/download streamed group of dates by group of dates.

In the grid's default order, PostgreSQL writes the file with one COPY for the newest date, then
one per group of dates (the first of at most `snapshots.selectors.EXPORT_GROUP_ROWS` rows, each
next twice as large), all in one
REPEATABLE READ snapshot; any other order, and SQLite, keep one query. The file is the single
query's byte for byte however the dates are grouped, filtered or not, and a write committed during
the download changes nothing in it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from django.db import connection

from accounts.models import Platform
from snapshots import selectors
from snapshots.models import Snapshot
from snapshots.selectors import _export_groups, grid_date_counts, grid_queryset
from snapshots.services import SnapshotRow, snapshot_delete_many, snapshot_upsert_many
from socialmetrics.dates import local_today
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db

ONE_GROUP = 10**9


def body(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def write_data(today: dt.date) -> None:
    """Dates with 1 to 7 rows, gaps, several platforms, names a spreadsheet would run."""
    history(account("nasa", organization="NASA"), days=12, end=today, skip=(3,))
    history(account("=cmd", platform=Platform.YOUTUBE, organization="+SUM(A1)"), days=9, end=today)
    history(account("esa", organization=None), days=12, end=today, skip=(0, 7), followers=50)
    for i in range(4):
        platform = (Platform.INSTAGRAM, Platform.X)[i % 2]
        history(account(f"a{i}", platform=platform), days=5, end=today - dt.timedelta(days=2 + i))


@pytest.fixture
def today() -> dt.date:
    return local_today()


@pytest.fixture
def data(today):
    write_data(today)


def queries(today: dt.date) -> list[str]:
    week_ago = (today - dt.timedelta(days=7)).isoformat()
    return [
        "",
        "?platform=x",
        "?organization=NASA",
        "?handle=a",
        f"?from={week_ago}&to={(today - dt.timedelta(days=2)).isoformat()}",
        f"?to={week_ago}&is_core=false",
        "?ordering=followers",
        "?ordering=-date,handle",
    ]


@pytest.mark.parametrize("group_rows", [1, 3, 8, 20])
def test_the_grouped_file_is_the_single_querys_byte_for_byte(api, data, today, monkeypatch, group_rows):
    for query in queries(today):
        monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", ONE_GROUP)
        whole = body(api.get(f"/api/download{query}"))
        monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", group_rows)
        assert body(api.get(f"/api/download{query}")) == whole, query


def test_the_newest_date_then_consecutive_dates_in_groups_doubling_in_size(data, today, monkeypatch):
    monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", 2)
    groups = _export_groups(grid_queryset())
    dates = [list(group.values_list("date", flat=True)) for group in groups]
    assert set(dates[0]) == {today}
    assert len(groups) > 3
    # Each group after the newest date holds at most 2, 4, 8... rows, or a single date.
    assert all(
        len(group) > 0 and (len(group) <= 2 * 2**index or len(set(group)) == 1)
        for index, group in enumerate(dates[1:])
    )
    assert max(len(set(group)) for group in dates) > 1  # groups grew past a single date
    assert sum(map(len, dates)) == Snapshot.objects.count()
    assert all(older[0] < newer[-1] for newer, older in itertools.pairwise(dates))


def test_a_date_between_the_counted_ones_is_exported_once(data, monkeypatch):
    counts = grid_date_counts()
    monkeypatch.setattr(selectors, "grid_date_counts", lambda using: counts[:1] + counts[2:-1:2])
    monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", 3)
    groups = _export_groups(grid_queryset())
    assert len(groups) > 2
    rows = [row for group in groups for row in group.values_list("account__handle", "date")]
    assert rows == list(grid_queryset().values_list("account__handle", "date"))


def test_any_other_order_is_one_query(data, monkeypatch):
    monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", 1)
    ordered = grid_queryset().order_by("followers")
    assert _export_groups(ordered) == [ordered]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the writer commits on a connection of its own
def test_a_write_committed_during_the_download_changes_nothing_in_it(api, today, monkeypatch):
    write_data(today)
    monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", 3)
    monkeypatch.setattr(selectors, "_EXPORT_CHUNK_BYTES", 1)  # a piece per row: the test reads the first
    before = body(api.get("/api/download"))

    pieces = iter(api.get("/api/download").streaming_content)
    received = [next(pieces), next(pieces)]  # the header, then the newest group's first row
    assert received[1].startswith(b"x,nasa,NASA," + today.isoformat().encode())

    def write():  # in the groups still to come: a new row, a changed row, a deleted row
        try:
            history(account("late", platform=Platform.X), days=1, end=today - dt.timedelta(days=9))
            esa = Snapshot.objects.filter(account__handle="esa").values_list("account_id", flat=True)[0]
            snapshot_upsert_many(
                rows=[SnapshotRow(account_id=esa, date=today - dt.timedelta(days=10), followers=999_999)]
            )
            oldest = Snapshot.objects.filter(account__handle="nasa", date=today - dt.timedelta(days=11))
            assert snapshot_delete_many(snapshots=oldest) == 1
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    writer.join()
    received += list(pieces)

    assert b"".join(received) == before
    after = body(api.get("/api/download"))
    assert after != before  # the next download has the writes
    assert b"late" in after
    assert b"999999" in after


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the download's own transaction, outside any test one
def test_a_download_left_halfway_ends_its_query_and_its_transaction(api, today, monkeypatch):
    write_data(today)
    monkeypatch.setattr(selectors, "EXPORT_GROUP_ROWS", 3)
    monkeypatch.setattr(selectors, "_EXPORT_CHUNK_BYTES", 1)
    response = api.get("/api/download")
    pieces = iter(response.streaming_content)
    next(pieces), next(pieces)
    assert connection.in_atomic_block  # the download's snapshot is open

    response.close()  # the client went away

    assert not connection.in_atomic_block
    assert connection.get_autocommit()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state <> 'idle'"
        )
        assert cursor.fetchone()[0] == 0
    assert Snapshot.objects.count() == sum(n for _, n in grid_date_counts())

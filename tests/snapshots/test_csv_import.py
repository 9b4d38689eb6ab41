"""The snapshot CSV import: rows already seen to be plain take a fast path, and whichever path a row
takes, the result is the same as checking every row in full (values, counts, errors, order)."""

import datetime as dt
import io

import pytest

from snapshots import csv_import as module
from snapshots.csv_import import csv_import
from snapshots.models import Precision, Snapshot, Source
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 1)


def day(n: int) -> str:
    return (DAY + dt.timedelta(days=n)).isoformat()


def run(text: str):
    return csv_import(lines=io.StringIO(text, newline=""))


@pytest.fixture(params=[2, 10_000], ids=["batches-of-2", "one-batch"])
def batch_size(request, monkeypatch):
    monkeypatch.setattr(module, "BATCH_SIZE", request.param)
    return request.param


def test_plain_rows_and_rows_needing_the_full_check_give_the_same_values(batch_size):
    nasa = AccountFactory(handle="NASA")
    text = (
        "Platform,Handle,Date,Followers,Following,Posts,Likes,Comments,Shares,Views\n"
        f"x,nasa,{day(0)},100,1,2,3,4,5,6\n"  # full check: a new spelling and date
        f"x,nasa,{day(1)},101,1,2,3,4,5,6\n"  # a new date
        f"x,newone,{day(0)},9,,,,,,\n"  # an account the file creates
        f"x,newone,{day(1)},8,,,7,,,\n"  # fast: seen spelling and date; empty cells are unknown
        f"X,@NASA,{day(2)},1.5K,1,2,3,4,5,6\n"  # rounded
        f"x,newone,{day(2)}, 7 ,1,2,3,4,5,6\n"  # spaces around a number
        f'x,nasa,{day(3)},"1,234",1,2,3,4,5,6\n'  # thousands separator
        f"x,nasa,{day(3)},1234,1,2,3,4,5,6\n"  # the same day again, the same values
    )
    report = run(text)
    assert report.skipped == 0
    assert report.accounts_created == 1
    assert report.created + report.updated + report.unchanged == 7  # a day given twice counts once
    stored = {
        (s.account.handle, s.date.isoformat()): (s.followers, s.following, s.likes, s.views, s.precision)
        for s in Snapshot.objects.select_related("account")
    }
    assert stored == {
        ("NASA", day(0)): (100, 1, 3, 6, Precision.EXACT),
        ("NASA", day(1)): (101, 1, 3, 6, Precision.EXACT),
        ("newone", day(0)): (9, None, None, None, Precision.EXACT),
        ("newone", day(1)): (8, None, 7, None, Precision.EXACT),
        ("NASA", day(2)): (1500, 1, 3, 6, Precision.ROUNDED),
        ("newone", day(2)): (7, 1, 3, 6, Precision.EXACT),
        ("NASA", day(3)): (1234, 1, 3, 6, Precision.EXACT),
    }
    assert set(Snapshot.objects.values_list("source", flat=True)) == {Source.CSV}
    again = run(text)
    assert (again.created, again.updated, again.unchanged, again.accounts_created) == (0, 0, 7, 0)
    nasa.refresh_from_db()
    assert nasa.latest.date == DAY + dt.timedelta(days=3)


def test_the_last_row_of_a_day_wins_within_a_batch():
    AccountFactory(handle="esa")
    text = (
        "Platform,Handle,Date,Followers,Likes\n"
        f"x,esa,{day(0)},1,1\n"  # full check
        f"x,esa,{day(0)},2,\n"  # fast path, the same day
        f"x,ESA,{day(0)},3,\n"  # full check (a new spelling), the same day
    )
    report = run(text)
    assert (report.created, report.updated, report.unchanged) == (1, 0, 0)
    assert Snapshot.objects.values_list("followers", "likes").get() == (3, None)


def test_a_file_lacking_some_metric_columns(batch_size):
    AccountFactory(handle="esa")
    text = "Date,Likes,Handle,Followers,Platform\n" + "".join(
        f"{day(n)},{n},esa,{100 + n},x\n" for n in range(5)
    )
    assert run(text).created == 5
    assert list(Snapshot.objects.order_by("date").values_list("followers", "likes", "views")) == [
        (100 + n, n, None) for n in range(5)
    ]


def test_errors_keep_their_line_and_column_on_either_path(batch_size):
    AccountFactory(handle="esa")
    big = "9" * 19
    text = (
        "Platform,Handle,Date,Followers,Likes\n"  # line 1
        f"x,esa,{day(0)},1,1\n"
        f"x,esa,{day(0)},2,x1\n"  # line 3: seen spelling and date, a bad number
        f"x,esa,{day(0)},,\n"  # line 4: no numbers
        f"x,esa,{day(0)},{big},1\n"  # line 5: too large for the database
        f"x,esa,{day(0)},{'9' * 18},1\n"  # line 6: the largest plain number still taken
        f"x,esa,{day(0)},-3,1\n"  # line 7
        f"x,esa,{day(0)},4,1,extra\n"  # line 8: an extra cell is ignored, as before
        f"x,esa,{day(1)},5\n"  # line 9: a missing cell is empty
    )
    report = run(text)
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "Likes"),
        (4, None),
        (5, "Followers"),
        (7, "Followers"),
    ]
    assert "too large" in report.errors[2].message
    assert (report.created, report.skipped) == (2, 4)
    assert Snapshot.objects.get(date=DAY).followers == 4
    assert Snapshot.objects.get(date=DAY + dt.timedelta(days=1)).likes is None


def test_a_file_the_reader_cannot_decode_raises_and_writes_nothing():
    AccountFactory(handle="esa")

    def lines():
        yield "Platform,Handle,Date,Followers\n"
        for n in range(5):
            yield f"x,esa,{day(n)},{n}\n"
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")

    with pytest.raises(UnicodeDecodeError):
        csv_import(lines=lines())
    assert not Snapshot.objects.exists()


def test_a_file_mixing_stored_and_new_days_counts_each(batch_size):
    AccountFactory(handle="esa")
    header = "Platform,Handle,Date,Followers\n"
    assert run(header + "".join(f"x,esa,{day(n)},{100 + n}\n" for n in range(3))).created == 3
    report = run(header + f"x,esa,{day(1)},101\nx,esa,{day(2)},7\nx,esa,{day(3)},103\nx,esa,{day(4)},104\n")
    assert (report.created, report.updated, report.unchanged) == (2, 1, 1)
    assert list(Snapshot.objects.order_by("date").values_list("followers", flat=True)) == [
        100,
        101,
        7,
        103,
        104,
    ]


def test_rows_of_an_account_whose_creation_is_refused_are_reported(batch_size, monkeypatch):
    """Only a race could refuse an account the reader checked; its rows, in any batch, are reported
    by line and the rest are imported."""
    from accounts.services import AccountImportReport

    AccountFactory(handle="esa")
    monkeypatch.setattr(module, "accounts_import", lambda entries: AccountImportReport())
    text = (
        "Platform,Handle,Date,Followers\n"
        f"x,esa,{day(0)},1\n"
        f"x,ghost,{day(0)},2\n"  # line 3
        f"x,esa,{day(1)},3\n"
        f"x,ghost,{day(1)},4\n"  # line 5
    )
    report = run(text)
    assert [(e.line, e.column, e.message) for e in report.errors] == [
        (3, "Handle", "The account could not be created."),
        (5, "Handle", "The account could not be created."),
    ]
    assert (report.created, report.skipped, report.accounts_created) == (2, 2, 0)
    assert Snapshot.objects.count() == 2

"""The snapshot CSV import: rows already seen to be plain take a fast path, and whichever path a row
takes, the result is the same as checking every row in full (values, counts, errors, order). Then
the regressions the fuzzing of every import path found (tests/reliability/test_csv_fuzz.py), each
as a plain example."""

import datetime as dt
import io

import pytest
from django.db import connection

from accounts.models import Account
from snapshots import csv_import as module
from snapshots.csv_import import COUNT_BOUND, PEOPLE_BOUND, CsvFileError, csv_import, csv_text
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


def test_rows_the_fast_path_cannot_learn_read_as_the_others_with_handles_forgotten(batch_size, monkeypatch):
    """Rows with an extra cell always take the full check; the handles it remembers are forgotten
    after every one (as past `_HANDLES_REMEMBERED`), and accounts alternate: the same result."""
    monkeypatch.setattr(module, "_HANDLES_REMEMBERED", 1)
    AccountFactory(handle="NASA")
    text = "Platform,Handle,Date,Followers\n" + "".join(
        f"x,{handle},{day(n)},{100 + n},\n" for n in range(3) for handle in ("nasa", "esa", "@NASA", "esa")
    )
    report = run(text)
    assert (report.skipped, report.accounts_created, report.created) == (0, 1, 6)
    stored = {
        (s.account.handle, s.date.isoformat()): s.followers
        for s in Snapshot.objects.select_related("account")
    }
    assert stored == {(handle, day(n)): 100 + n for n in range(3) for handle in ("NASA", "esa")}
    again = run(text)  # (a day given twice in one batch counts once)
    assert (again.created, again.updated, again.accounts_created) == (0, 0, 0)
    assert again.unchanged == report.created + report.unchanged


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
    text = (
        "Platform,Handle,Date,Followers,Likes\n"  # line 1
        f"x,esa,{day(0)},1,1\n"
        f"x,esa,{day(0)},2,x1\n"  # line 3: seen spelling and date, a bad number
        f"x,esa,{day(0)},,\n"  # line 4: no numbers
        f"x,esa,{day(0)},{PEOPLE_BOUND + 1},1\n"  # line 5: more followers than people
        f"x,esa,{day(0)},{PEOPLE_BOUND},1\n"  # line 6: the largest count of followers taken
        f"x,esa,{day(0)},-3,1\n"  # line 7
        f"x,esa,{day(0)},4,{COUNT_BOUND + 1}\n"  # line 8: beyond any count
        f"x,esa,{day(0)},4,{'9' * 16}\n"  # line 9: as long as a count can be, too large
        f"x,esa,{day(0)},4,{COUNT_BOUND}\n"  # line 10: the largest count taken
        f"x,esa,{day(0)},4,1,extra\n"  # line 11: an extra cell is ignored, as before
        f"x,esa,{day(1)},5\n"  # line 12: a missing cell is empty
    )
    report = run(text)
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "Likes"),
        (4, None),
        (5, "Followers"),
        (7, "Followers"),
        (8, "Likes"),
        (9, "Likes"),
    ]
    assert "is too large; expected a whole number from 0 to 10,000,000,000 " in report.errors[2].message
    assert (
        "is too large; expected a whole number from 0 to 1,000,000,000,000,000 " in report.errors[4].message
    )
    assert (report.created, report.skipped) == (2, 6)
    assert Snapshot.objects.get(date=DAY).followers == 4
    assert Snapshot.objects.get(date=DAY + dt.timedelta(days=1)).likes is None


def test_a_file_the_reader_cannot_decode_raises_a_file_error_and_writes_nothing():
    AccountFactory(handle="esa")

    def lines():
        yield "Platform,Handle,Date,Followers\n"
        for n in range(5):
            yield f"x,esa,{day(n)},{n}\n"
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")

    with pytest.raises(CsvFileError, match=r"^Line 7 or a later one: the file is not UTF-8 text \(byte E9"):
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


# --- Regressions found by fuzzing -------------------------------------------------------------------

HEADER = "Platform,Handle,Date,Followers,Organization\n"


@pytest.mark.parametrize("fast", [False, True], ids=["full-check", "fast-path"])
def test_a_count_of_thousands_of_digits_is_a_line_error_not_a_crash(fast):
    """It was read with int(), which refuses more than 4,300 digits: a ValueError, an upload's 500."""
    first = f"x,esa,{day(0)},1,\n" if fast else ""
    report = run(HEADER + first + f"x,esa,{day(0)},{'9' * 5000},\n")
    assert report.skipped == 1
    assert report.errors[0].column == "Followers"
    assert "(5,000 characters) is too long to be a count" in report.errors[0].message
    assert len(report.errors[0].message) < 300


@pytest.mark.parametrize("handle", ["ÉRIC", "İnci", "ǅemal"])
def test_a_handle_with_a_capital_letter_outside_ascii_is_refused_with_the_spelling_to_use(handle):
    """The database matches handles by lower case its own way (SQLite folds A-Z only, PostgreSQL reads
    "İ" as "i"): such a handle's account was created but its rows reported as "could not be
    created", and the next import of the same file answered 500 (a unique violation)."""
    for _ in range(2):
        report = run(HEADER + f"x,{handle},{day(0)},5,\n")
        assert report.skipped == 1
        assert report.errors[0].column == "Handle"
        assert "write its letters outside A-Z in lower case" in report.errors[0].message
        assert repr(handle.lower()) in report.errors[0].message
    assert not Account.objects.exists()
    assert run(HEADER + f"x,café_ok,{day(0)},5,\n").created == 1  # lower-case letters outside ASCII are fine
    assert run(HEADER + f"x,CAFÉ_OK,{day(0)},5,\n").skipped == 1


@pytest.mark.parametrize(
    ("column", "cell", "fragment"),
    [
        ("Handle", "a" * 256, "is too long: at most 255 characters"),
        ("Handle", "a" * 600, "(600 characters) is too long to be a handle"),
        ("Organization", "O" * 201, "is too long: at most 200 characters"),
        ("Organization", "Space\x00Agency", "holds a NUL character"),
        ("Platform", "p" * 101, "(101 characters) is too long to name a platform"),
    ],
)
def test_text_the_database_cannot_store_is_a_line_error(column, cell, fragment):
    """On PostgreSQL these were a DataError (an upload's 500); SQLite stored them."""
    cells = {"Platform": "x", "Handle": "esa", "Organization": "Org"} | {column: cell}
    report = run(HEADER + f"{cells['Platform']},{cells['Handle']},{day(0)},5,{cells['Organization']}\n")
    assert [(e.line, e.column) for e in report.errors] == [(2, column)]
    assert fragment in report.errors[0].message
    assert not Account.objects.exists()
    assert not Snapshot.objects.exists()


def test_an_organization_that_cannot_be_stored_is_refused_on_the_fast_path_too():
    """The fast path, which never read the organization, let the same cell through that the full
    check refused: whether a line was refused depended on the lines before it."""
    text = (
        HEADER + f"x,esa,{day(0)},5,Org\n" + f"x,esa,{day(0)},6,{'O' * 201}\n" + f"x,esa,{day(0)},7,Org\x00\n"
    )
    report = run(text)
    assert [(e.line, e.column) for e in report.errors] == [(3, "Organization"), (4, "Organization")]
    assert Snapshot.objects.get().followers == 5


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("Platform,Handle,Organization,Name\nx,nasa,Org," + "n" * 256 + "\n", "Name", "at most 255"),
        ("Platform,Handle,Organization\nx,nasa," + "O" * 201 + "\n", "Organization", "at most 200"),
        ("Platform,Handle,Organization\nx," + "a" * 256 + ",Org\n", "Handle", "at most 255"),
        ("Platform,URL,Org\nx,https://x.com/ÉRIC,Org\n", "URL", "in lower case"),
        ("Platform,Handle,Org\nx,nasa,Org\x00\n", "Org", "NUL character"),
    ],
)
def test_an_account_list_refuses_what_the_database_cannot_store(text, column, fragment):
    report = run(text)
    assert report.kind == module.ACCOUNTS
    assert [(e.line, e.column) for e in report.errors] == [(2, column)]
    assert fragment in report.errors[0].message
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    "header",
    [
        "Platform,Handle,Date,Followers,Followers",
        "Platform,Handle,Date,Followers,likes, Likes ",
        "Platform,Handle,Organization,URL,url",
    ],
)
def test_a_header_naming_a_column_twice_is_refused(header):
    """Which of the two to import was the last one, silently."""
    with pytest.raises(CsvFileError, match="twice"):
        run(f"{header}\nx,esa,{day(0)},5,6,7\n")
    assert not Snapshot.objects.exists()
    assert not Account.objects.exists()


def test_a_header_of_neither_kind_is_named_in_a_short_message():
    """The message listed every column, however many and however long."""
    with pytest.raises(CsvFileError) as refused:
        run(",".join(["x" * 100_000, *(f"Column {n}" for n in range(10_000))]) + "\n")
    message = str(refused.value)
    assert len(message) < 1000
    assert message.endswith(f"found: {'x' * 30}..., Column 0, Column 1, " + message.split("Column 1, ")[1])
    assert "and 9,981 more." in message


def test_a_reason_quoting_a_cell_stays_on_one_line():
    report = run(HEADER + f'x,"bad\nhandle",{day(0)},5,\n' + 'x,esa,"2025\r\n01-01",5,\n')
    assert [(e.line, e.column) for e in report.errors] == [(2, "Handle"), (4, "Date")]
    assert all("\n" not in e.message and "\r" not in e.message for e in report.errors)
    assert "bad\\nhandle" in report.errors[0].message


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("-5", "is negative"),
        ("1.5", "is not a whole number"),
        ("1e309", "is in scientific notation"),
        ("NaN", "is not a finite number"),
        ("-inf", "is not a finite number"),
        ("\u0661\u0662\u0663", "is written with digits other than 0-9"),
        ("1.234.567", "has dots between its digits: write thousands as 1,234,567 or 1234567"),
        ("1.2345K", "has more decimals than its suffix allows"),
        ("0x1F", "is not a count"),
        ("11B", "is too large"),
    ],
)
def test_each_refused_count_names_its_mistake_and_the_accepted_forms(cell, reason):
    report = run(HEADER + f"x,esa,{day(0)},{cell},\n")
    assert report.errors[0].column == "Followers"
    assert report.errors[0].message == (
        f"{cell!r} {reason}; expected a whole number from 0 to 10,000,000,000 in digits 0-9, such as 1234, "
        "1,234 or 1 234, or rounded as 15.5K, 2.1M or 3B."
    )


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            "2025-02-30",
            "'2025-02-30' is not a day of the calendar (day is out of range for month); expected a date",
        ),
        ("31/12/2025", "'31/12/2025' is not a day of the calendar; expected a date as YYYY-MM-DD."),
        ("", "Date is empty; expected a day as YYYY-MM-DD."),
        ("0001-01-01", "0001-01-01 is before 2004-01-01, the earliest day a snapshot may have."),
        ("9999-12-31", "9999-12-31 is in the future"),
    ],
)
def test_each_refused_date_says_why(cell, message):
    report = run(HEADER + f"x,esa,{cell},5,\n")
    assert report.errors[0].column == "Date"
    assert report.errors[0].message.startswith(message)


def test_all_errors_can_be_listed():
    text = HEADER + "".join(f"x,esa,{day(0)},-{n},\n" for n in range(1500))
    assert len(run(text).errors) == 1000
    report = csv_import(lines=io.StringIO(text, newline=""), max_listed_errors=None)
    assert [e.line for e in report.errors] == list(range(2, 1502))
    assert report.skipped == 1500


# --- Bytes to text: csv_text ------------------------------------------------------------------------

THREE = "Platform,Handle,Date,Followers\n" + "".join(f"x,esa,{day(n)},{n}\n" for n in range(3))


@pytest.mark.parametrize(
    "data",
    [
        THREE.encode(),
        THREE.encode("utf-8-sig"),
        THREE.encode("utf-16"),
        b"\xfe\xff" + THREE.encode("utf-16-be"),
        THREE.replace("\n", "\r").encode(),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom", "lone-cr"],
)
def test_csv_text_reads_utf8_and_utf16_with_a_byte_order_mark(data):
    """UTF-16 was refused as "not UTF-8", though its byte order mark says what it is."""
    file = io.BytesIO(data)
    with csv_text(file=file) as text:
        report = csv_import(lines=text)
    assert (report.created, report.skipped) == (3, 0)
    assert not file.closed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            THREE.encode("utf-16-le"),
            "Line 1: the file holds a NUL character, which CSV text never holds: it is not a text file "
            "(it may be UTF-16 without a byte order mark); save it as CSV UTF-8. Nothing was imported.",
        ),
        (
            THREE.replace("esa", "ésa").encode("latin-1"),
            "Line 2: the file is not UTF-8 text (byte E9 cannot be read "
            "as UTF-8); save it as CSV UTF-8. Nothing was imported.",
        ),
        (
            THREE.replace("\n", "\r").replace("x,esa", "x,ésa", 2).encode("cp1252")[:-1] + b"\x80",
            "Line 2: the file is not UTF-8 text (byte E9",
        ),
        (b"\r\n" * 70_000 + "é".encode("latin-1"), "Line 70001: the file is not UTF-8 text"),  # past a chunk
        (THREE.encode() + b"\xe2\x82", "Line 5: the file is not UTF-8 text (bytes E2 82"),  # cut short
        (THREE.encode("utf-32"), "The file is UTF-32 text; save it as CSV UTF-8. Nothing was imported."),
        (b"\xff\xfeP\x00l", "Line 1: the file is not UTF-16 text (byte 6C cannot be read as UTF-16)"),
    ],
    ids=["utf-16-no-bom", "latin-1", "latin-1-lone-cr", "far-down", "truncated", "utf-32", "utf-16-odd"],
)
def test_csv_text_refuses_other_bytes_naming_the_line(data, message):
    with pytest.raises(CsvFileError) as refused, csv_text(file=io.BytesIO(data)):
        pytest.fail("the file was given out")
    assert str(refused.value).startswith(message)


def test_an_organization_with_a_capital_letter_outside_ascii_is_linked():
    name = "Österreichischer Rundfunk" if connection.vendor == "sqlite" else "İstanbul Belediyesi"
    assert run(HEADER + f"x,esa,{day(0)},5,{name}\n").created == 1
    assert Account.objects.get().organization.name == name

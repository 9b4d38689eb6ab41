"""POST /upload (multipart) and POST /api/upload-bulk (JSON): CSV imports of accounts and snapshots."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import Account, Platform
from snapshots.models import Precision, Snapshot, Source
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db


def upload(client, content: bytes | str, name: str = "data.csv"):
    if isinstance(content, str):
        content = content.encode()
    return client.post("/upload", {"file": SimpleUploadedFile(name, content, "text/csv")}, format="multipart")


def bulk(client, text: str):
    return client.post("/api/upload-bulk", {"csv_data": text}, format="json")


ACCOUNTS_CSV = """Platform,Handle,Organization,URL
X,NASA,Space Agency,
YouTube,,Space Agency,https://www.youtube.com/@NASA
Myspace,tom,Friends,
Bluesky,,Nobody,
"""


def test_an_account_list(staff_api):
    response = upload(staff_api, ACCOUNTS_CSV, name="accounts.CSV")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["kind"] == "accounts"
    assert (body["created"], body["updated"], body["unchanged"], body["skipped"]) == (2, 0, 0, 2)
    assert body["count"] == 2
    assert body["errors"] == [
        {"line": 4, "column": "Platform", "message": body["errors"][0]["message"]},
        {"line": 5, "column": "Handle", "message": "neither url nor handle is given"},
    ]
    assert "myspace" in body["errors"][0]["message"].lower()
    assert set(Account.objects.values_list("platform", "handle")) == {("x", "NASA"), ("youtube", "NASA")}
    again = upload(staff_api, ACCOUNTS_CSV).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)


def test_snapshot_history_with_rounded_numbers_creates_missing_accounts(staff_api, today):
    existing = account("nasa")
    day1, day2 = today - dt.timedelta(days=2), today - dt.timedelta(days=1)
    text = (
        "\ufeffplatform,HANDLE,Date,Followers,Following,Posts,Likes,Comments,Shares,Views,Organization\n"
        f'X,@NASA,{day1},"1,234",10,5,1,2,3,4,\n'
        f"x,nasa,{day2},15.5k,,,,,,,\n"
        f"YouTube,NewChannel,{day2},3M,,12 345,,,,,Space Agency\n"
    )
    response = upload(staff_api, text)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["kind"] == "snapshots"
    assert (body["created"], body["updated"], body["unchanged"], body["skipped"]) == (3, 0, 0, 0)
    assert body["accounts_created"] == 1
    first = Snapshot.objects.get(account=existing, date=day1)
    assert (first.followers, first.following, first.views, first.engagement) == (1234, 10, 4, 6)
    assert first.precision == Precision.EXACT
    assert first.source == Source.CSV
    rounded = Snapshot.objects.get(account=existing, date=day2)
    assert (rounded.followers, rounded.precision) == (15500, Precision.ROUNDED)
    channel = Account.objects.get(platform=Platform.YOUTUBE, handle="NewChannel")
    assert channel.organization.name == "Space Agency"
    assert Snapshot.objects.get(account=channel).posts == 12345


def test_wrong_rows_are_skipped_and_reported_with_line_and_column(staff_api, today):
    tomorrow = today + dt.timedelta(days=1)
    text = (
        "Platform,Handle,Date,Followers,Likes\n"  # line 1
        f"x,good,{today},100,1\n"
        f"friendster,bob,{today},1,1\n"
        f"x,,{today},1,1\n"
        f"x,bad,31/12/2025,1,1\n"  # line 5
        f"x,bad,{tomorrow},1,1\n"
        f"x,bad,{today},-5,1\n"
        f"x,bad,{today},1,lots\n"
        "\n"  # a blank line is not a row
        f"x,bad,{today},,\n"  # line 10
        f'x,"multi\nline",{today},1,1\n'  # lines 11-12
        f"x,good2,{today},2,2\n"
    )
    body = upload(staff_api, text).json()
    assert (body["created"], body["skipped"]) == (2, 8)
    assert [(e["line"], e["column"]) for e in body["errors"]] == [
        (3, "Platform"),
        (4, "Handle"),
        (5, "Date"),
        (6, "Date"),
        (7, "Followers"),
        (8, "Likes"),
        (10, None),
        (11, "Handle"),
    ]
    messages = [e["message"] for e in body["errors"]]
    assert "friendster" in messages[0]
    assert "YYYY-MM-DD" in messages[2]
    assert "future" in messages[3]
    assert "negative" in messages[4]
    assert Snapshot.objects.count() == 2


def test_the_same_file_twice_writes_nothing_the_second_time(staff_api, today):
    text = f"Platform,Handle,Date,Followers\nx,nasa,{today},10\nx,esa,{today},20\n"
    assert upload(staff_api, text).json()["created"] == 2
    stamps = list(Snapshot.objects.order_by("pk").values_list("pk", "collected_at"))
    body = upload(staff_api, text).json()
    assert (body["created"], body["updated"], body["unchanged"], body["accounts_created"]) == (0, 0, 2, 0)
    assert list(Snapshot.objects.order_by("pk").values_list("pk", "collected_at")) == stamps
    assert Account.objects.count() == 2


def test_the_grid_export_imports_back(staff_api, api, today):
    history(account("nasa", organization="NASA"), days=3, end=today)
    exported = b"".join(api.get("/api/download").streaming_content)
    body = upload(staff_api, exported).json()
    assert body["kind"] == "snapshots"
    # The download carries each row's source, precision and time: it imports back unchanged.
    assert (body["created"], body["updated"], body["unchanged"], body["skipped"]) == (0, 0, 3, 0)


@pytest.mark.parametrize(
    ("content", "name", "fragment"),
    [
        (b"Platform,Handle,Date,Followers\n", "data.txt", "not a .csv"),
        (
            b"Platform,Handle,Date,Followers\nx,caf\xe9,2026-01-01,1\n",
            "data.csv",
            "Line 2: the file is not UTF-8",
        ),
        ("Platform,Handle,Date,Followers\n".encode("utf-16-le"), "data.csv", "Line 1: the file holds a NUL"),
        (b"Name,Email\nbob,bob@example.org\n", "data.csv", "header"),
        (b"Platform,Handle,Date,Followers,followers\nx,a,2026-01-01,1,2\n", "data.csv", "'followers' twice"),
        (b"", "data.csv", "empty"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_whole(staff_api, content, name, fragment):
    response = upload(staff_api, content, name=name)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert Snapshot.objects.count() == 0
    assert Account.objects.count() == 0


def multipart_with_filename(filename: str) -> bytes:
    return (
        "--XyZ\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "Platform,Handle,Date,Followers\r\n\r\n"
        "--XyZ--\r\n"
    ).encode()


@pytest.mark.parametrize("filename", ["", "   "])
def test_no_file_or_a_file_without_a_name(staff_api, filename):
    response = staff_api.post("/upload", {}, format="multipart")
    assert response.status_code == 400
    assert "No file" in response.json()["error"]
    response = staff_api.generic(
        "POST", "/upload", multipart_with_filename(filename), content_type="multipart/form-data; boundary=XyZ"
    )
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_larger_than_the_limit_is_413(staff_api, settings):
    settings.SOCIALMETRICS_MAX_UPLOAD_MB = 1
    big = "Platform,Handle,Date,Followers\n" + "x,nasa,2026-01-01,1\n" * 60_000  # ~1.2 MB
    response = upload(staff_api, big)
    assert response.status_code == 413
    assert "1 MB" in response.json()["error"]
    assert bulk(staff_api, big).status_code == 413
    assert Snapshot.objects.count() == 0


def test_bulk_json(staff_api, today):
    response = bulk(staff_api, f"Platform,Handle,Date,Followers\nx,nasa,{today},1.2K\n")
    assert response.status_code == 200
    assert response.json()["created"] == 1
    assert Snapshot.objects.get().precision == Precision.ROUNDED
    assert bulk(staff_api, ACCOUNTS_CSV).json()["kind"] == "accounts"


@pytest.mark.parametrize(
    "payload",
    [{}, {"csv_data": 5}, {"csv_data": ""}, {"csv_data": "Foo,Bar\n1,2\n"}, ["csv_data"]],
)
def test_bulk_json_refusals(staff_api, payload):
    response = staff_api.post("/api/upload-bulk/", payload, format="json")
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_bulk_malformed_json(staff_api):
    response = staff_api.post("/api/upload-bulk", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)


def test_staff_only(api, user_api, staff, staff_token_api, today):
    text = f"Platform,Handle,Date,Followers\nx,nasa,{today},1\n"
    assert upload(api, text).status_code == 401
    assert upload(user_api, text).status_code == 403
    assert bulk(user_api, text).status_code == 403
    assert Snapshot.objects.count() == 0
    assert upload(staff_token_api, text).status_code == 200  # a token needs no CSRF


def test_a_session_upload_needs_the_csrf_token(staff, today):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    text = f"Platform,Handle,Date,Followers\nx,nasa,{today},1\n"
    response = upload(client, text)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    client.get("/api/summary?format=api")  # the browsable API sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/upload",
        {"file": SimpleUploadedFile("d.csv", text.encode())},
        format="multipart",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 200


def test_other_methods_are_405_json(staff_api):
    response = staff_api.put("/upload", {}, format="multipart")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert staff_api.get("/api/upload-bulk").status_code == 405


def test_a_utf16_file_with_a_byte_order_mark_is_imported(staff_api, today):
    """Spreadsheets save "Unicode" CSV as UTF-16; it was refused as not UTF-8."""
    text = f"Platform,Handle,Date,Followers,Organization\r\nx,nasa,{today},10,Café du Monde\r\n"
    body = upload(staff_api, text.encode("utf-16")).json()
    assert (body["created"], body["skipped"]) == (1, 0)
    assert Account.objects.get().organization.name == "Café du Monde"


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("x,nasa,{today},{nines},", "Followers"),  # int() refused the 5,000 digits: a 500
        ("x,{long},{today},1,", "Handle"),  # PostgreSQL: value too long, a 500
        ("x,nasa,{today},1,{long}", "Organization"),  # the same
        ("x,\u0130nci,{today},1,", "Handle"),  # the second import: a unique violation, a 500
    ],
)
def test_rows_that_answered_500_are_reported_on_their_line(staff_api, staff_token_api, today, row, column):
    text = "Platform,Handle,Date,Followers,Organization\n" + row.format(
        today=today, nines="9" * 5000, long="a" * 300
    )
    for client in (staff_api, staff_token_api, staff_api):
        response = bulk(client, text) if client is staff_token_api else upload(client, text)
        assert response.status_code == 200, response.content[:500]
        assert [(e["line"], e["column"]) for e in response.json()["errors"]] == [(2, column)]
    assert not Snapshot.objects.exists()
    assert not Account.objects.exists()


def test_a_nul_character_refuses_a_file_and_a_line_of_json_text(staff_api, staff_token_api, today):
    """PostgreSQL text cannot hold NUL: an organization with one answered 500. A file holding one is
    not text (UTF-16 read as UTF-8, most likely); JSON text can carry one in a single cell."""
    text = f"Platform,Handle,Date,Followers,Organization\nx,nasa,{today},1,Space\u0000Agency\n"
    response = upload(staff_api, text)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Line 2: the file holds a NUL character")
    body = bulk(staff_token_api, text).json()
    assert [(e["line"], e["column"]) for e in body["errors"]] == [(2, "Organization")]
    assert "NUL character" in body["errors"][0]["message"]
    assert not Snapshot.objects.exists()
    assert not Account.objects.exists()

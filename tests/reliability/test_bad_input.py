"""Bad input gets a clear 4xx and loses nothing: one test per input users found answering 500 (or
accepted when it should not be)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from snapshots.csv_import import CsvFileError, csv_import
from snapshots.models import Snapshot
from snapshots.services import EARLIEST_DAY, SnapshotDateOutOfRange, snapshot_date_check, snapshot_save
from socialmetrics.dates import local_today
from tests.api.conftest import account

pytestmark = pytest.mark.django_db

HEADER = "Platform,Handle,Date,Followers\n"


@pytest.fixture
def anonymous():
    return Client(raise_request_exception=False)


@pytest.fixture
def staff_client(django_user_model):
    client = Client(raise_request_exception=False)
    client.force_login(django_user_model.objects.create_user("ed", "ed@example.org", "pw", is_staff=True))
    return client


def _bulk(client, csv_data: str):
    return client.post(
        "/api/upload-bulk", json.dumps({"csv_data": csv_data}), content_type="application/json"
    )


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/grid?platform=%25", "platform"),
        ("/api/grid?is_core=%25", "is_core"),
        ("/api/grid?ordering=%25d", "ordering"),
        ("/api/grid?from=%25s", "from"),
        ("/api/grid?to=100%25", "to"),
        ("/api/download?platform=%25", "platform"),
        ("/api/summary?platform=%25", "platform"),
        ("/api/summary/totals?is_core=%25", "is_core"),
        ("/api/accounts?platform=%25(x)s", "platform"),
        ("/api/accounts?is_active=%25", "is_active"),
    ],
)
def test_percent_in_a_filter_value_is_a_400_naming_it(anonymous, url, field):
    response = anonymous.get(url)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["field"] == field
    assert "%" in error["message"]  # quoted as the client wrote it


@pytest.mark.parametrize("value", ["99999999999999999999", "9" * 5000, "1000000001", "\uff11"])
def test_page_out_of_bounds_is_a_400(anonymous, value):
    account("alpha")
    response = anonymous.get("/api/accounts", {"page": value})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == "page"


def test_huge_per_page_is_capped(anonymous):
    account("alpha")
    response = anonymous.get("/api/accounts", {"per_page": "9" * 5000})
    assert response.status_code == 200
    assert response.json()["pagination"]["per_page"] == 500


def test_cell_over_the_csv_field_limit_is_a_400_with_nothing_written(staff_client, today):
    good = f"x,alpha,{today.isoformat()},5\n"
    huge = f"x,{'b' * 200_000},{today.isoformat()},5\n"
    response = _bulk(staff_client, HEADER + good + huge)
    assert response.status_code == 400, response.content
    assert "Line 3" in response.json()["error"]
    assert not Snapshot.objects.exists()

    upload = SimpleUploadedFile("big.csv", (HEADER + good + huge).encode(), content_type="text/csv")
    response = staff_client.post("/upload", {"file": upload})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "Line 3" in response.json()["error"]
    assert not Snapshot.objects.exists()


def test_ten_megabyte_line_is_a_clean_answer(staff_client, today):
    line = f"x,alpha,{today.isoformat()},5" + ",1" * 5_000_000 + "\n"
    response = _bulk(staff_client, HEADER + line)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        assert response.json()["created"] == 1
    one_cell = f'x,alpha,{today.isoformat()},"{"9" * 10_000_000}"\n'
    response = _bulk(staff_client, HEADER + one_cell)
    assert response.status_code == 400
    assert "Line 2" in response.json()["error"]


def test_csv_field_limit_in_the_import_service_raises_a_file_error(today):
    with pytest.raises(CsvFileError, match="Line 2"):
        csv_import(lines=[HEADER, f"x,{'b' * 200_000},{today.isoformat()},5\n"])
    assert not Snapshot.objects.exists()


def test_lone_surrogate_is_refused_before_anything_is_written(staff_client, today):
    body = (
        '{"csv_data": "Platform,Handle,Date,Followers\\n'
        f"x,good,{today.isoformat()},5\\n"
        f'x,a\\ud800,{today.isoformat()},5\\n"}}'
    )
    response = staff_client.post("/api/upload-bulk", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "surrogate" in response.json()["error"]
    assert not Snapshot.objects.exists()


@pytest.mark.parametrize(
    ("day", "reason"),
    [("0001-01-01", "before 2004-01-01"), ("2003-12-31", "before 2004-01-01"), ("future", "in the future")],
)
def test_dates_outside_the_window_are_refused_with_a_reason(staff_client, today, day, reason):
    if day == "future":
        day = (today + dt.timedelta(days=1)).isoformat()
    response = _bulk(staff_client, HEADER + f"x,alpha,{day},5\nx,beta,{today.isoformat()},7\n")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["created"] == 1
    assert body["skipped"] == 1
    assert body["errors"][0]["line"] == 2
    assert body["errors"][0]["column"] == "Date"
    assert reason in body["errors"][0]["message"]

    upload = SimpleUploadedFile("old.csv", (HEADER + f"x,gamma,{day},5\n").encode(), content_type="text/csv")
    response = staff_client.post("/upload", {"file": upload})
    assert response.status_code == 200
    assert response.json()["skipped"] == 1
    assert not Snapshot.objects.filter(account__handle="gamma").exists()


def test_the_window_bounds_are_inclusive(today):
    snapshot_date_check(day=EARLIEST_DAY)
    snapshot_date_check(day=local_today())
    with pytest.raises(SnapshotDateOutOfRange):
        snapshot_date_check(day=EARLIEST_DAY - dt.timedelta(days=1))


def test_snapshot_save_refuses_a_day_outside_the_window():
    acc = account("alpha")
    with pytest.raises(SnapshotDateOutOfRange, match="before 2004-01-01"):
        snapshot_save(snapshot=Snapshot(account=acc, date=dt.date(1, 1, 1), followers=5))
    assert not Snapshot.objects.exists()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_to_an_unknown_api_path_get_the_json_404(method):
    client = Client(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/no-such-thing", "{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture
def schema(anonymous):
    return anonymous.get("/api/schema", {"format": "json"}).json()


def test_schema_agrees_with_the_api(schema):
    accounts_list = schema["paths"]["/api/accounts/"]["get"]
    ok = accounts_list["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AccountPage"}
    page = next(p for p in accounts_list["parameters"] if p["name"] == "page")
    assert page["schema"]["minimum"] == 1
    per_page = next(p for p in accounts_list["parameters"] if p["name"] == "per_page")
    assert per_page["schema"]["minimum"] == 1

    assert set(schema["paths"]["/api/performance/"]["delete"]["responses"]) >= {"200"}
    assert "204" not in schema["paths"]["/api/performance/"]["delete"]["responses"]
    assert "404" in schema["paths"]["/api/job-status/{job_id}/"]["get"]["responses"]


def test_job_status_of_a_non_number_is_the_documented_json_404(anonymous):
    response = anonymous.get("/api/job-status/abc")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.fixture
def today():
    return local_today()

"""Upload previews: ``dry_run=true`` on ``POST /upload`` and ``POST /api/upload-bulk`` (and
``import_snapshots --dry-run``, which runs the same code) report what the import would do, listing
the new accounts with the existing ones a person may have meant, and write nothing; every report
carries the refused lines as a CSV file."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from accounts.models import Account, Organization, Platform
from snapshots.models import Snapshot
from tests.api.conftest import account, history

pytestmark = pytest.mark.django_db


def upload(client, text: str, *, query: str = "", **fields):
    file = SimpleUploadedFile("data.csv", text.encode(), content_type="text/csv")
    return client.post(f"/upload{query}", {"file": file, **fields}, format="multipart")


def bulk(client, text: str, *, query: str = "", **fields):
    return client.post(f"/api/upload-bulk{query}", {"csv_data": text, **fields}, format="json")


def stored() -> tuple:
    return (
        sorted(
            Snapshot.objects.values_list("account__handle", "date", "followers", "source", "collected_at")
        ),
        sorted(Account.objects.values_list("platform", "handle", "organization__name")),
        Organization.objects.count(),
    )


def mixed_file(today: dt.date) -> str:
    """Rows that would update, leave unchanged, create (for an existing and a new account) and be refused."""
    yesterday = today - dt.timedelta(days=1)
    return (
        "Platform,Handle,Date,Followers,Organization\n"
        f"x,citynews,{today},999,\n"  # 2: an update (the stored day has other numbers)
        f"x,citynews,{yesterday},1000,\n"  # 3: unchanged? no: source becomes csv -> updated
        f"x,citynews,{today - dt.timedelta(days=40)},5,\n"  # 4: a new day of an existing account
        f"Twitter,citinews,{today},12,City News\n"  # 5: new account, one letter off
        f"X,city_news,{today},13,\n"  # 6: new account, separators only
        f"Instagram,CityNews,{today},14,\n"  # 7: new account, the handle exists on X
        f"x,brandnewthing,{today},15,\n"  # 8: new account, like nothing stored
        f"x,citynews,not-a-day,1,\n"  # 9: refused
        f"=cmd,evil,{today},1,\n"  # 10: refused, a line a spreadsheet would run
    )


@pytest.mark.parametrize("send", [upload, bulk], ids=["upload", "upload-bulk"])
def test_a_dry_run_reports_exactly_what_the_import_does_and_writes_nothing(staff_api, today, send):
    history(account("citynews", organization=None), days=3, end=today)
    history(account("other", platform=Platform.YOUTUBE), days=2, end=today)
    before = stored()

    preview = send(staff_api, mixed_file(today), dry_run=True)
    assert preview.status_code == 200, preview.content
    preview = preview.json()
    assert stored() == before  # nothing written: no snapshot, account or organization
    assert preview["dry_run"] is True
    assert preview["message"].endswith("Dry run: nothing was written.")

    real = send(staff_api, mixed_file(today)).json()
    assert real["dry_run"] is False
    assert stored() != before
    for key in ("created", "updated", "unchanged", "skipped", "accounts_created", "new_account_count"):
        assert preview[key] == real[key], key
    assert (real["created"], real["updated"], real["skipped"], real["accounts_created"]) == (5, 2, 2, 4)
    assert preview["errors"] == real["errors"]
    assert preview["new_accounts"] == real["new_accounts"]
    assert preview["refused_csv"] == real["refused_csv"]


def test_new_accounts_are_listed_apart_with_did_you_mean(staff_api, today):
    history(account("citynews", organization=None), days=3, end=today)
    body = bulk(staff_api, mixed_file(today), dry_run=True).json()
    assert body["new_account_count"] == 4
    listed = {(a["platform"], a["handle"]): a for a in body["new_accounts"]}
    assert list(listed) == [
        ("x", "citinews"),
        ("x", "city_news"),
        ("instagram", "CityNews"),
        ("x", "brandnewthing"),
    ]
    assert listed[("x", "citinews")]["line"] == 5
    assert listed[("x", "citinews")]["organization"] == "City News"
    meant = [{"platform": "x", "handle": "citynews"}]
    assert listed[("x", "citinews")]["suggestions"] == meant  # one letter off
    assert listed[("x", "city_news")]["suggestions"] == meant  # separators only
    assert listed[("instagram", "CityNews")]["suggestions"] == meant  # another platform
    assert listed[("x", "brandnewthing")]["suggestions"] == []
    # A new account is never suggested for another new one of the same file.
    assert {"platform": "x", "handle": "citinews"} not in listed[("x", "city_news")]["suggestions"]


def test_the_refused_lines_come_as_a_csv_report(staff_api, today):
    body = upload(staff_api, mixed_file(today), query="?dry_run=true").json()
    assert body["dry_run"] is True
    report = list(csv.reader(io.StringIO(body["refused_csv"])))
    assert report[0] == ["Line", "Column", "Reason", "Original line"]
    assert [row[:2] for row in report[1:]] == [["9", "Date"], ["10", "Platform"]]
    assert "YYYY-MM-DD" in report[1][2]
    assert report[1][3] == "x,citynews,not-a-day,1,"
    assert report[2][3] == f"'=cmd,evil,{today},1,"  # a spreadsheet shows it, never runs it
    clean = bulk(staff_api, f"Platform,Handle,Date,Followers\nx,fine,{today},1\n", dry_run=True).json()
    assert clean["refused_csv"] is None


def test_an_account_list_preview_lists_its_new_accounts(staff_api):
    account("citynews", organization=None)
    text = "Platform,Handle,Organization\nX,citynews,City\nX,citinews,City\nBluesky,,Nobody\n"
    before = stored()
    body = bulk(staff_api, text, dry_run="true").json()
    assert stored() == before
    assert (body["kind"], body["created"], body["updated"], body["skipped"]) == ("accounts", 1, 1, 1)
    assert [(a["handle"], a["line"], a["suggestions"]) for a in body["new_accounts"]] == [
        ("citinews", 3, [{"platform": "x", "handle": "citynews"}])
    ]
    assert body["refused_csv"].splitlines()[1].startswith("4,Handle,")


@pytest.mark.parametrize(
    ("send", "query", "fields"),
    [
        (upload, "?dry_run=maybe", {}),
        (upload, "", {"dry_run": "2"}),
        (bulk, "?dry_run=yes%20please", {}),
        (bulk, "", {"dry_run": 1}),
        (bulk, "", {"dry_run": ["true"]}),
    ],
)
def test_a_dry_run_flag_that_is_not_true_or_false_is_a_400(staff_api, today, send, query, fields):
    response = send(staff_api, f"Platform,Handle,Date,Followers\nx,a,{today},1\n", query=query, **fields)
    assert response.status_code == 400
    assert "dry_run" in response.json()["error"]
    assert not Snapshot.objects.exists()


def test_dry_run_false_imports(staff_api, today):
    body = bulk(staff_api, f"Platform,Handle,Date,Followers\nx,a,{today},1\n", dry_run=False).json()
    assert (body["dry_run"], body["created"]) == (False, 1)
    assert Snapshot.objects.count() == 1


def test_a_preview_is_staff_only(api, user_api, today):
    text = f"Platform,Handle,Date,Followers\nx,a,{today},1\n"
    assert upload(api, text, dry_run=True).status_code == 401
    assert bulk(user_api, text, dry_run=True).status_code == 403


def test_the_command_dry_run_is_the_same_preview(tmp_path, today):
    account("citynews", organization=None)
    file = tmp_path / "history.csv"
    file.write_text(f"Platform,Handle,Date,Followers\nTwitter,citinews,{today},1\n")
    out = io.StringIO()
    call_command("import_snapshots", str(file), "--dry-run", stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{file}, line 2: new account x/citinews; did you mean x/citynews?"
    assert lines[1].endswith("1 new account(s) created for the snapshots. Dry run: nothing was written.")
    assert not Account.objects.filter(handle="citinews").exists()


def test_the_schema_documents_dry_run_and_the_preview(staff_api):
    schema = yaml.safe_load(staff_api.get("/api/schema").content)
    for path in ("/upload/", "/api/upload-bulk/"):
        operation = schema["paths"][path]["post"]
        assert any(p["name"] == "dry_run" and p["in"] == "query" for p in operation["parameters"]), path
    components = schema["components"]["schemas"]
    assert "dry_run" in components["BulkUploadRequest"]["properties"]
    assert "dry_run" in components["FileUploadRequest"]["properties"]
    result = components["UploadResult"]["properties"]
    assert {"dry_run", "new_accounts", "new_account_count", "refused_csv"} <= result.keys()

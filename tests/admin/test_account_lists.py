"""Accounts exported from the admin (CSV, JSON) in the files `import_accounts` reads, and imported on
the admin's "Import accounts" page through the same service as the command."""

from __future__ import annotations

import csv
import io
import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from accounts.account_lists import account_list_csv
from accounts.models import Account, Organization, Platform
from tests.admin.conftest import page_text
from tests.factories import AccountFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:accounts_account_changelist"
IMPORT = "admin:accounts_account_import"


@pytest.fixture
def curated():
    nasa = OrganizationFactory(name="NASA")
    return [
        AccountFactory(
            platform=Platform.X, handle="NASA", profile_url="https://x.com/NASA", organization=nasa
        ),
        AccountFactory(
            platform=Platform.MASTODON,
            handle="ScienceDesk@mastodon.social",
            instance_host="mastodon.social",
            profile_url="https://mastodon.social/@ScienceDesk",
            organization=OrganizationFactory(name="Science Desk"),
            display_name="Science Desk, «Mastodon»",
        ),
        AccountFactory(
            platform=Platform.BLUESKY,
            handle="nasa.gov",
            profile_url="https://bsky.app/profile/nasa.gov",
            organization=nasa,
            display_name="NASA on Bluesky",
        ),
        AccountFactory(
            platform=Platform.YOUTUBE,
            handle="NASA",
            profile_url="https://www.youtube.com/@NASA",
            organization=None,
            display_name="",
        ),
    ]


def snapshot_of_accounts() -> set[tuple]:
    return set(
        Account.objects.values_list("platform", "handle", "organization__name", "profile_url", "display_name")
    )


def export(client, action: str, accounts) -> bytes:
    response = client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [a.pk for a in accounts]}
    )
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Disposition"].startswith('attachment; filename="accounts-')
    return response.content


def upload(client, name: str, content: bytes, **fields):
    return client.post(reverse(IMPORT), {"file": SimpleUploadedFile(name, content), **fields})


def test_the_json_export_is_what_import_accounts_reads(staff_client, curated):
    exported = json.loads(export(staff_client, "export_json", curated[:2]))
    assert exported == [
        {
            "platform": "mastodon",
            "handle": "ScienceDesk@mastodon.social",
            "url": "https://mastodon.social/@ScienceDesk",
            "organization": "Science Desk",
            "display_name": "Science Desk, «Mastodon»",
        },
        {
            "platform": "x",
            "handle": "NASA",
            "url": "https://x.com/NASA",
            "organization": "NASA",
            "display_name": curated[0].display_name,
        },
    ]


@pytest.mark.parametrize(
    ("action", "name"), [("export_json", "accounts.json"), ("export_csv", "accounts.csv")]
)
def test_export_then_import_into_an_empty_install_gives_the_same_accounts(
    staff_client, curated, action, name, tmp_path
):
    before = snapshot_of_accounts()
    content = export(staff_client, action, Account.objects.all())
    Account.objects.all().delete()
    Organization.objects.all().delete()

    response = upload(staff_client, name, content)
    assert response.status_code == 200
    report = response.context["report"]
    assert report.rejected == []
    assert (report.created, report.updated) == (4, 0)
    assert snapshot_of_accounts() == before

    # the same file read by the command changes nothing: it is the format import_accounts reads
    path = tmp_path / name
    path.write_bytes(content)
    out = StringIO()
    call_command("import_accounts", str(path), stdout=out, stderr=StringIO())
    assert "0 created, 0 updated, 4 unchanged, 0 rejected" in out.getvalue()


def test_the_csv_export_has_the_import_header_and_neutralises_formulas(curated):
    curated[0].display_name = '=HYPERLINK("http://evil")'
    curated[0].save()
    rows = list(csv.reader(io.StringIO(account_list_csv(accounts=Account.objects.all()))))
    assert rows[0] == ["Platform", "Handle", "Organization", "URL", "Display_Name"]
    x = next(row for row in rows if row[0] == "x")
    assert x == ["x", "NASA", "NASA", "https://x.com/NASA", '\'=HYPERLINK("http://evil")']


def test_the_import_page_lists_rejected_entries_and_imports_the_others(staff_client):
    content = (
        b"Platform,Handle,Organization\n"
        b"X,nasa,NASA\n"
        b"Myspace,tom,Friends\n"  # entry 2: no such platform
        b"Bluesky,esa.int,ESA\n"
    )
    response = upload(staff_client, "list.csv", content)
    text = page_text(response)
    assert "2 created, 0 updated, 0 unchanged, 1 rejected of 3 entries in list.csv." in text
    assert "Rejected entries" in text
    assert "Myspace" in text
    assert set(Account.objects.values_list("handle", flat=True)) == {"nasa", "esa.int"}


def test_a_dry_run_writes_nothing_and_says_so(staff_client):
    response = upload(
        staff_client, "list.json", b'[{"platform": "x", "url": "https://x.com/nasa"}]', dry_run="on"
    )
    text = page_text(response)
    assert "Dry run: what the import would do" in text
    assert "1 created" in text
    assert "dry run: nothing was written" in text
    assert not Account.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.json", b"{not json", "Not valid JSON"),
        ("list.csv", b"Name,Followers\nnasa,1\n", "Platform, Handle, Organization"),
        ("list.csv", b"Platform,Handle,Organization\nx,\xff\xfe,NASA\n", "is not UTF-8"),
    ],
)
def test_an_unreadable_file_is_refused_with_the_reason_and_writes_nothing(
    staff_client, name, content, message
):
    response = upload(staff_client, name, content)
    assert response.status_code == 200
    assert message in page_text(response)
    assert response.context["report"] is None
    assert not Account.objects.exists()


def test_the_changelist_links_to_the_import_page(staff_client):
    response = staff_client.get(reverse(CHANGELIST))
    assert reverse(IMPORT) in response.content.decode()
    assert staff_client.get(reverse(IMPORT)).status_code == 200


def test_only_staff_who_may_add_and_change_accounts_import(client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(viewer)
    assert client.get(reverse(IMPORT)).status_code == 403
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert reverse(IMPORT) not in response.content.decode()
    # a viewer may export
    AccountFactory(handle="seen")
    exported = client.post(
        reverse(CHANGELIST), {"action": "export_json", "_selected_action": [Account.objects.get().pk]}
    )
    assert json.loads(exported.content)[0]["handle"] == "seen"
    # but not mark accounts core
    client.post(reverse(CHANGELIST), {"action": "mark_core", "_selected_action": [Account.objects.get().pk]})
    assert not Account.objects.get().is_core

"""Download, then upload into an empty install: every row comes back value for value.

`/api/download` writes every value stored per day (the counts, following and views included, the
source, the precision and when it was collected), and the upload (`POST /upload` and `POST
/api/upload-bulk`) reads exactly that back. The data is varied on purpose: unknown values, rounded
counts, every source, counts at their bounds, non-ASCII handles, handles with slashes and @,
organizations a spreadsheet would run as formulas, several platforms, a flagged day. Runs on SQLite
in the embedded pass and on PostgreSQL (the download then comes from COPY) in the services pass.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Account, Organization
from accounts.services import accounts_import
from snapshots.csv_import import COUNT_BOUND, PEOPLE_BOUND
from snapshots.models import METRIC_FIELDS, AccountLatest, Precision, Snapshot, Source
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.dates import local_today

pytestmark = pytest.mark.django_db

ACCOUNTS = [
    ("x", "healthdept", "Department of Health"),
    ("x", "東京都庁", "東京都"),
    ("instagram", "münchen.stadt", "Landeshauptstadt München"),
    ("youtube", "UCabcdefghijklmnopqrstuv", ""),
    ("mastodon", "news@mastodon.social", "=SUM(1+1)"),
    ("reddit", "u/spez", "-2+3 Collective"),
    ("bluesky", "nasa.bsky.social", "'=already quoted"),
    ("linkedin", "showcase/nurse-corps", '@Nurses, "Corps"'),
    ("facebook", "100044561550831", "Ørsted Fonden"),
]
DAYS = 45


def generate(today: dt.date) -> int:
    """The varied history (see the module docstring), written through the services; returns the
    number of snapshots."""
    rng = random.Random(14)
    accounts_import(entries=[{"platform": p, "handle": h, "organization": o} for p, h, o in ACCOUNTS])
    ids = {(a.platform, a.handle): a.pk for a in Account.objects.all()}
    rows = []
    for n, (platform, handle, _) in enumerate(ACCOUNTS):
        followers = [1_000, 9_999_000_000, 250_000, 42, 77_777, 5, 123_456_789, 3_000, 0][n]
        for offset in range(DAYS):
            if rng.random() < 0.1:
                continue  # a missing day
            day = today - dt.timedelta(days=DAYS - 1 - offset)
            followers += rng.randint(0, 40)
            flagged = n == 0 and offset == 30
            if flagged:
                followers //= 4  # a fall of three quarters overnight: an anomaly
            values = {
                "followers": None if rng.random() < 0.1 and not flagged else min(followers, PEOPLE_BOUND),
                "following": None if rng.random() < 0.3 else rng.randint(0, 5_000),
                "posts": None if rng.random() < 0.2 else 100 + offset,
                "likes": None if rng.random() < 0.2 else rng.choice([0, rng.randint(1, 10**6), COUNT_BOUND]),
                "comments": None if rng.random() < 0.4 else rng.randint(0, 500),
                "shares": None if rng.random() < 0.4 else rng.randint(0, 500),
                "views": None
                if rng.random() < 0.3
                else rng.choice([0, rng.randint(1, 10**9), COUNT_BOUND - 1]),
            }
            if all(v is None for v in values.values()):
                values["views"] = 1  # every written row knows something
            rows.append(
                SnapshotRow(
                    account_id=ids[(platform, handle)],
                    date=day,
                    source=rng.choice(Source.values),
                    precision=rng.choice(Precision.values),
                    **values,
                )
            )
    snapshot_upsert_many(rows=rows)
    # When each row was collected: one shared time for a run of rows (as a collection writes them),
    # then times of their own, with and without microseconds.
    shared = dt.datetime(2026, 3, 1, 6, 15, tzinfo=dt.UTC)
    snapshots = list(Snapshot.objects.order_by("pk"))
    for i, snapshot in enumerate(snapshots):
        if i % 3:
            snapshot.collected_at = shared + dt.timedelta(
                seconds=i * 37, microseconds=rng.choice([0, 1, 999_999])
            )
        else:
            snapshot.collected_at = shared
    Snapshot.objects.bulk_update(snapshots, ["collected_at"])
    return len(snapshots)


def state() -> dict:
    """Everything stored, keyed without database ids: accounts, snapshots and latest rows."""
    accounts = {
        (a.platform, a.handle): a.organization.name if a.organization else None
        for a in Account.objects.select_related("organization")
    }
    snapshots = {
        (platform, handle, date): values
        for platform, handle, date, *values in Snapshot.objects.values_list(
            "account__platform",
            "account__handle",
            "date",
            *METRIC_FIELDS,
            "engagement",
            "source",
            "precision",
            "collected_at",
            "anomaly_reason",
        )
    }
    latest_fields = [f.name for f in AccountLatest._meta.get_fields() if f.concrete and f.name != "account"]
    latest = {
        (platform, handle): values
        for platform, handle, *values in AccountLatest.objects.values_list(
            "account__platform", "account__handle", *latest_fields
        )
    }
    return {"accounts": accounts, "snapshots": snapshots, "latest": latest}


def download(client) -> bytes:
    response = client.get("/api/download")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def wipe() -> None:
    Snapshot.objects.all().delete()
    Account.objects.all().delete()
    Organization.objects.all().delete()
    assert not Snapshot.objects.exists()
    assert not AccountLatest.objects.exists()


def via_upload(client, data: bytes, **extra):
    upload = SimpleUploadedFile("socialmetrics.csv", data, content_type="text/csv")
    return client.post("/upload", {"file": upload, **extra}, format="multipart")


def via_bulk(client, data: bytes, **extra):
    return client.post("/api/upload-bulk", {"csv_data": data.decode(), **extra}, format="json")


@pytest.mark.parametrize("send", [via_upload, via_bulk], ids=["upload", "upload-bulk"])
def test_download_then_upload_into_an_empty_install_restores_every_value(api, staff_api, send):
    today = local_today()
    rows = generate(today)
    before = state()
    assert len(before["snapshots"]) == rows > 300
    assert any(reason for *_, reason in before["snapshots"].values())  # a flagged day travels too
    exported = download(api)

    # The file holds every stored value, names neutralised for spreadsheets.
    lines = list(csv.reader(io.StringIO(exported.decode())))
    assert lines[0][-5:] == ["Following", "Views", "Source", "Precision", "Collected At"]
    assert len(lines) == rows + 1
    organizations = {line[2] for line in lines[1:]}
    assert {"'=SUM(1+1)", "'-2+3 Collective", "''=already quoted", '\'@Nurses, "Corps"'} <= organizations
    assert {"東京都庁", "münchen.stadt", "u/spez", "news@mastodon.social"} <= {line[1] for line in lines[1:]}

    wipe()
    preview = send(staff_api, exported, dry_run=True).json()
    assert preview["dry_run"] is True
    assert (preview["created"], preview["updated"], preview["unchanged"], preview["skipped"]) == (
        rows,
        0,
        0,
        0,
    )
    assert preview["new_account_count"] == len(ACCOUNTS)
    assert not Snapshot.objects.exists()
    assert not Account.objects.exists()

    body = send(staff_api, exported).json()
    assert (body["created"], body["skipped"], body["accounts_created"]) == (rows, 0, len(ACCOUNTS))
    assert body["errors"] == []
    assert body["refused_csv"] is None
    after = state()
    assert after["accounts"] == before["accounts"]
    assert after["snapshots"].keys() == before["snapshots"].keys()
    for key, values in before["snapshots"].items():
        assert after["snapshots"][key] == values, key
    assert after["latest"] == before["latest"]
    assert download(api) == exported  # and the next download is the same file, byte for byte

    again = send(staff_api, exported).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, rows)
    assert state() == before


def test_a_file_without_the_new_columns_imports_as_before(staff_api):
    """Source, Precision and Collected At are optional: without them (or where a cell is empty) a row
    is a CSV import of now, its precision what its numbers show."""
    today = local_today().isoformat()
    text = (
        "Platform,Handle,Date,Followers,Source,Precision,Collected At\n"
        f"x,plain,{today},1.5K,,,\n"
        f"x,given,{today},10,api,Rounded by the platform,2026-01-02T03:04:05.000006+02:00\n"
        f"x,stated,{today},2M,scrape,exact,\n"
    )
    body = via_bulk(staff_api, text.encode()).json()
    assert (body["created"], body["skipped"]) == (3, 0), body
    stored = {s.account.handle: s for s in Snapshot.objects.select_related("account")}
    assert (stored["plain"].source, stored["plain"].precision) == (Source.CSV, Precision.ROUNDED)
    assert (stored["given"].source, stored["given"].precision) == (Source.API, Precision.ROUNDED)
    assert stored["given"].collected_at == dt.datetime(2026, 1, 2, 1, 4, 5, 6, tzinfo=dt.UTC)
    assert stored["stated"].precision == Precision.ROUNDED  # "2M" is rounded, whatever the cell says
    assert abs(stored["plain"].collected_at - stored["stated"].collected_at) < dt.timedelta(seconds=5)


@pytest.mark.parametrize(
    ("cells", "column", "fragment"),
    [
        ("robot,exact,", "Source", "is not a source"),
        ("api,approximate,", "Precision", "is not a precision"),
        ("api,exact,yesterday", "Collected At", "is not a time"),
        ("api,exact,2026-01-02 03:04:05", "Collected At", "no UTC offset"),
    ],
)
def test_wrong_source_precision_or_time_refuses_the_line(staff_api, cells, column, fragment):
    today = local_today().isoformat()
    header = "Platform,Handle,Date,Followers,Source,Precision,Collected At"
    text = f"{header}\nx,ok,{today},1,,,\nx,bad,{today},2,{cells}\n"
    body = via_bulk(staff_api, text.encode()).json()
    assert (body["created"], body["skipped"]) == (1, 1)
    assert [(e["line"], e["column"]) for e in body["errors"]] == [(3, column)]
    assert fragment in body["errors"][0]["message"]
    assert body["refused_csv"].splitlines()[1].startswith(f"3,{column},")

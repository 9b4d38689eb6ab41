"""Writers at the same moment, on PostgreSQL: nothing duplicated, nothing lost, no row a mix of two
writers, no deadlock.

- Two uploads of the same file at once (one through /upload, one through /api/upload-bulk): each
  row is created once and each stored row changed once between them, the file is stored as written.
- An upload while `manage.py collect_metrics` runs (another process), the file ordered so that its
  transaction takes its rows in the opposite order to the run's batches: both finish, today's row of
  each account is the run's or the file's, whole.
- An admin edit of a snapshot while an import that writes the same row is under way: both finish,
  the row is one of the two, whole.

After each: no account has two snapshots of a day, the latest rows equal `latest_compute` and the
per-date counts a GROUP BY date. Everything must end within TIMEOUT seconds: a deadlock (or the error
PostgreSQL raises on finding one) fails the test.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Account, Organization, Platform
from scraping.models import CollectionRun, RunStatus
from snapshots import csv_import as csv_import_module
from snapshots.models import METRIC_FIELDS, Snapshot, Source
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.dates import local_today
from tests.reliability.kill_checks import consistency_problems, simulated
from tests.reliability.services import Child
from tests.scraping.runs import process_env

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TIMEOUT = 60  # seconds for everything started at once to end
PLATFORMS = [Platform.X, Platform.YOUTUBE, Platform.GITHUB, Platform.REDDIT, Platform.LINKEDIN]
HEADER = "Platform,Handle,Date,Followers,Following,Posts,Likes,Comments,Shares,Views\n"


def at_once(*calls: Callable[[], object]) -> list[object]:
    """Run the calls on threads of their own (each with its own database connection), released
    together; their results in order. Fails when one raises or any runs longer than TIMEOUT."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            start.wait(timeout=TIMEOUT)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, call), daemon=True) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(t.is_alive() for t in threads), f"still running after {TIMEOUT} s: a deadlock?"
    if errors:
        raise errors[0]
    return results


def _accounts(count: int, *, prefix: str) -> list[Account]:
    organization = Organization.objects.create(name=f"{prefix} organization")
    return Account.objects.bulk_create(
        Account(platform=PLATFORMS[n % len(PLATFORMS)], handle=f"{prefix}{n:04d}", organization=organization)
        for n in range(count)
    )


def _stored() -> dict[tuple[str, str, dt.date], tuple]:
    """Every snapshot: (platform, handle, day) -> its values, source and precision."""
    columns = ("account__platform", "account__handle", "date", *METRIC_FIELDS, "source", "precision")
    return {(p, h, d): tuple(values) for p, h, d, *values in Snapshot.objects.values_list(*columns)}


def _cells(values: tuple) -> str:
    return ",".join("" if v is None else str(v) for v in values)


def _staff_api(django_user_model, name: str) -> APIClient:
    client = APIClient()
    client.force_login(
        django_user_model.objects.create_user(name, f"{name}@example.org", "pw", is_staff=True)
    )
    return client


def _upload_file(client: APIClient, text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file = SimpleUploadedFile("history.csv", text.encode(), "text/csv")
    return client.post("/upload", {"file": file}, format="multipart")


def _upload_bulk(client: APIClient, text: str):
    return client.post("/api/upload-bulk", {"csv_data": text}, format="json")


def _ok(response) -> dict:
    assert response.status_code == 200, (response.status_code, response.content[:2000])
    body = response.json()
    assert body["skipped"] == 0, body["errors"][:5]
    return body


# --- Two uploads of one file -------------------------------------------------------------------------


def test_two_uploads_of_the_same_file_at_once_store_it_once(django_user_model):
    today = local_today()
    days = [today - dt.timedelta(days=n) for n in range(59, -1, -1)]
    tracked = _accounts(200, prefix="both")  # and 200 more the file brings
    snapshot_upsert_many(
        rows=[SnapshotRow(a.pk, d, 5, 5, 5, 5, 5, 5, 5) for a in tracked for d in days[::2]], per_batch=False
    )
    before = _stored()
    lines, expected = [], dict(before)
    for n in range(400):
        platform, handle = PLATFORMS[n % len(PLATFORMS)], f"both{n:04d}"
        for d, day in enumerate(days):
            values = (1000 + n + d, n, d, n + d, 1, 2, 3 * d)
            lines.append(f"{platform},{handle},{day},{_cells(values)}\n")
            expected[(platform, handle, day)] = (*values, Source.CSV, "exact")
    text = HEADER + "".join(lines)  # 24,000 rows: two batches of the import
    new_rows = len(expected) - len(before)

    one, two = _staff_api(django_user_model, "one"), _staff_api(django_user_model, "two")
    first, second = map(_ok, at_once(lambda: _upload_file(one, text), lambda: _upload_bulk(two, text)))

    for body in (first, second):
        assert body["created"] + body["updated"] + body["unchanged"] == len(lines)
    assert first["created"] + second["created"] == new_rows  # each new row created once
    assert first["updated"] + second["updated"] == len(before)  # each stored row changed once
    assert first["accounts_created"] + second["accounts_created"] == 200
    assert _stored() == expected
    assert consistency_problems() == []


# --- An upload during a collection run ----------------------------------------------------------------


def test_an_upload_during_a_collection_run_lets_both_finish_with_whole_rows(django_user_model, settings):
    today = local_today()
    accounts = _accounts(300, prefix="run")
    days = [today - dt.timedelta(days=n) for n in range(79, -1, -1)]
    # The file holds the accounts in the opposite order to the run's batches: its first batch of
    # 20,000 rows takes today's rows of the last 250 accounts, which the run's batches reach last.
    lines, from_file, collected = [], {}, {}
    for account in reversed(accounts):
        values = simulated(account)
        for day in days:
            metrics = tuple(values(day)[name] for name in METRIC_FIELDS)
            written = tuple(None if v is None else v + 1 for v in metrics)  # the same cells, other values
            lines.append(f"{account.platform},{account.handle},{day},{_cells(written)}\n")
            from_file[(account.platform, account.handle, day)] = (*written, Source.CSV, "exact")
        collected[(account.platform, account.handle, today)] = (
            *(values(today)[name] for name in METRIC_FIELDS), Source.SIMULATED, values(today)["precision"],
        )  # fmt: skip
    text = HEADER + "".join(lines)

    run = Child(
        "tests.reliability.kill_collect", "--flush-accounts", "20", "--collect-batch", "10", "--slow", "0.1",
        "--", "--date", today.isoformat(), "-v0",
        env=process_env(SOCIALMETRICS_RUN_HEARTBEAT_SECONDS="0.5"),
    )  # fmt: skip
    try:
        run.wait_for("RUN ", timeout=30)
        while not CollectionRun.objects.filter(accounts_succeeded__gt=0).exists():  # its first batch is in
            assert run.process.poll() is None, run.output
        uploaded = _ok(_upload_bulk(_staff_api(django_user_model, "uploader"), text))
        assert run.wait(timeout=TIMEOUT) == 0, run.output
    finally:
        run.kill()

    assert CollectionRun.objects.get().status == RunStatus.COMPLETED, run.output
    assert uploaded["created"] + uploaded["updated"] + uploaded["unchanged"] == len(lines)
    stored = _stored()
    assert len(stored) == len(from_file)  # nothing lost, nothing twice
    for key, values in stored.items():
        if key[2] == today:
            assert values in (from_file[key], collected[key]), (key, values)  # one writer's, whole
        else:
            assert values == from_file[key], key
    assert consistency_problems() == []


# --- An admin edit during an import -------------------------------------------------------------------


def test_an_admin_edit_during_an_import_of_the_same_row_ends_with_one_of_the_two(django_user_model, client):
    today = local_today()
    accounts = _accounts(400, prefix="edit")
    days = [today - dt.timedelta(days=n) for n in range(59, -1, -1)]
    snapshot_upsert_many(rows=[SnapshotRow(a.pk, today, 1, 1, 1, 1, 1, 1, 1) for a in accounts])
    lines, expected = [], {}
    for n, account in enumerate(accounts):
        for d, day in enumerate(days):
            values = (2000 + n + d, n, d, n + d, 1, 2, 3 * d)
            lines.append(f"{account.platform},{account.handle},{day},{_cells(values)}\n")
            expected[(account.platform, account.handle, day)] = (*values, Source.CSV, "exact")
    text = HEADER + "".join(lines)  # 24,000 rows: the edited row (the first account's today) in batch 1
    edited = accounts[0]
    snapshot = Snapshot.objects.get(account=edited, date=today)
    by_admin = {"followers": 777, "following": 7, "posts": 77, "likes": 70, "comments": 0, "shares": 1}
    form = {"account": edited.pk, "date": today.isoformat(), **by_admin, "views": "", "source": "manual"}
    form["precision"] = "exact"
    client.force_login(django_user_model.objects.create_superuser("admin", "admin@example.org", "pw"))
    url = reverse("admin:snapshots_snapshot_change", args=[snapshot.pk])
    assert client.get(url).status_code == 200  # the form as the editor opened it

    first_batch_written = threading.Event()
    upsert_staged = csv_import_module.snapshot_upsert_staged

    def watched(*, batches, **kwargs):  # only watches: says when the import's second batch begins
        def counted():
            for n, batch in enumerate(batches):
                if n == 1:
                    first_batch_written.set()
                yield batch

        return upsert_staged(batches=counted(), **kwargs)

    def edit():
        assert first_batch_written.wait(timeout=TIMEOUT)
        close_old_connections()
        return client.post(url, form)

    csv_import_module.snapshot_upsert_staged = watched
    try:
        uploaded, response = at_once(lambda: _upload_bulk(_staff_api(django_user_model, "up"), text), edit)
    finally:
        csv_import_module.snapshot_upsert_staged = upsert_staged

    assert response.status_code == 302, response.content[:2000]
    _ok(uploaded)
    stored = _stored()
    key = (edited.platform, edited.handle, today)
    admin_row = (*by_admin.values(), None, Source.MANUAL, "exact")
    # The edit was sent while the import held the row: it waited for the import, then won, whole.
    assert stored[key] == admin_row
    del stored[key], expected[key]
    assert stored == expected
    assert consistency_problems() == []

"""Killed writers lose nothing and leave nothing half-written.

A collection run (`manage.py collect_metrics`, simulated, 300 accounts in batches of 50) and a
200,000-row CSV import are killed with SIGKILL at points chosen (seeded: KILL_SEED) from their
progress: the run recorded but nothing written, a batch half written, a batch written but not
committed, its COMMIT on its way. Each process stops itself at its point and says so
(tests/reliability/kill_collect.py, kill_import.py); the test then kills it. After each kill:

- no account has two snapshots of a day, and every row is whole: the values one writer gave (the
  simulation's for the run, the file's for the import), or those stored before, never a mix;
- a run's batch is all or nothing (an account has today's row exactly when its outcome was
  recorded), an import is all or nothing;
- the maintained latest rows equal `latest_compute`, the per-date counts a GROUP BY date;
- the killed run is ended `interrupted` by the next look at it (the job status), which frees its
  lock; the next run, or the same import again, completes the day with exactly the expected rows.

On PostgreSQL with Redis (the services pass) and on SQLite (the embedded pass). On SQLite the import
has 40,000 rows: it writes about ten times slower than PostgreSQL there, and what is tested (one
transaction, rolled back by the kill) does not depend on the size.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Account, Organization, Platform
from scraping.models import CollectionRun, OutcomeStatus, RunStatus
from snapshots.csv_import import BATCH_SIZE, csv_import
from snapshots.models import METRIC_FIELDS, Snapshot, Source
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.dates import local_today
from tests.reliability.kill_checks import consistency_problems, simulated, simulated_value_problems
from tests.reliability.services import Child, manage
from tests.scraping.runs import process_env

pytestmark = pytest.mark.django_db(transaction=True)  # the killed process must see what the test wrote

SEED = int(os.environ.get("KILL_SEED", "20261203"))
_random = random.Random(SEED)
#: Where a collection run is killed: batches of 50 accounts, so a run of 300 has 6.
COLLECTION_POINTS = [
    "started",
    f"mid-batch:{_random.randint(1, 5)}",
    f"before-commit:{_random.randint(1, 5)}",
    f"commit:{_random.randint(1, 5)}",
]
IMPORT_ACCOUNTS = 1000
IMPORT_DAYS = 200 if connection.vendor == "postgresql" else 40
#: Where an import is killed: in batch K of the file's (BATCH_SIZE rows each), or at its end.
IMPORT_POINTS = [
    "batch:0",
    f"copy:{_random.randint(1, IMPORT_DAYS * IMPORT_ACCOUNTS // BATCH_SIZE)}",
    "before-commit",
    "commit",
]
RUN_ACCOUNTS = 300
HISTORY_DAYS = 3
PLATFORMS = [Platform.X, Platform.YOUTUBE, Platform.GITHUB, Platform.REDDIT, Platform.LINKEDIN]
STALE = 0.6  # seconds: how soon this process, as the next looker, takes a silent run for dead


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.redis], id="postgresql-redis"),
    ]
)
def installation(request, settings) -> dict[str, str]:
    """The environment of the processes to kill, on this test's database (and Redis)."""
    if request.param != connection.vendor:
        pytest.skip(f"the {request.param} installation's; this pass runs on {connection.vendor}")
    settings.SOCIALMETRICS_RUN_HEARTBEAT_SECONDS = 0.2
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = STALE
    # The killed run's Redis lock would live 30 s: only the look that ends it frees it for the next.
    return process_env(SOCIALMETRICS_RUN_HEARTBEAT_SECONDS="0.2", SOCIALMETRICS_RUN_STALE_SECONDS="30")


def _accounts(count: int, *, prefix: str) -> list[Account]:
    organization = Organization.objects.create(name=f"{prefix} organization")
    return Account.objects.bulk_create(
        Account(platform=PLATFORMS[n % len(PLATFORMS)], handle=f"{prefix}{n:04d}", organization=organization)
        for n in range(count)
    )


def _stored() -> dict[tuple[str, str, dt.date], tuple]:
    """Every snapshot: (platform, handle, day) -> its values and source."""
    rows = Snapshot.objects.values_list(
        "account__platform", "account__handle", "date", *METRIC_FIELDS, "source"
    )
    return {(p, h, d): tuple(values) for p, h, d, *values in rows}


# --- A collection run killed ------------------------------------------------------------------------


def _kill_run(env: dict[str, str], point: str, day: dt.date) -> CollectionRun:
    child = Child(
        "tests.reliability.kill_collect", "--flush-accounts", "50", "--collect-batch", "25", "--pause", point,
        "--", "--date", day.isoformat(), "-v0", env=env,
    )  # fmt: skip
    try:
        child.wait_for(f"AT {point}", timeout=60)
    finally:
        child.kill()
    return CollectionRun.objects.get()


@pytest.mark.parametrize("point", COLLECTION_POINTS)
def test_a_collection_run_killed_keeps_whole_batches_and_the_next_run_completes_the_day(installation, point):
    day = local_today()
    accounts = _accounts(RUN_ACCOUNTS, prefix="run")
    history = [day - dt.timedelta(days=n) for n in range(HISTORY_DAYS, 0, -1)]
    rows = []
    for account in accounts:  # the days before, as the run collected them
        values = simulated(account)
        for d in history:
            v = values(d)
            metrics = (v[name] for name in METRIC_FIELDS)
            rows.append(SnapshotRow(account.pk, d, *metrics, Source.SIMULATED, v["precision"]))
    snapshot_upsert_many(rows=rows)

    killed = _kill_run(installation, point, day)

    assert killed.status == RunStatus.RUNNING  # until someone looks
    assert consistency_problems() == []
    assert simulated_value_problems(days=[*history, day]) == []  # every row whole, as collected
    assert Snapshot.objects.filter(date__in=history).count() == RUN_ACCOUNTS * HISTORY_DAYS  # kept
    written = set(Snapshot.objects.filter(date=day).values_list("account_id", flat=True))
    succeeded = set(
        killed.outcomes.filter(status=OutcomeStatus.SUCCEEDED).values_list("account_id", flat=True)
    )
    assert written == succeeded  # a batch's rows and outcomes: committed together, or not at all
    if point == "started":
        assert written == set()
    elif point.startswith(("mid-batch", "before-commit")):
        assert len(written) < RUN_ACCOUNTS  # the paused batch is not in
    assert killed.outcomes.count() <= killed.accounts_done <= RUN_ACCOUNTS

    deadline = time.monotonic() + 10  # its heartbeat goes stale STALE s after the kill
    while (body := APIClient().get(f"/api/job-status/{killed.pk}").json())["status"] == "running":
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    assert body["status"] == "interrupted"
    assert body["message"].startswith("its process stopped sending heartbeats at ")

    manage("collect_metrics", "--date", day.isoformat(), "-v0", env=installation)  # not refused: lock freed

    after = CollectionRun.objects.exclude(pk=killed.pk).get()
    assert after.status == RunStatus.COMPLETED
    assert after.accounts_succeeded == RUN_ACCOUNTS
    assert Snapshot.objects.filter(date=day).count() == RUN_ACCOUNTS
    assert Snapshot.objects.count() == RUN_ACCOUNTS * (HISTORY_DAYS + 1)
    assert simulated_value_problems(days=[*history, day]) == []
    assert consistency_problems() == []


# --- A CSV import killed ----------------------------------------------------------------------------

IMPORT_OLD = 500  # of them tracked before, with history: some days in the file, some before it
OLD_DAYS_BEFORE, OLD_DAYS_INSIDE = 10, 10


def _file_values(account: int, day: int) -> tuple[int, ...]:
    return (1000 + 7 * account + day, account, 50 + day, 3 * day + account, day % 11, account % 5, 40 * day)


def _old_values(account: int, day: int) -> tuple[int, ...]:
    return (999_000 + account + day, 1, 2, 3, 4, 5, 6)


@pytest.fixture(scope="module")
def import_file(tmp_path_factory) -> Path:
    """The file to import: IMPORT_DAYS days of IMPORT_ACCOUNTS accounts, ordered by day."""
    today = local_today()
    path = tmp_path_factory.mktemp("import") / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write("Platform,Handle,Date,Followers,Following,Posts,Likes,Comments,Shares,Views\n")
        for d in range(IMPORT_DAYS):
            day = (today - dt.timedelta(days=IMPORT_DAYS - 1 - d)).isoformat()
            for a in range(IMPORT_ACCOUNTS):
                values = ",".join(map(str, _file_values(a, d)))
                file.write(f"{PLATFORMS[a % len(PLATFORMS)]},imp{a:04d},{day},{values}\n")
    return path


def _tracked_before() -> tuple[dict, dict]:
    """Write what was there before the import; returns (the snapshots now, the snapshots expected
    after the whole file is imported)."""
    today = local_today()
    first = today - dt.timedelta(days=IMPORT_DAYS - 1)
    accounts = _accounts(IMPORT_OLD, prefix="imp")
    old_days = [first - dt.timedelta(days=n) for n in range(OLD_DAYS_BEFORE, 0, -1)]
    old_days += [first + dt.timedelta(days=3 * n) for n in range(OLD_DAYS_INSIDE)]
    snapshot_upsert_many(
        rows=[
            SnapshotRow(a.pk, day, *_old_values(n, (day - first).days), source=Source.MANUAL)
            for n, a in enumerate(accounts)
            for day in old_days
        ]
    )
    before = _stored()
    after = dict(before)
    for d in range(IMPORT_DAYS):
        day = first + dt.timedelta(days=d)
        for a in range(IMPORT_ACCOUNTS):
            after[(PLATFORMS[a % len(PLATFORMS)], f"imp{a:04d}", day)] = (*_file_values(a, d), Source.CSV)
    return before, after


@pytest.mark.parametrize("point", IMPORT_POINTS)
def test_an_import_killed_writes_all_or_nothing_and_the_same_import_again_completes_it(
    installation, import_file, point
):
    before, after = _tracked_before()
    assert len(after) - len(before) == IMPORT_DAYS * IMPORT_ACCOUNTS - IMPORT_OLD * OLD_DAYS_INSIDE

    child = Child("tests.reliability.kill_import", str(import_file), "--pause", point, env=installation)
    try:
        child.wait_for(f"AT {point}", timeout=60)
    finally:
        child.kill()

    stored = _stored()
    if point == "commit" and stored != before:  # killed as its COMMIT went: committed whole
        assert stored == after
    else:
        assert stored == before  # nothing of the file, not even its new accounts
        assert Account.objects.count() == IMPORT_OLD
    assert consistency_problems() == []

    with import_file.open(encoding="utf-8", newline="") as lines:
        report = csv_import(lines=lines)

    assert report.skipped == 0
    assert report.created + report.updated + report.unchanged == IMPORT_DAYS * IMPORT_ACCOUNTS
    assert _stored() == after
    assert Account.objects.count() == IMPORT_ACCOUNTS
    assert consistency_problems() == []

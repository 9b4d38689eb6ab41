"""Mixed load with writes: bench/load.py's own code for ten seconds against the test database.

gunicorn (the production settings, started as bench/run.py starts it) serves the test database, so
what the tests write must be committed for its processes to see: the tests run with
transaction=True. Readers in processes of their own read every cached endpoint and two pages while
a collection run, CSV uploads and admin edits write; each write is read back at once. No 5xx, no
stale read, and every kind of write happened. Figures are never asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bench.load import (
    READ_WEIGHTS,
    Checker,
    Checks,
    Expected,
    LoadOptions,
    LoadRefused,
    Tally,
    history_path,
    prepare,
    print_report,
    run_load,
    server_environment,
)
from bench.run import Bench
from snapshots.models import Snapshot
from socialmetrics import cache as generations
from tests.factories import AccountFactory

ROOT = Path(__file__).resolve().parent.parent.parent

SHORT = LoadOptions(
    duration=10,
    accounts=60,
    days=14,
    collect_accounts=5,
    upload_accounts=8,
    admin_accounts=8,
    upload_rows=2,
    reader_processes=1,
    reader_threads=3,
    write_interval=0.5,
    workers=2,
    threads=3,
)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_ten_seconds_of_reads_and_writes_serve_no_5xx_and_no_stale_read():
    report = run_load(options=SHORT)
    print_report(report)  # pytest shows it when the test fails

    assert report.server_errors == 0, report.server_error_examples
    assert report.stale_reads == 0, report.stale_examples
    assert report.failures == 0, report.failure_examples
    assert report.checks > 0
    writes = report.writes
    assert writes["collection_runs"] > 0
    assert writes["collected_accounts"] == writes["collection_runs"] * SHORT.collect_accounts
    assert writes["collection_resets"] > 0
    assert writes["uploads"] > 0
    assert writes["upload_rows"] == writes["uploads"] * SHORT.upload_rows
    assert writes["admin_edits"] > 0
    assert report.ok
    read = {name.removeprefix("read ") for name, e in report.endpoints.items() if e["requests"]}
    assert set(READ_WEIGHTS) <= read  # every kind of read was made
    assert report.cached_reads["hits"]["requests"] > 0
    assert report.cached_reads["misses"]["requests"] > 0


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_write_behind_the_services_back_is_reported_as_a_stale_read():
    """The check is not vacuous: a cached history that a raw UPDATE (no invalidation) made old is
    caught, and once the account's generations are bumped, the same check passes."""
    data = prepare(
        options=LoadOptions(accounts=30, days=7, collect_accounts=1, upload_accounts=1, admin_accounts=1)
    )
    account = data.admin[0]
    snapshot = Snapshot.objects.filter(account_id=account["id"]).order_by("date").first()
    day, before = snapshot.date.isoformat(), snapshot.followers
    bench = Bench(argparse.Namespace(workers=1, threads=2))
    try:
        with server_environment(), bench.server() as server:
            states = [
                httpx.get(server.url + history_path(account), timeout=30).headers["X-Cache"] for _ in range(2)
            ]
            assert states == ["MISS", "HIT"]

            Snapshot.objects.filter(pk=snapshot.pk).update(followers=before + 1)  # no service, no bump
            tally, checks = Tally(), Checks()
            checker = Checker(url=server.url, days=7, tally=tally, checks=checks, lock=threading.Lock())
            try:
                checker.verify(
                    write="raw update", expected=[Expected(account, day, before + 1)], written_at=0.0
                )
                stale = (checks.stale, [(e["endpoint"], e["expected"], e["seen"]) for e in checks.examples])

                generations.invalidate_data([account["id"]])
                checker.verify(
                    write="after the bump", expected=[Expected(account, day, before + 1)], written_at=0.0
                )
            finally:
                checker.close()
    finally:
        bench.stop_all()
        shutil.rmtree(bench.tmp, ignore_errors=True)
    assert stale == (1, [("history", before + 1, before)])
    assert checks.stale == 1  # the second check found every read fresh
    assert checks.reads == 4  # history and grid, twice
    assert (tally.counts["server_errors"], tally.counts["failures"]) == (0, 0)


@pytest.mark.django_db
def test_the_data_set_is_not_written_over_a_database_with_accounts_of_its_own():
    AccountFactory(handle="nasa")
    with pytest.raises(LoadRefused, match=r"accounts that are not benchmark accounts \(1\)"):
        prepare(options=LoadOptions())


def _load(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "bench/load.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_load_refuses_the_embedded_backends_and_bad_options():
    embedded = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    done = _load("--duration", "1", env=embedded)
    assert done.returncode == 2
    assert "needs PostgreSQL and Redis" in done.stderr
    assert "set DATABASE_URL naming a PostgreSQL database (postgres://...) and REDIS_URL" in done.stderr

    done = _load("--accounts", "5", "--duration", "0", env=embedded)
    assert done.returncode == 2
    assert "--duration must be 1..3600 seconds; --accounts must be 30..5000" in done.stderr

    done = _load("--help", env=embedded)
    assert done.returncode == 0
    assert "--duration" in done.stdout
    assert "stale read" in done.stdout

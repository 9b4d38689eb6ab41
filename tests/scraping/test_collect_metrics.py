"""`manage.py collect_metrics` as cron and people run it."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import Platform
from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, run_start
from snapshots.models import Snapshot
from socialmetrics.dates import local_today
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("collect_metrics", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_collects_today_and_prints_a_summary_per_platform():
    AccountFactory.create_batch(3, platform=Platform.X)
    AccountFactory.create_batch(2, platform=Platform.BLUESKY)
    code, out, _ = run()
    assert code == 0
    assert Snapshot.objects.filter(date=local_today()).count() == 5
    assert "Bluesky" in out
    assert "X" in out
    assert "5 succeeded, 0 failed, 0 skipped of 5 accounts" in out
    assert "collected 5/5 accounts" in out  # plain log lines when output is not a terminal


def test_backfill_writes_the_days_before_too_and_rerunning_adds_nothing():
    AccountFactory.create_batch(2)
    assert run("--backfill-days", "6", "--date", "2026-10-10")[0] == 0
    dates = set(Snapshot.objects.values_list("date", flat=True))
    assert dates == {dt.date(2026, 10, 10) - dt.timedelta(days=n) for n in range(7)}
    assert Snapshot.objects.count() == 14
    run("--backfill-days", "6", "--date", "2026-10-10")
    assert Snapshot.objects.count() == 14


def test_filters_select_accounts():
    core = AccountFactory(is_core=True, platform=Platform.GITHUB)
    AccountFactory(platform=Platform.X)
    run("--core-only")
    assert list(Snapshot.objects.values_list("account", flat=True)) == [core.pk]
    other = AccountFactory(platform=Platform.REDDIT)
    run("--account", str(other.pk))
    assert Snapshot.objects.filter(account=other).count() == 1


def test_dry_run_writes_nothing():
    AccountFactory.create_batch(2)
    code, out, _ = run("--dry-run")
    assert code == 0
    assert "nothing was written" in out
    assert not Snapshot.objects.exists()
    assert not CollectionRun.objects.exists()


def test_platforms_without_credentials_are_skipped_with_the_reason(settings):
    settings.X_BEARER_TOKEN = ""
    AccountFactory(platform=Platform.X)
    AccountFactory(platform=Platform.LINKEDIN)
    code, out, err = run("--mode", "real")
    assert code == 1  # nothing could be collected
    assert "X_BEARER_TOKEN is not set" in out
    assert "no public API for LinkedIn" in out
    assert "nothing could be collected" in err
    assert not Snapshot.objects.exists()
    assert CollectionRun.objects.get().accounts_skipped == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "fast"], "unknown --mode 'fast'"),
        (["--platform", "myspace"], "unknown --platform 'myspace'"),
        (["--date", "yesterday"], "is not a date"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--mode", "real", "--backfill-days", "3"], "--backfill-days needs --mode simulated"),
        (["--account", "999999"], "no account with id 999999"),
    ],
)
def test_bad_arguments_exit_2_with_one_clear_line(args, message):
    code, _, err = run(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_second_run_while_one_is_running_exits_1_naming_that_run():
    AccountFactory()
    holder, lock = run_start(options=RunOptions())
    try:
        code, _, err = run()
    finally:
        lock.release()
    assert code == 1
    assert err.strip() == (
        f"collect_metrics: another collection run is in progress (run {holder.pk}); "
        "try again when it has finished"
    )
    assert not Snapshot.objects.exists()
    assert list(CollectionRun.objects.values_list("pk", flat=True)) == [holder.pk]  # no failed record


def test_run_is_recorded():
    AccountFactory.create_batch(4)
    run("--workers", "2")
    record = CollectionRun.objects.get()
    assert record.status == RunStatus.COMPLETED
    assert record.accounts_total == 4
    assert record.options["workers"] == 2
    assert record.finished_at is not None

"""Cancelling a collection run (POST /api/runs/<id>/cancel, the admin's action): the run starts no
new batch, writes what it has collected, frees the lock and ends "cancelled" with its counts: in this
process (the threads backend: the API's background runs and `manage.py collect_metrics`), and spread
over Celery workers (batches no worker has taken up are cancelled; those being collected are
written, and the last to report ends the run)."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from io import StringIO

import factory
import pytest
from django.core.management import call_command
from django.db import connection
from pytest_httpserver import HTTPServer
from werkzeug import Response

from accounts.models import Platform
from scraping import distributed, runner, services, tasks
from scraping.collectors.simulated import SimulatedCollector
from scraping.models import BatchStatus, CollectionBatch, CollectionRun, RunStatus
from scraping.runner import RunOptions, collect
from snapshots.models import Snapshot
from tests.factories import AccountFactory
from tests.scraping.runs import factory_with, lock_is_free
from tests.scraping.test_collectors_bluesky import profile
from tests.scraping.test_distributed import BROKER, _follow, celery_workers, queued  # noqa: F401

ACCOUNTS = 200  # 10 s at the slow pace: always cancelled mid-run


def _cancel_once_going(*, by: str = "editor", after: int = 10, asked: list | None = None) -> threading.Thread:
    """A thread that cancels the running run once it has written `after` accounts (as the API does)."""

    def cancel() -> None:
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                run = CollectionRun.objects.filter(
                    status=RunStatus.RUNNING, accounts_succeeded__gte=after
                ).first()
                if run is not None:
                    services.run_cancel(run_id=run.pk, by=by)
                    if asked is not None:
                        asked.append(time.monotonic())
                    return
                time.sleep(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=cancel)
    thread.start()
    return thread


def _kept_what_it_collected(run: CollectionRun) -> None:
    """Every account it counts was written (one outcome each, a snapshot for each success), none other."""
    run.refresh_from_db()
    assert run.outcomes.count() == run.accounts_done
    assert Snapshot.objects.filter(date=run.date).count() == run.accounts_succeeded
    counts = f"{run.accounts_done:,} of {run.accounts_total:,} accounts"
    assert run.message == f"cancelled after {counts}; what was collected is kept"
    assert run.finished_at is not None
    assert lock_is_free()


class SlowSimulated(SimulatedCollector):
    """The simulated collector at 20 accounts a second, in batches of 2 (a real run's pace)."""

    batch_size = 2

    def collect(self, accounts):
        time.sleep(0.1)
        return super().collect(accounts)


# --- This process (the threads backend) ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the run's writers and the canceller use connections of their own
def test_a_threaded_run_stops_within_a_second_keeps_what_it_collected_and_frees_the_lock(log, monkeypatch):
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 5)  # written as it goes (by writer threads on PostgreSQL)
    AccountFactory.create_batch(ACCOUNTS)
    asked: list[float] = []
    canceller = _cancel_once_going(asked=asked)
    run = collect(options=RunOptions(workers=1), collector_factory=factory_with(log, delay=0.05))
    ended = time.monotonic()
    canceller.join()
    assert run.status == RunStatus.CANCELLED
    assert 10 <= run.accounts_done < ACCOUNTS
    assert ended - asked[0] < 2  # a look a second, then the batch being collected
    assert run.cancelled_by == "editor"
    assert run.cancel_requested_at is not None
    _kept_what_it_collected(run)
    assert run.status == RunStatus.CANCELLED  # as recorded
    assert len(log["order"]) == run.accounts_done  # no batch was collected and then dropped
    again = collect(options=RunOptions())  # the lock is free: the next run collects everything
    assert again.status == RunStatus.COMPLETED
    assert again.accounts_succeeded == ACCOUNTS


@pytest.mark.django_db(transaction=True)
def test_staff_cancel_a_background_run_started_from_the_api(staff_api, monkeypatch):
    monkeypatch.setattr(runner, "SimulatedCollector", SlowSimulated)
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 5)
    AccountFactory.create_batch(ACCOUNTS)
    job = staff_api.post("/api/run-scraper", {"mode": "simulated"}, format="json").json()["job_id"]
    deadline = time.monotonic() + 20
    while staff_api.get(f"/api/job-status/{job}").json()["done"] < 10:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    response = staff_api.post(f"/api/runs/{job}/cancel")
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    while (body := staff_api.get(f"/api/job-status/{job}").json())["status"] == "running":
        assert time.monotonic() < deadline + 5
        time.sleep(0.05)
    assert body["status"] == "cancelled"
    assert body["eta"] is None
    assert 10 <= body["done"] < ACCOUNTS
    assert body["message"].startswith("cancelled after ")
    _kept_what_it_collected(CollectionRun.objects.get(pk=job))
    latest = staff_api.get("/api/runs/latest").json()["run"]
    assert (latest["job_id"], latest["status"], latest["cancelled_by"]) == (job, "cancelled", "editor")


@pytest.mark.django_db(transaction=True)
def test_a_collect_metrics_run_is_cancelled_the_same_way_and_exits_1_saying_so(monkeypatch):
    monkeypatch.setattr(runner, "SimulatedCollector", SlowSimulated)
    monkeypatch.setattr(runner, "FLUSH_ACCOUNTS", 5)
    AccountFactory.create_batch(ACCOUNTS)
    canceller = _cancel_once_going()
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("collect_metrics", stdout=out, stderr=err)
    canceller.join()
    assert exited.value.code == 1
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.CANCELLED
    assert f"collect_metrics: cancelled after {run.accounts_done:,} of {ACCOUNTS} accounts" in err.getvalue()
    assert f"{run.accounts_succeeded} succeeded, 0 failed, 0 skipped of {ACCOUNTS} accounts" in out.getvalue()
    _kept_what_it_collected(run)


@pytest.mark.django_db
def test_a_cancel_the_run_did_not_look_for_in_time_is_kept_in_its_completed_record(log, monkeypatch):
    """Asked between the run's last look and its end: the run completes, and its record (written whole
    at the end) still says a cancel was asked, and by whom."""
    monkeypatch.setattr(runner, "CANCEL_CHECK_SECONDS", 3600.0)  # no look during the run
    interleave = runner.interleave

    def asked_meanwhile(batches):
        services.run_cancel(run_id=CollectionRun.objects.get().pk, by="late")
        return interleave(batches)

    monkeypatch.setattr(runner, "interleave", asked_meanwhile)
    AccountFactory.create_batch(3)
    run = collect(options=RunOptions(), collector_factory=factory_with(log))
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert (run.accounts_succeeded, run.cancelled_by) == (3, "late")
    assert run.cancel_requested_at is not None


@pytest.mark.django_db
def test_a_cancelled_run_counts_as_finished_not_under_way():
    from scraping.metrics import RunCollector
    from socialmetrics import metrics

    CollectionRun.objects.create(status=RunStatus.CANCELLED, duration_seconds=3, accounts_succeeded=12)
    scraper = metrics.report()["scraper"]
    assert (scraper["total_executions"], scraper["success_count"]) == (1, 0)
    families = {family.name: family for family in RunCollector().collect()}
    assert families["socialmetrics_collection_runs_active"].samples == []
    assert [s.labels for s in families[metrics.RUNS].samples if s.name.endswith("_total")] == [
        {"status": "cancelled"}
    ]


def test_the_admin_action_cancels_the_selected_runs_that_are_going(admin_client, db):
    going, lock = runner.run_start(options=RunOptions())
    try:
        ended = CollectionRun.objects.create(status=RunStatus.COMPLETED)
        response = admin_client.post(
            "/admin/scraping/collectionrun/",
            {"action": "cancel_runs", "_selected_action": [going.pk, ended.pk]},
            follow=True,
        )
        assert f"Asked run {going.pk} to stop" in response.content.decode()
        going.refresh_from_db()
        ended.refresh_from_db()
        assert (going.cancelled_by, going.status) == ("admin", RunStatus.RUNNING)  # it stops at its next look
        assert ended.cancel_requested_at is None
    finally:
        lock.release()


# --- Celery: batches on the workers ----------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db
def test_cancelling_between_batches_ends_the_run_at_once_and_no_worker_takes_up_the_rest(queued):  # noqa: F811
    AccountFactory.create_batch(6, platform=Platform.X)
    run = distributed.run_dispatch(options=RunOptions(batch_size=2))
    assert len(queued) == 3
    assert distributed.batch_execute(**queued[0], worker="w1")["status"] == BatchStatus.DONE
    run = services.run_cancel(run_id=run.pk, by="editor")
    assert run.status == RunStatus.CANCELLED
    assert (run.accounts_total, run.accounts_succeeded, run.accounts_done) == (6, 2, 2)
    assert run.by_platform == {"x": {"succeeded": 2}}
    statuses = list(CollectionBatch.objects.filter(run=run).values_list("status", flat=True))
    assert statuses == [BatchStatus.DONE, BatchStatus.CANCELLED, BatchStatus.CANCELLED]
    assert lock_is_free()
    assert distributed.batch_execute(**queued[1], worker="w2")["status"] == "not carried out"
    _kept_what_it_collected(run)


@pytest.mark.redis
@pytest.mark.django_db
def test_a_batch_being_collected_when_the_cancel_comes_is_written_and_ends_the_run(queued, monkeypatch):  # noqa: F811
    AccountFactory.create_batch(6, platform=Platform.X)
    run = distributed.run_dispatch(options=RunOptions(batch_size=2))
    collect_batch = runner.collect_batch

    def cancelled_meanwhile(**options):
        assert (
            services.run_cancel(run_id=run.pk, by="editor").status == RunStatus.RUNNING
        )  # this batch is going
        return collect_batch(**options)

    monkeypatch.setattr(distributed, "collect_batch", cancelled_meanwhile)
    assert distributed.batch_execute(**queued[1], worker="w1")["status"] == BatchStatus.DONE
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.accounts_succeeded == 2
    assert lock_is_free()
    _kept_what_it_collected(run)


@pytest.mark.redis
@pytest.mark.django_db
def test_the_run_counts_per_platform_as_its_batches_report(queued):  # noqa: F811
    AccountFactory.create_batch(3, platform=Platform.X)
    AccountFactory.create_batch(2, platform=Platform.GITHUB)
    run = distributed.run_dispatch(options=RunOptions(batch_size=2))
    assert run.planned["x"]["accounts"] == 3
    distributed.batch_execute(**queued[0], worker="w1")
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert sum(sum(c.values()) for c in run.by_platform.values()) == run.accounts_done == 2  # for the ETA


@pytest.mark.redis
@pytest.mark.django_db
def test_a_run_queued_for_one_worker_is_cancelled_at_once_and_never_carried_out(settings, monkeypatch):
    settings.CELERY_BROKER_URL = BROKER
    sent = []
    monkeypatch.setattr(tasks.execute_run, "apply_async", lambda kwargs, **options: sent.append(kwargs))
    AccountFactory.create_batch(2)
    run = runner.collect_in_background(options=RunOptions())
    assert run.status == RunStatus.PENDING
    assert not lock_is_free()
    run = services.run_cancel(run_id=run.pk, by="editor")
    assert run.status == RunStatus.CANCELLED
    assert run.message == "cancelled after 0 of 2 accounts; what was collected is kept"
    assert lock_is_free()
    assert tasks.execute_run(**sent[0]) == {"run_id": run.pk, "status": "not carried out"}
    assert not Snapshot.objects.exists()


@contextmanager
def slow_bluesky(seconds: float):
    """A local stand-in of Bluesky's AppView answering each request after `seconds`."""
    server = HTTPServer(threaded=True)

    def profiles(request):
        time.sleep(seconds)
        found = [profile(actor, followers=100) for actor in request.args.getlist("actors")]
        return Response(json.dumps({"profiles": found}), content_type="application/json")

    server.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(profiles)
    server.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_json({"feed": []})
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_stop_taking_batches_write_theirs_and_the_run_ends_cancelled(settings, staff_token_api):
    handles = factory.Sequence(lambda k: f"person{k}.bsky.social")
    AccountFactory.create_batch(60, platform=Platform.BLUESKY, handle=handles, profile_url="")
    with slow_bluesky(0.3) as standin:
        env = {"SOCIALMETRICS_API_BASE_URLS": json.dumps({"bluesky": standin.url_for("").rstrip("/")})}
        with celery_workers(settings, ["w1@test", "w2@test"], **env):
            run = distributed.run_dispatch(options=RunOptions(mode="real", batch_size=3))
            deadline = time.monotonic() + 30
            while not CollectionBatch.objects.filter(run=run, status=BatchStatus.DONE).count() >= 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            response = staff_token_api.post(f"/api/runs/{run.pk}/cancel")
            assert response.status_code in (200, 202)
            run = _follow(run)
    assert run.status == RunStatus.CANCELLED
    assert 6 <= run.accounts_succeeded < 60
    batches = CollectionBatch.objects.filter(run=run)
    assert batches.filter(status=BatchStatus.CANCELLED).exists()
    assert not batches.exclude(status__in=[BatchStatus.DONE, BatchStatus.CANCELLED]).exists()
    done = sum(
        len(ids) for ids in batches.filter(status=BatchStatus.DONE).values_list("account_ids", flat=True)
    )
    assert done == run.accounts_succeeded
    assert run.by_platform == {"bluesky": {"succeeded": run.accounts_succeeded}}
    _kept_what_it_collected(run)

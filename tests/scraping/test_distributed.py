"""Runs spread over Celery workers (`--backend celery`): the run is split into batches, any number of
workers carry them out through the threaded runner's own collecting and writing, and the last batch
to report ends the run. Each account is written and counted once, even when a batch is delivered
twice or its worker is killed; the platforms' budgets hold across workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import factory
import pytest
import redis
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Response

from accounts.models import Platform
from scraping import distributed, runner, services, tasks
from scraping.locks import LockHeld
from scraping.models import BatchStatus, CollectionBatch, CollectionOutcome, CollectionRun, RunStatus
from scraping.runner import RunOptions
from snapshots.models import Snapshot
from socialmetrics.celery import app as celery_app
from socialmetrics.dates import local_today
from tests.factories import AccountFactory
from tests.scraping.runs import lock_is_free, process_env
from tests.scraping.test_collectors_bluesky import profile

ROOT = Path(__file__).resolve().parents[2]
#: The broker of these tests' workers (a Redis database of its own, emptied after each test).
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")


@pytest.fixture
def queued(settings, monkeypatch):
    """The batches sent, as their kwargs, instead of a broker."""
    settings.CELERY_BROKER_URL = BROKER
    sent: list[dict] = []
    monkeypatch.setattr(tasks.collect_batch, "apply_async", lambda kwargs, **options: sent.append(kwargs))
    return sent


def _accounts(n: int, platform: str = Platform.X, **kwargs) -> list:
    return AccountFactory.create_batch(n, platform=platform, **kwargs)


# --- Splitting and aggregating, without workers --------------------------------------------------


@pytest.mark.django_db
def test_the_plan_sends_core_accounts_first_in_batches_of_the_asked_size_platforms_interleaved():
    core = _accounts(3, Platform.GITHUB, is_core=True)
    x = _accounts(5, Platform.X)
    sky = _accounts(2, Platform.BLUESKY)
    from scraping import selectors

    accounts = selectors.collection_accounts()
    options = RunOptions(batch_size=2, date=local_today())
    batches = distributed.plan(accounts=accounts, options=options)
    assert batches[:2] == [("github", [core[0].pk, core[1].pk]), ("github", [core[2].pk])]
    assert [platform for platform, _ in batches[2:]] == ["bluesky", "x", "x", "x"]
    assert sorted(pk for _, ids in batches for pk in ids) == sorted(a.pk for a in core + x + sky)
    assert all(len(ids) <= 2 for _, ids in batches)
    # By default a batch holds at least MIN_BATCH_ACCOUNTS (one batch per platform here).
    assert len(distributed.plan(accounts=accounts, options=RunOptions(date=local_today()))) == 3


@pytest.mark.redis
@pytest.mark.django_db
def test_the_last_batch_to_report_ends_the_run_and_a_batch_delivered_twice_counts_once(queued):
    accounts = _accounts(7, Platform.X) + _accounts(3, Platform.GITHUB)
    run = distributed.run_dispatch(options=RunOptions(batch_size=3))
    assert run.status == RunStatus.PENDING
    assert run.accounts_total == 10
    assert [k["index"] for k in queued] == list(range(4))  # x: 3+3+1, github: 3
    with pytest.raises(LockHeld) as refused:  # the queued run holds the lock
        runner.run_start(options=RunOptions())
    assert refused.value.run_id == run.pk

    for kwargs in reversed(queued[1:]):  # in any order; the first batch last
        assert distributed.batch_execute(**kwargs, worker="w1")["status"] == BatchStatus.DONE
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING
        assert not lock_is_free()
    assert distributed.batch_execute(**queued[0], worker="w2")["status"] == BatchStatus.DONE
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert (run.accounts_succeeded, run.accounts_failed, run.accounts_skipped) == (10, 0, 0)
    assert run.by_platform == {"x": {"succeeded": 7}, "github": {"succeeded": 3}}
    assert run.finished_at is not None
    assert lock_is_free()  # freed by the last batch

    # Delivered again (a worker died before acknowledging it): nothing is written or counted twice.
    assert distributed.batch_execute(**queued[2], worker="w2")["status"] == "not carried out"
    run.refresh_from_db()
    assert run.accounts_done == 10
    assert Snapshot.objects.count() == CollectionOutcome.objects.filter(run=run).count() == len(accounts)
    assert set(CollectionBatch.objects.filter(run=run).values_list("status", flat=True)) == {BatchStatus.DONE}


@pytest.mark.redis
@pytest.mark.django_db
def test_a_batch_written_meanwhile_by_another_delivery_is_not_written_again(queued, monkeypatch):
    _accounts(2)
    run = distributed.run_dispatch(options=RunOptions())
    [kwargs] = queued
    other, calls = [], []
    collect = runner.collect_batch

    def collect_meanwhile(**options):
        calls.append(options["batch"])
        if len(calls) == 1:  # another delivery of the same batch is written while this one collects
            other.append(distributed.batch_execute(**kwargs, worker="w2"))
        return collect(**options)

    monkeypatch.setattr(distributed, "collect_batch", collect_meanwhile)
    assert distributed.batch_execute(**kwargs, worker="w1")["status"] == "not carried out"
    assert other[0]["status"] == BatchStatus.DONE
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert run.accounts_succeeded == 2
    assert Snapshot.objects.count() == CollectionOutcome.objects.count() == 2
    assert CollectionBatch.objects.get().attempts == 2


@pytest.mark.redis
@pytest.mark.django_db
def test_a_batch_that_keeps_failing_is_retried_then_failed_with_its_reason_and_the_run_ends_failed(
    queued, monkeypatch
):
    _accounts(4)
    run = distributed.run_dispatch(options=RunOptions(batch_size=2))
    tries = Counter()

    def broken(**options):
        tries["write"] += 1
        raise OperationalError("could not write: the disk is full")

    monkeypatch.setattr(distributed, "write_outcomes", broken)
    monkeypatch.setattr(tasks.collect_batch, "retry_backoff", False)  # eagerly: no wait between tries
    first = tasks.collect_batch.apply(kwargs=queued[0])
    assert first.failed()
    assert tries["write"] == tasks.BATCH_RETRIES + 1
    batch = CollectionBatch.objects.get(run=run, index=0)
    assert batch.status == BatchStatus.FAILED
    assert batch.attempts == tasks.BATCH_RETRIES + 1
    assert batch.message == "OperationalError: could not write: the disk is full"
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # the other batch has not reported yet

    monkeypatch.undo()
    assert distributed.batch_execute(**queued[1], worker="w1")["status"] == BatchStatus.DONE
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.message.startswith("1 of 2 batches failed, so 2 accounts were not collected (first reason: ")
    assert "the disk is full" in run.message
    assert (run.accounts_succeeded, run.accounts_failed) == (2, 0)
    assert Snapshot.objects.count() == 2
    assert lock_is_free()
    assert tasks.collect_batch.acks_late
    assert tasks.collect_batch.reject_on_worker_lost


@pytest.mark.redis
@pytest.mark.django_db
def test_the_reaper_ends_a_run_whose_batches_all_died_and_late_batches_then_do_nothing(settings, queued):
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = 30
    _accounts(4)
    run = distributed.run_dispatch(options=RunOptions(batch_size=2))
    assert services.batch_claim(run_id=run.pk, index=0, worker="w1") is not None  # then its worker died
    CollectionRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert services.runs_reap_stale() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.INTERRUPTED
    assert lock_is_free()
    assert distributed.batch_execute(**queued[1], worker="w2")["status"] == "not carried out"
    assert not Snapshot.objects.exists()


@pytest.mark.redis
@pytest.mark.django_db
def test_the_command_sends_the_batches_and_prints_the_run(queued):
    _accounts(3)
    out = StringIO()
    call_command("collect_metrics", "--backend", "celery", "--batch-size", "2", stdout=out)
    run = CollectionRun.objects.get()
    assert f"run {run.pk}: 3 accounts in 2 batches sent to the Celery workers" in out.getvalue()
    assert run.options["backend"] == "celery"
    assert len(queued) == 2
    assert not Snapshot.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_a_backend_it_cannot_use(settings, capsys):
    _accounts(1)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    for args, broker, code, message in [
        (["--backend", "fast"], "", 2, "unknown collection backend 'fast'"),
        (["--backend", "celery", "--dry-run"], "", 2, "--dry-run collects in this process"),
        (["--backend", "celery"], "", 1, "the celery backend needs CELERY_BROKER_URL"),
        (["--backend", "celery"], BROKER, 1, "CELERY_BROKER_URL needs REDIS_URL"),  # no lock to share
    ]:
        settings.CELERY_BROKER_URL = broker
        err = StringIO()
        with pytest.raises(SystemExit) as exited:
            call_command("collect_metrics", *args, stdout=StringIO(), stderr=err)
        assert exited.value.code == code
        assert message in err.getvalue() + capsys.readouterr().err
    assert not CollectionRun.objects.exists()


@pytest.mark.redis
@pytest.mark.django_db
def test_with_the_celery_backend_the_api_sends_its_runs_to_the_workers_in_batches(
    settings, queued, staff_api
):
    settings.SOCIALMETRICS_COLLECT_BACKEND = "celery"
    _accounts(3)
    response = staff_api.post("/api/run-scraper", {}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == RunStatus.PENDING
    assert response.json()["account_count"] == 3
    assert [k["run_id"] for k in queued] == [response.json()["job_id"]]


# --- Real workers ----------------------------------------------------------------------------------


def _use_broker(url: str) -> None:
    """Send this process's tasks to `url`: the connection and producer pools made for another broker
    go (as Celery does after a fork)."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def celery_workers(settings, names: list[str], **env: str):
    """Worker processes (`celery worker --pool solo`) on this test's database, Redis and broker,
    ready when this yields {name: process}; ended (and the broker emptied) afterwards."""
    settings.CELERY_BROKER_URL = BROKER
    previous = celery_app.conf.broker_url
    _use_broker(BROKER)
    environment = process_env(CELERY_BROKER_URL=BROKER, **env)
    processes, logs = {}, {}
    try:
        for name in names:
            logs[name] = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed below)
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "socialmetrics", "worker", "--pool", "solo",
                 "-n", name, "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
                cwd=ROOT, env=environment, stdout=logs[name], stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 40
        ready: set[str] = set()
        while ready != set(names):
            assert time.monotonic() < deadline, f"workers not ready: {set(names) - ready}"
            for process in processes.values():
                assert process.poll() is None, "a worker did not start"
            ready |= {name for reply in celery_app.control.ping(timeout=0.5) for name in reply}
        yield processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _use_broker(previous)
        redis.Redis.from_url(BROKER).flushdb()
        for name, log in logs.items():  # shown when the test fails
            log.seek(0)
            print(f"--- worker {name}:\n{log.read()}")
            log.close()


def _follow(run: CollectionRun, seconds: float = 45) -> CollectionRun:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run.pk} still {run.status} after {seconds} s")


def _each_once(run: CollectionRun, accounts: list) -> None:
    """Every account collected once: one outcome in the run, one snapshot of the day."""
    ids = sorted(a.pk for a in accounts)
    assert sorted(run.outcomes.values_list("account_id", flat=True)) == ids
    assert sorted(Snapshot.objects.filter(date=run.date).values_list("account_id", flat=True)) == ids


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_collect_each_account_once_and_the_record_adds_up(settings):
    accounts = _accounts(150, Platform.X) + _accounts(100, Platform.GITHUB, is_core=True)
    accounts += _accounts(50, Platform.BLUESKY)
    with celery_workers(settings, ["w1@test", "w2@test"]):
        out = StringIO()
        call_command("collect_metrics", "--backend", "celery", "--batch-size", "10", "--wait", stdout=out)
    run = CollectionRun.objects.get()
    assert run.status == RunStatus.COMPLETED, run.message
    _each_once(run, accounts)
    assert (run.accounts_total, run.accounts_succeeded, run.accounts_done) == (300, 300, 300)
    assert run.by_platform == {
        "x": {"succeeded": 150},
        "github": {"succeeded": 100},
        "bluesky": {"succeeded": 50},
    }
    batches = CollectionBatch.objects.filter(run=run)
    assert batches.count() == 30
    assert set(batches.values_list("status", flat=True)) == {BatchStatus.DONE}
    assert sum(sum(b.counts.values()) for b in batches) == 300
    assert set(batches.values_list("worker", flat=True)) == {"w1@test", "w2@test"}  # both took batches
    assert "300 succeeded, 0 failed, 0 skipped of 300 accounts" in out.getvalue()
    assert "collected 300/300 accounts" in out.getvalue()
    assert lock_is_free()


@contextmanager
def bluesky_standin(handler):
    """A threaded local stand-in of Bluesky's AppView (a held request does not hold up the others)."""
    server = HTTPServer(threaded=True)
    server.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(handler)
    server.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_json({"feed": []})  # no posts
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


def _bluesky_accounts(n: int) -> list:
    handles = factory.Sequence(lambda k: f"person{k}.bsky.social")
    return AccountFactory.create_batch(n, platform=Platform.BLUESKY, handle=handles, profile_url="")


def _profiles(request) -> Response:
    profiles = [profile(actor, followers=100, follows=1, posts=2) for actor in request.args.getlist("actors")]
    return Response(json.dumps({"profiles": profiles}), content_type="application/json")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_batch_goes_to_the_other_worker_nothing_lost_or_doubled(settings):
    accounts = _bluesky_accounts(40)
    first, release, first_actors = threading.Event(), threading.Event(), []

    def handler(request):
        if not first.is_set():  # the first request is held: its worker is killed meanwhile
            first_actors.extend(request.args.getlist("actors"))
            first.set()
            release.wait(30)
        return _profiles(request)

    with bluesky_standin(handler) as standin:
        env = {
            "SOCIALMETRICS_API_BASE_URLS": json.dumps({"bluesky": standin.url_for("").rstrip("/")}),
            "CELERY_VISIBILITY_TIMEOUT": "3",  # given back 3 s after it was taken
            "SOCIALMETRICS_RUN_STALE_SECONDS": "60",
        }
        with celery_workers(settings, ["w1@test", "w2@test"], **env) as workers:
            run = distributed.run_dispatch(options=RunOptions(mode="real", batch_size=4))
            assert first.wait(30)
            held = CollectionBatch.objects.get(run=run, account_ids__contains=[
                next(a.pk for a in accounts if a.handle == first_actors[0])
            ])  # fmt: skip
            assert held.status == BatchStatus.RUNNING
            victim = held.worker
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            release.set()
            run = _follow(run)
    assert run.status == RunStatus.COMPLETED, run.message
    _each_once(run, accounts)
    assert run.accounts_succeeded == 40
    held.refresh_from_db()
    assert held.status == BatchStatus.DONE
    assert held.attempts == 2  # taken by the killed worker, then by the other
    assert held.worker != victim
    assert set(CollectionBatch.objects.filter(run=run).values_list("worker", flat=True)) == {held.worker}
    assert lock_is_free()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_platform_budget_and_a_retry_after_hold_across_workers(settings):
    accounts = _bluesky_accounts(24)
    budget, window, penalty = 2, 1.0, 2.0
    arrivals: list[tuple[float, int]] = []
    lock = threading.Lock()

    def handler(request):
        with lock:
            arrivals.append((time.time(), 429 if not arrivals else 200))
            status = arrivals[-1][1]
        if status == 429:  # the first answer asks every worker to stay away for `penalty` s
            return Response("{}", status=429, headers={"Retry-After": str(int(penalty))})
        return _profiles(request)

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.CACHE_KEY_PREFIX}*ratelimit*"):
        client.delete(key)  # no budget left over from another test
    with bluesky_standin(handler) as standin:
        env = {
            "SOCIALMETRICS_API_BASE_URLS": json.dumps({"bluesky": standin.url_for("").rstrip("/")}),
            "SOCIALMETRICS_RATE_LIMITS": json.dumps({"bluesky": [budget, window]}),
        }
        with celery_workers(settings, ["w1@test", "w2@test"], **env):
            run = distributed.run_dispatch(options=RunOptions(mode="real", batch_size=2))
            run = _follow(run)
    assert run.status == RunStatus.COMPLETED, run.message
    _each_once(run, accounts)
    assert set(CollectionBatch.objects.filter(run=run).values_list("worker", flat=True)) == {
        "w1@test",
        "w2@test",
    }
    times = [t for t, _ in arrivals]
    assert len(times) == 13  # 12 batches of 2 accounts, one request each, and the one answered 429
    slack = 0.15  # between a worker's reservation and the request's arrival here
    for t in times:
        assert sum(t <= u < t + window - slack for u in times) <= budget
    # After the 429 (a request already on its way aside), no worker called before the penalty ended.
    rejected = times[0]
    early = [round(u - rejected, 3) for u in times[1:] if rejected + slack <= u < rejected + penalty - slack]
    assert not early, (early, [round(u - rejected, 3) for u in times])

"""What the overview's run panel reads and does through the API: the time left from the platforms'
rate limits and the observed pace, skip reasons grouped with counts, the latest run of anyone
(GET /api/runs/latest), and who may cancel a run (POST /api/runs/<id>/cancel)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Platform
from scraping import progress
from scraping.collectors.base import AccountRef
from scraping.models import CollectionOutcome, CollectionRun, OutcomeStatus, RunMode, RunStatus
from scraping.runner import RunOptions, collect, run_start
from tests.factories import AccountFactory
from tests.scraping.runs import factory_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def anonymous():
    return APIClient()


def _running(*, seconds_ago: float, **fields) -> CollectionRun:
    now = timezone.now()
    fields = {"status": RunStatus.RUNNING, "heartbeat_at": now, "mode": RunMode.REAL, **fields}
    return CollectionRun.objects.create(started_at=now - dt.timedelta(seconds=seconds_ago), **fields)


# --- The time left --------------------------------------------------------------------------------


def test_in_real_mode_a_platform_budget_bounds_the_time_left_not_the_pace_so_far(anonymous, settings):
    """Reddit: 10 requests a minute, one per account. 40 of 100 accounts went in the first minute
    (the budget was unused), but the last request can go only after 9 windows: at 540 s."""
    settings.SOCIALMETRICS_RATE_LIMITS = {"reddit": [10, 60]}
    run = _running(
        seconds_ago=60,
        accounts_total=100,
        accounts_succeeded=40,
        options={"max_wait": 600},
        planned={"reddit": {"accounts": 100, "requests": 100, "key": "reddit"}},
        by_platform={"reddit": {"succeeded": 40}},
    )
    body = anonymous.get(f"/api/job-status/{run.pk}").json()
    assert 478 <= body["eta"] <= 481  # the pace alone would say 60 accounts / (40 per minute) = 90 s
    assert body["eta_basis"] == "rate_limits"
    [reddit] = body["platforms"]
    assert reddit == {
        "platform": "reddit", "total": 100, "done": 40, "remaining": 60, "eta": reddit["eta"],
        "rate_limit": {"requests": 10, "seconds": 60.0}, "defers_beyond_budget": False,
    }  # fmt: skip
    assert abs(reddit["eta"] - body["eta"]) < 1


def test_a_window_longer_than_max_wait_defers_what_the_budget_does_not_cover(anonymous, settings):
    """GitHub without a token: 60 requests an hour, and a run waits 60 s at most: the 940 accounts
    beyond the budget are deferred at once, so only the budget's 30 left are still to collect."""
    settings.GITHUB_TOKEN = ""
    settings.SOCIALMETRICS_RATE_LIMITS = {}
    run = _running(
        seconds_ago=30,
        accounts_total=1000,
        accounts_succeeded=30,
        options={"max_wait": 60},
        planned={"github": {"accounts": 1000, "requests": 1000, "key": "github"}},
        by_platform={"github": {"succeeded": 30}},
    )
    body = anonymous.get(f"/api/job-status/{run.pk}").json()
    assert 29 <= body["eta"] <= 31  # 30 accounts at 1 a second, not 970 of them
    assert body["eta_basis"] == "pace"
    assert body["platforms"][0]["defers_beyond_budget"] is True
    assert body["platforms"][0]["rate_limit"] == {"requests": 60, "seconds": 3600.0}


def test_platforms_sharing_a_budget_count_together_and_the_slowest_key_is_the_time_left():
    """Instagram and Facebook share Meta's budget (200 an hour here, waited for with --max-wait
    3600); Bluesky's is plenty: the run's time left is Meta's."""
    limits = {"meta": (200, 3600), "bluesky": (3000, 300)}
    now = timezone.now()
    run = CollectionRun(
        mode=RunMode.REAL,
        status=RunStatus.RUNNING,
        started_at=now - dt.timedelta(seconds=10),
        accounts_total=500,
        accounts_succeeded=60,
        options={"max_wait": 3600},
        planned={
            "instagram": {"accounts": 150, "requests": 150, "key": "meta"},
            "facebook": {"accounts": 150, "requests": 150, "key": "meta"},
            "bluesky": {"accounts": 200, "requests": 8, "key": "bluesky"},
        },
        by_platform={
            "instagram": {"succeeded": 10},
            "facebook": {"succeeded": 10},
            "bluesky": {"succeeded": 40},
        },
    )
    estimate = progress.estimate(run=run, now=now, limits=limits)
    # 300 Meta requests: the 201st goes an hour after the start at the earliest.
    assert estimate.eta == pytest.approx(3600 - 10, abs=0.2)
    assert estimate.basis == progress.RATE_LIMITS
    by_platform = {p.platform: p for p in estimate.platforms}
    assert by_platform["instagram"].eta == by_platform["facebook"].eta == estimate.eta
    assert by_platform["bluesky"].eta == pytest.approx(160 / 4, abs=0.2)  # its own pace: 4 a second


def test_in_simulated_mode_the_time_left_is_the_observed_pace(anonymous):
    run = _running(
        seconds_ago=10, mode=RunMode.SIMULATED, accounts_total=1000, accounts_succeeded=250,
        planned={"x": {"accounts": 1000, "requests": 2, "key": "x"}}, by_platform={"x": {"succeeded": 250}},
    )  # fmt: skip
    body = anonymous.get(f"/api/job-status/{run.pk}").json()
    assert 29 <= body["eta"] <= 31
    assert body["rate"] == pytest.approx(25, abs=0.5)
    assert body["eta_basis"] == "pace"
    assert body["platforms"][0]["rate_limit"] is None  # no requests: no budget


def test_an_ended_run_has_nothing_left_or_no_time_left():
    now = timezone.now()
    done = CollectionRun(status=RunStatus.COMPLETED, started_at=now, finished_at=now, mode=RunMode.REAL)
    assert progress.estimate(run=done).eta == 0.0
    cancelled = CollectionRun(
        status=RunStatus.CANCELLED, started_at=now, finished_at=now, accounts_total=5,
        planned={"x": {"accounts": 5, "requests": 5, "key": "x"}},
    )  # fmt: skip
    estimate = progress.estimate(run=cancelled)
    assert estimate.eta is None
    assert estimate.platforms[0].eta is None


class _Batched:
    """A collector asking for 25 accounts a request, and (`Posts`) one more per account for posts."""

    batch_size = 25
    rate_key = ""

    def unavailable_reason(self):
        return None


class _Posts(_Batched):
    batch_size = 1

    def fetch_posts(self, account, metrics):
        return []


def test_the_plan_counts_requests_per_rate_limit_key(settings):
    """A run's plan: accounts per request (the collector's batch size), one more per account whose
    posts are read, Mastodon's busiest instance, and nothing for a platform that cannot be read."""
    settings.X_BEARER_TOKEN = ""
    from scraping.collectors.base import get_collector

    made = {"bluesky": _Batched(), "mastodon": _Posts()}
    refs = [AccountRef(n, "bluesky", f"b{n}.bsky.social") for n in range(60)]
    refs += [
        AccountRef(100 + n, "mastodon", f"m{n}@mastodon.social", None, "mastodon.social") for n in range(5)
    ]
    refs += [AccountRef(200 + n, "mastodon", f"m{n}@fosstodon.org") for n in range(2)]  # host from the handle
    refs += [AccountRef(300 + n, "x", f"x{n}") for n in range(7)]
    refs += [AccountRef(400, "instagram", "insta")]
    plan = progress.run_plan(accounts=refs, collector=lambda p: made.get(p) or get_collector(p))
    assert plan["bluesky"] == {"accounts": 60, "requests": 3, "key": "bluesky"}  # 25 a request
    assert plan["mastodon"] == {"accounts": 7, "requests": 10, "key": "mastodon"}  # 5 lookups, 5 feeds
    assert plan["x"] == {"accounts": 7, "requests": 0, "key": "x"}  # no token: skipped at once
    assert plan["instagram"]["key"] == "meta"


def test_a_run_records_its_plan_when_it_starts(log):
    AccountFactory.create_batch(3, platform=Platform.X)
    AccountFactory.create_batch(2, platform=Platform.GITHUB)
    run = collect(options=RunOptions(), collector_factory=factory_with(log))
    run.refresh_from_db()
    assert run.planned == {
        "x": {"accounts": 3, "requests": 3, "key": "x"},
        "github": {"accounts": 2, "requests": 2, "key": "github"},
    }


# --- Skip reasons ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_skip_reasons_are_grouped_with_their_counts_the_most_frequent_first(staff_api, settings):
    settings.X_BEARER_TOKEN = ""
    AccountFactory.create_batch(3, platform=Platform.LINKEDIN)
    AccountFactory.create_batch(2, platform=Platform.X)
    AccountFactory(platform=Platform.TIKTOK)
    job = staff_api.post("/api/run-scraper", {"mode": "real"}, format="json").json()["job_id"]
    body = _wait_for_end(staff_api, job)
    assert body["skipped"] == 6
    reasons = [(r["platform"], r["status"], r["count"]) for r in body["skip_reasons"]]
    assert reasons == [("linkedin", "skipped", 3), ("x", "skipped", 2), ("tiktok", "skipped", 1)]
    assert body["skip_reasons"][0]["reason"] == "no public API for LinkedIn"
    assert "X_BEARER_TOKEN" in body["skip_reasons"][1]["reason"]


def test_deferred_accounts_are_listed_apart_from_skipped_ones(anonymous):
    run = CollectionRun.objects.create(status=RunStatus.COMPLETED, accounts_total=4, accounts_succeeded=1)
    accounts = AccountFactory.create_batch(4, platform=Platform.GITHUB)
    wait = "deferred: GitHub asked to wait 3412 s, longer than --max-wait; collect it in a later run"
    CollectionOutcome.objects.bulk_create(
        [
            CollectionOutcome(run=run, account=accounts[0], status=OutcomeStatus.SUCCEEDED),
            CollectionOutcome(
                run=run, account=accounts[1], status=OutcomeStatus.DEFERRED, error_message=wait
            ),
            CollectionOutcome(
                run=run, account=accounts[2], status=OutcomeStatus.DEFERRED, error_message=wait
            ),
            CollectionOutcome(run=run, account=accounts[3], status=OutcomeStatus.FAILED, error_message="404"),
        ]
    )
    body = anonymous.get(f"/api/job-status/{run.pk}").json()
    assert body["skip_reasons"] == [{"platform": "github", "status": "deferred", "reason": wait, "count": 2}]
    assert [e["error"] for e in body["errors"]] == ["404"]


# --- The latest run of anyone ---------------------------------------------------------------------


def test_the_latest_run_is_null_before_the_first(anonymous):
    assert anonymous.get("/api/runs/latest").json() == {"run": None}


def test_the_latest_run_is_any_run_however_started_in_one_query(anonymous, django_assert_num_queries):
    AccountFactory.create_batch(2)
    call_command("collect_metrics", stdout=StringIO())  # from the command line
    newest = CollectionRun.objects.get()
    older = CollectionRun.objects.create(
        status=RunStatus.COMPLETED, started_at=newest.started_at - dt.timedelta(hours=1)
    )
    with django_assert_num_queries(1):
        body = anonymous.get("/api/runs/latest").json()
    run = body["run"]
    assert run["job_id"] == newest.pk != older.pk
    assert (run["status"], run["total"], run["done"], run["succeeded"]) == ("completed", 2, 2, 2)
    assert run["requested_platforms"] == []
    assert "errors" not in run  # those (and skip reasons) are the job status's: more queries


def test_a_running_run_whose_process_is_gone_is_shown_as_it_ended(anonymous, settings):
    settings.SOCIALMETRICS_RUN_STALE_SECONDS = 30
    run = _running(seconds_ago=600, accounts_total=10)
    CollectionRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=5))
    body = anonymous.get("/api/runs/latest").json()
    assert body["run"]["status"] == "interrupted"
    assert body["run"]["eta"] is None


def test_the_latest_run_needs_a_sign_in_when_reads_are_not_public(anonymous, user_api, settings):
    settings.SOCIALMETRICS_PUBLIC_READ = False
    assert anonymous.get("/api/runs/latest").status_code == 401
    assert user_api.get("/api/runs/latest").status_code == 200


# --- Cancel: who may ------------------------------------------------------------------------------


@pytest.fixture
def going():
    run, lock = run_start(options=RunOptions())
    yield run
    lock.release()


def test_anonymous_and_readers_may_not_cancel(anonymous, user_api, going):
    assert anonymous.post(f"/api/runs/{going.pk}/cancel").status_code == 401
    refused = user_api.post(f"/api/runs/{going.pk}/cancel")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "This needs a staff account."
    going.refresh_from_db()
    assert going.cancel_requested_at is None


def test_staff_by_session_need_the_csrf_token(staff, going):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(f"/api/runs/{going.pk}/cancel").status_code == 403
    going.refresh_from_db()
    assert going.cancel_requested_at is None
    client.get("/")  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"/api/runs/{going.pk}/cancel", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    assert response.json()["cancelled_by"] == "editor"


def test_staff_cancel_once_asking_again_changes_nothing(staff_token_api, anonymous, going):
    first = staff_token_api.post(f"/api/runs/{going.pk}/cancel")
    assert first.status_code == 202
    assert first.json()["status"] == "running"  # it stops at its next look
    going.refresh_from_db()
    asked_at = going.cancel_requested_at
    assert staff_token_api.post(f"/api/runs/{going.pk}/cancel/").status_code == 202
    going.refresh_from_db()
    assert going.cancel_requested_at == asked_at
    # Readers see that it was asked, not by whom.
    seen = anonymous.get(f"/api/job-status/{going.pk}").json()
    assert (seen["cancel_requested"], seen["cancelled_by"]) == (True, "")


def test_an_ended_run_cannot_be_cancelled_and_an_unknown_one_is_404(staff_token_api):
    ended = CollectionRun.objects.create(status=RunStatus.COMPLETED)
    response = staff_token_api.post(f"/api/runs/{ended.pk}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "RUN_ENDED"
    assert response.json()["error"]["message"] == f"Run {ended.pk} has already ended (completed)."
    cancelled = CollectionRun.objects.create(status=RunStatus.CANCELLED, cancel_requested_at=timezone.now())
    assert staff_token_api.post(f"/api/runs/{cancelled.pk}/cancel").status_code == 200
    assert staff_token_api.post("/api/runs/424242/cancel").json()["error"]["code"] == "NOT_FOUND"


def test_the_schema_describes_the_run_panels_operations(anonymous):
    schema = anonymous.get("/api/schema", {"format": "json"}).json()
    assert "/api/runs/latest" in str(schema["paths"])
    cancel = next(
        item for path, item in schema["paths"].items() if path.startswith("/api/runs/{job_id}/cancel")
    )
    assert {"200", "202", "401", "403", "404", "409"} <= set(cancel["post"]["responses"])
    status = schema["components"]["schemas"]["JobStatus"]["properties"]
    assert {"eta", "eta_basis", "platforms", "skip_reasons", "cancel_requested"} <= set(status)


def _wait_for_end(client, job_id, timeout=30):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/job-status/{job_id}").json()
        if body["status"] not in ("pending", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {job_id} did not end: {body}")

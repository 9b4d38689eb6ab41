"""POST /api/run-scraper and GET /api/job-status/<id>."""

import time

import pytest
from rest_framework.test import APIClient

from scraping.models import CollectionRun, RunStatus
from scraping.runner import RunOptions, run_start
from snapshots.models import Snapshot
from socialmetrics.dates import local_today
from tests.factories import AccountFactory


@pytest.fixture
def staff(django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


def wait_for_end(client, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/job-status/{job_id}").json()
        if body["status"] not in ("pending", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"run {job_id} did not finish: {body}")


@pytest.mark.django_db(transaction=True)
def test_staff_starts_a_run_and_follows_it_to_the_end(staff):
    AccountFactory.create_batch(6)
    response = staff.post("/api/run-scraper", {"mode": "simulated"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["account_count"] == 6
    assert body["status"] == "running"
    final = wait_for_end(staff, body["job_id"])
    assert final["status"] == "completed"
    assert (final["total"], final["done"], final["succeeded"], final["failed"]) == (6, 6, 6, 0)
    assert final["eta"] == 0.0
    assert final["rate"] > 0
    assert Snapshot.objects.filter(date=local_today()).count() == 6


@pytest.mark.django_db(transaction=True)
def test_job_status_lists_failures_and_skips(staff, settings):
    settings.GITHUB_TOKEN = ""
    AccountFactory(platform="linkedin")
    response = staff.post("/api/run-scraper/", {"mode": "real"}, format="json")
    final = wait_for_end(staff, response.json()["job_id"])
    assert final["status"] == "failed"
    assert final["skipped"] == 1
    assert final["by_platform"] == {"linkedin": {"skipped": 1}}


@pytest.mark.django_db
def test_a_run_while_one_is_running_is_a_conflict_naming_that_run(staff):
    holder, lock = run_start(options=RunOptions())
    try:
        response = staff.post("/api/run-scraper", {}, format="json")
    finally:
        lock.release()
    assert response.status_code == 409
    body = response.json()
    assert body["error"]["code"] == "RUN_IN_PROGRESS"
    assert body["run_id"] == holder.pk
    assert f"(run {holder.pk})" in body["error"]["message"]
    assert list(CollectionRun.objects.values_list("pk", flat=True)) == [holder.pk]  # nothing recorded


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"mode": "fast"}, "mode"),
        ({"platforms": ["myspace"]}, "platforms"),
        ({"accounts": ["x"]}, "accounts"),
    ],
)
def test_bad_requests_are_400_naming_the_field(staff, payload, field):
    response = staff.post("/api/run-scraper", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert not CollectionRun.objects.exists()


@pytest.mark.django_db
def test_only_staff_may_start_a_run(django_user_model):
    anonymous = APIClient()
    assert anonymous.post("/api/run-scraper", {}, format="json").status_code in (401, 403)
    user = django_user_model.objects.create_user("reader", password="pw")
    member = APIClient()
    member.force_authenticate(user)
    assert member.post("/api/run-scraper", {}, format="json").status_code == 403
    assert not CollectionRun.objects.exists()


@pytest.mark.django_db
def test_unknown_job_is_a_json_404(staff):
    response = staff.get("/api/job-status/424242")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.django_db
def test_job_status_of_a_finished_run(staff):
    run = CollectionRun.objects.create(status=RunStatus.COMPLETED, accounts_total=2, accounts_succeeded=2)
    body = staff.get(f"/api/job-status/{run.pk}/").json()
    assert body["done"] == 2
    assert body["job_id"] == run.pk

"""A collection run's page summarises its outcomes, whatever their number, and links to them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, Platform
from scraping.models import CollectionOutcome, CollectionRun, OutcomeStatus
from tests.admin.conftest import page_text

pytestmark = pytest.mark.django_db


def run_with_outcomes(count: int) -> CollectionRun:
    """A run of `count` accounts over three platforms: most succeeded, some failed (two reasons),
    a few skipped."""
    platforms = [Platform.X, Platform.BLUESKY, Platform.YOUTUBE]
    start = Account.objects.count()
    accounts = Account.objects.bulk_create(
        Account(platform=platforms[n % 3], handle=f"acct{start + n}") for n in range(count)
    )
    run = CollectionRun.objects.create(accounts_total=count)

    def outcome(n: int, account: Account) -> CollectionOutcome:
        if n % 100 == 1:
            return CollectionOutcome(
                run=run, account=account, status=OutcomeStatus.FAILED, error_message="HTTP 429"
            )
        if n % 100 == 2:
            return CollectionOutcome(
                run=run, account=account, status=OutcomeStatus.FAILED, error_message="account not found"
            )
        if n % 100 == 3:
            return CollectionOutcome(
                run=run, account=account, status=OutcomeStatus.SKIPPED, error_message="no API key for YouTube"
            )
        return CollectionOutcome(
            run=run, account=account, status=OutcomeStatus.SUCCEEDED, duration_seconds=0.2
        )

    CollectionOutcome.objects.bulk_create(outcome(n, a) for n, a in enumerate(accounts))
    return run


def run_page(client, run: CollectionRun):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:scraping_collectionrun_change", args=[run.pk]))
    assert response.status_code == 200
    return response, len(queries.captured_queries)


def test_a_big_run_page_is_a_summary_with_constant_queries_and_a_small_page(staff_client):
    small_run = run_with_outcomes(30)
    run_page(staff_client, small_run)  # the first request of a session reads what later ones keep
    small, small_queries = run_page(staff_client, small_run)
    big_run = run_with_outcomes(2_001)
    big, big_queries = run_page(staff_client, big_run)
    assert big_queries == small_queries  # grouped counts, never a row per outcome
    assert len(big.content) < 60_000  # it was 2.7 MB with a row per outcome
    assert len(big.content) - len(small.content) < 2_000

    text = page_text(big)
    assert "Outcomes" in text
    # Of 2,001 accounts (n = 0..2000): 20 failed on HTTP 429, 20 on "account not found", 20 skipped.
    assert "all platforms 1,941 40 20 0" in text
    assert "All 2,001 outcomes of this run" in text
    reasons = big.context["outcomes"]["reasons"]
    by_reason = {}
    for row in reasons:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + int(row["count"].replace(",", ""))
    assert by_reason == {"HTTP 429": 20, "account not found": 20, "no API key for YouTube": 20}
    assert {row["status"] for row in reasons} == {"Failed", "Skipped"}
    assert "HTTP 429" in text
    assert "acct" not in text  # no account is listed one by one


def test_the_summary_links_to_the_outcomes_filtered_by_run_status_and_platform(staff_client):
    other = run_with_outcomes(10)
    run = run_with_outcomes(300)
    response, _ = run_page(staff_client, run)
    summary = response.context["outcomes"]
    failed_x = next(row for row in summary["rows"] if row["platform"] == "X")["cells"][1]
    # Of the 300 (n = 0..299) the failed are n = 1, 2, 101, 102, 201, 202; on X (n % 3 == 0): 102, 201.
    assert failed_x["count"] == "2"
    url = urlsplit(failed_x["url"])
    assert parse_qs(url.query) == {
        "run__id__exact": [str(run.pk)],
        "status__exact": ["failed"],
        "account__platform__exact": ["x"],
    }
    listing = staff_client.get(failed_x["url"])
    assert listing.status_code == 200
    outcomes = list(listing.context["cl"].result_list)
    expected = CollectionOutcome.objects.filter(run=run, status="failed", account__platform="x")
    assert {o.pk for o in outcomes} == set(expected.values_list("pk", flat=True))
    assert f"run {run.pk}" in page_text(listing)  # the run filter says which run is shown

    everything = staff_client.get(summary["all_url"])
    cl = everything.context["cl"]
    assert cl.result_count == 300
    assert len(cl.result_list) == 100  # a page at a time
    assert all(o.run_id == run.pk for o in cl.result_list)
    assert other.pk != run.pk


def test_a_run_of_the_threaded_backend_shows_no_empty_batches_table(staff_client):
    run = run_with_outcomes(5)
    response, _ = run_page(staff_client, run)
    assert response.context["inline_admin_formsets"] == []

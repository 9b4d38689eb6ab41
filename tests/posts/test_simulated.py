"""Simulated posts: a collection run stores each account's posts of the run's days, deterministic and
plausible (a day's posts share out that day's engagement), written once however often it runs, in
the batch's own write (one statement, no query per account); `seed_demo` includes them."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Platform
from scraping.simulation import MAX_POSTS_PER_DAY, simulate_day, simulate_posts
from snapshots.models import Post, Snapshot
from socialmetrics.dates import day_of, local_today
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 10, 7)  # a Wednesday, a busy day for the simulated accounts


def collect(*args) -> str:
    out = StringIO()
    call_command("collect_metrics", "--mode", "simulated", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def table() -> list[tuple]:
    return sorted(
        Post.objects.values_list(
            "account__handle", "platform_post_id", "published_at", "post_type", "text", "likes", "comments",
            "shares", "views", "engagement",
        )
    )  # fmt: skip


@pytest.fixture
def accounts():
    platforms = [
        Platform.X,
        Platform.YOUTUBE,
        Platform.BLUESKY,
        Platform.REDDIT,
        Platform.GITHUB,
        Platform.TIKTOK,
    ]
    return [AccountFactory(platform=p, handle=f"city{n}") for n in range(6) for p in platforms]


def test_a_run_stores_the_days_posts_once_and_a_rerun_writes_nothing(accounts):
    collect("--date", DAY.isoformat())
    first = table()
    assert first, "simulated accounts publish posts"
    posts = Post.objects.select_related("account")
    assert {day_of(p.published_at) for p in posts} == {DAY}
    per_account = Post.objects.values("account").annotate(n=Count("id")).values_list("n", flat=True)
    assert max(per_account) <= MAX_POSTS_PER_DAY
    assert not Post.objects.filter(account__platform=Platform.GITHUB).exists()  # repositories, not posts
    updated = dict(Post.objects.values_list("pk", "updated_at"))

    collect("--date", DAY.isoformat())
    assert table() == first
    assert dict(Post.objects.values_list("pk", "updated_at")) == updated

    # The same numbers on any machine: what the simulation gives for each account and day.
    account = Account.objects.get(platform=Platform.YOUTUBE, handle="city0")
    values = simulate_day(account.key, account.platform, DAY)
    expected = simulate_posts(
        account.key,
        account.platform,
        DAY,
        **{k: values[k] for k in ("followers", "likes", "comments", "shares", "views")},
    )
    stored = Post.objects.filter(account=account).order_by("published_at")
    assert [(p.platform_post_id, p.post_type, p.likes, p.views) for p in stored] == [
        (e[0], e[2], e[4], e[7]) for e in expected
    ]


def test_a_days_posts_share_out_that_days_engagement(accounts):
    collect("--date", DAY.isoformat())
    snapshots = {s.account_id: s for s in Snapshot.objects.filter(date=DAY)}
    sums = Post.objects.values("account").annotate(likes=Sum("likes"), views=Sum("views"))
    checked = 0
    for row in sums:
        day = snapshots[row["account"]]
        if day.likes is None:
            continue  # Reddit: a few likes per thousand followers instead
        checked += 1
        assert day.likes - MAX_POSTS_PER_DAY <= row["likes"] <= day.likes
        if day.views is not None:
            assert day.views - MAX_POSTS_PER_DAY <= row["views"] <= day.views
    assert checked
    reddit = Post.objects.filter(account__platform=Platform.REDDIT)
    assert reddit.exists()
    assert all(p.likes is not None and p.shares is None and p.views is None for p in reddit)


def test_todays_posts_not_yet_published_are_not_collected(accounts):
    collect()
    assert all(p.published_at <= p.collected_at for p in Post.objects.all())
    assert {day_of(p.published_at) for p in Post.objects.all()} <= {local_today()}


def test_a_backfill_stores_the_posts_of_every_day(accounts):
    collect("--date", DAY.isoformat(), "--backfill-days", "6")
    days = {day_of(moment) for moment in Post.objects.values_list("published_at", flat=True)}
    assert days == {DAY - dt.timedelta(days=n) for n in range(7)}


def test_posts_travel_in_the_batches_write_one_statement_and_no_query_per_account(accounts):
    AccountFactory.create_batch(60, platform=Platform.X)
    with CaptureQueriesContext(connection) as queries:
        collect("--date", DAY.isoformat())
    writes = [q["sql"] for q in queries.captured_queries if "snapshots_post" in q["sql"]]
    assert len(writes) == 1  # the whole run is one batch
    assert writes[0].startswith("INSERT INTO snapshots_post")
    assert Post.objects.count() > 60


def test_seed_demo_includes_posts_and_rerunning_writes_none_again():
    call_command("seed_demo", "--accounts", "60", "--days", "10", stdout=StringIO())
    first = table()
    assert len(first) > 60 * 10 * 0.5
    assert Post.objects.filter(account__platform=Platform.YOUTUBE, post_type="video").exists()
    call_command("seed_demo", "--accounts", "60", "--days", "10", stdout=StringIO())
    assert table() == first

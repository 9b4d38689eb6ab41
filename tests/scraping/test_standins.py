"""Real collection pointed at local stand-ins of Bluesky and Mastodon through the settings that the
environment sets (SOCIALMETRICS_API_BASE_URLS, SOCIALMETRICS_MASTODON_BASE_URL): the numbers they
serve are stored, once per account and day; wrong settings stop the start with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from werkzeug import Response

from accounts.models import Platform
from snapshots.models import Post, Snapshot
from socialmetrics.dates import local_today
from tests.factories import AccountFactory
from tests.posts.standins import answer_bluesky_feed, answer_mastodon_statuses
from tests.scraping.test_collectors_bluesky import profile
from tests.scraping.test_collectors_mastodon import account as mastodon_account

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _bluesky(request) -> Response:
    actors = request.args.getlist("actors")
    profiles = [profile(actor, followers=16_000, follows=12, posts=345) for actor in actors]
    return Response(json.dumps({"profiles": profiles}), content_type="application/json")


def _mastodon(request) -> Response:
    username = request.args["acct"].split("@")[0]
    body = mastodon_account(
        username, followers_count=15230 + len(username), following_count=41, statuses_count=3321
    )
    return Response(json.dumps(body), content_type="application/json")


@pytest.fixture
def standins(settings, httpserver):
    """Bluesky's AppView and a Mastodon server on 127.0.0.1, named as the environment would."""
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(_bluesky)
    httpserver.expect_request("/api/v1/accounts/lookup").respond_with_handler(_mastodon)
    httpserver.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_handler(answer_bluesky_feed)
    httpserver.expect_request("/api/v1/accounts/109302436954721982/statuses").respond_with_handler(
        answer_mastodon_statuses
    )
    base = httpserver.url_for("").rstrip("/")
    settings.SOCIALMETRICS_API_BASE_URLS = {"bluesky": base}
    settings.SOCIALMETRICS_MASTODON_BASE_URL = base
    return httpserver


def test_real_collection_stores_what_the_standins_serve_once_per_day(standins):
    sky = AccountFactory(platform=Platform.BLUESKY, handle="city.bsky.social", profile_url="")
    toot = AccountFactory(
        platform=Platform.MASTODON,
        handle="city@social.example",
        instance_host="social.example",
        profile_url="",
    )
    for _ in range(2):  # a re-run of the day writes nothing twice
        out = StringIO()
        call_command("collect_metrics", "--mode", "real", stdout=out)
        assert "2 succeeded, 0 failed, 0 skipped of 2 accounts" in out.getvalue()
    today = local_today()
    stored = {s.account_id: s for s in Snapshot.objects.filter(date=today)}
    assert Snapshot.objects.count() == 2
    assert (stored[sky.pk].followers, stored[sky.pk].following, stored[sky.pk].posts) == (16_000, 12, 345)
    assert (stored[toot.pk].followers, stored[toot.pk].following, stored[toot.pk].posts) == (15_234, 41, 3321)
    assert {s.source for s in stored.values()} == {"api"}
    # Each account's recent posts too, once per post (the stand-ins' reposts and boosts left out).
    assert sorted(Post.objects.values_list("account_id", "likes")) == sorted(
        [(sky.pk, 120), (sky.pk, 40), (toot.pk, 55), (toot.pk, 3)]
    )
    asked = {request.path for request, _ in standins.log}
    assert asked == {
        "/xrpc/app.bsky.actor.getProfiles",
        "/api/v1/accounts/lookup",
        "/xrpc/app.bsky.feed.getAuthorFeed",
        "/api/v1/accounts/109302436954721982/statuses",
    }


def _settings_in_a_new_process(env: dict[str, str]) -> subprocess.CompletedProcess:
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.SOCIALMETRICS_API_BASE_URLS, s.SOCIALMETRICS_MASTODON_BASE_URL, "
        "s.SOCIALMETRICS_RATE_LIMITS, s.SOCIALMETRICS_MAX_CONCURRENCY]))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_environment_sets_base_urls_budgets_and_concurrency():
    done = _settings_in_a_new_process(
        {
            "SOCIALMETRICS_API_BASE_URLS": '{"bluesky": "http://127.0.0.1:9000"}',
            "SOCIALMETRICS_MASTODON_BASE_URL": "http://127.0.0.1:9001",
            "SOCIALMETRICS_RATE_LIMITS": '{"github": [5000, 3600]}',
            "SOCIALMETRICS_MAX_CONCURRENCY": '{"x": 1}',
        }
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [
        {"bluesky": "http://127.0.0.1:9000"},
        "http://127.0.0.1:9001",
        {"github": [5000, 3600]},
        {"x": 1},
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "SOCIALMETRICS_API_BASE_URLS",
            '{"blusky": "http://127.0.0.1:9000"}',
            "no platform API is called 'blusky'",
        ),
        ("SOCIALMETRICS_API_BASE_URLS", '{"bluesky": "127.0.0.1:9000"}', "is not an http(s) URL"),
        ("SOCIALMETRICS_MASTODON_BASE_URL", "ftp://127.0.0.1", "is not an http(s) URL"),
        ("SOCIALMETRICS_RATE_LIMITS", '{"github": [0, 3600]}', "github: [0, 3600] is not valid"),
        ("SOCIALMETRICS_MAX_CONCURRENCY", '{"x": "two"}', "x: 'two' is not valid"),
    ],
)
def test_a_wrong_collection_setting_stops_the_start_with_the_reason(name, value, message):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test", name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert name in done.stderr
    assert message in done.stderr

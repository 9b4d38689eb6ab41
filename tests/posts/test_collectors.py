"""Reading accounts' recent posts from the platforms' public APIs, with the real HTTP client against
local stand-ins (127.0.0.1 only): Bluesky's author feed, a Mastodon account's statuses, a YouTube
channel's uploads, a subreddit's new posts. A failure to read posts never fails the account."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from werkzeug import Response

from scraping.collectors.base import Collector, Metrics, Outcome, get_collector
from scraping.models import OutcomeStatus
from scraping.runner import collect_batch
from tests.posts.standins import (
    answer_bluesky_feed,
    answer_mastodon_statuses,
    youtube_channels_content,
    youtube_playlist,
    youtube_videos,
)
from tests.scraping.conftest import requests_to
from tests.scraping.test_collectors_bluesky import profile
from tests.scraping.test_collectors_mastodon import account as mastodon_account

UTC = dt.UTC


def counts(posts) -> list[tuple]:
    return [(p.platform_post_id, p.likes, p.comments, p.shares, p.views) for p in posts]


def collected(collector, accounts) -> list[Outcome]:
    """What the runner does with a batch: the metrics, then the recent posts."""
    return collect_batch(collector=collector, platform=collector.platform, batch=accounts)


def test_bluesky_reads_the_author_feed_without_reposts_of_others(make_collector, ref, platforms):
    platforms.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_json(
        {"profiles": [profile("city.bsky.social", followers=16_000)]}
    )
    platforms.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_handler(answer_bluesky_feed)
    [outcome] = collected(make_collector("bluesky"), [ref("bluesky", "city.bsky.social")])
    assert outcome.status == OutcomeStatus.SUCCEEDED
    assert outcome.metrics.followers == 16_000
    did = outcome.metrics.external_id
    # Shares are reposts and quotes; comments are replies; Bluesky shows no views.
    assert counts(outcome.posts) == [
        ("at://did:plc:cityaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3kfirst", 120, 7, 13, None),
        ("at://did:plc:cityaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.post/3ksecond", 40, 1, 3, None),
    ]
    first = outcome.posts[0]
    assert first.published_at == dt.datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    assert first.url == "https://bsky.app/profile/did:plc:cityaaaaaaaaaaaaaaaaaaaa/post/3kfirst"
    assert first.account_id == outcome.account.id
    [feed] = requests_to(platforms, "/xrpc/app.bsky.feed.getAuthorFeed")
    # Asked by the DID the profile gave (it survives a handle change), without replies.
    assert (feed.args["actor"], feed.args["filter"], feed.args["limit"]) == (did, "posts_no_replies", "20")


def test_mastodon_reads_the_statuses_of_the_looked_up_account_on_its_instance(make_collector, ref, platforms):
    platforms.expect_request("/api/v1/accounts/lookup").respond_with_json(mastodon_account("city"))
    platforms.expect_request("/api/v1/accounts/109302436954721982/statuses").respond_with_handler(
        answer_mastodon_statuses
    )
    account = ref("mastodon", "city@social.example", instance_host="social.example")
    [outcome] = collected(make_collector("mastodon"), [account])
    assert counts(outcome.posts) == [
        ("113000000000000001", 55, 4, 12, None),
        ("113000000000000002", 3, 4, 12, None),
    ]
    assert outcome.posts[0].text == "Road works on Main St & Elm Detours"  # HTML read as text
    assert outcome.posts[0].url == "https://social.example/@city/113000000000000001"
    [statuses] = requests_to(platforms, "/api/v1/accounts/109302436954721982/statuses")
    assert statuses.args["exclude_replies"] == statuses.args["exclude_reblogs"] == "true"


def test_youtube_reads_the_uploads_of_a_batch_of_channels_in_few_calls(
    make_collector, ref, platforms, settings
):
    settings.YOUTUBE_API_KEY = "test-key"
    ids = ["UC" + c * 22 for c in "ab"]
    platforms.expect_request(
        "/channels", query_string={"part": "statistics", "id": ",".join(ids), "maxResults": "50"}
    ).respond_with_json(
        {"items": [{"id": i, "statistics": {"subscriberCount": "1230", "videoCount": "4"}} for i in ids]}
    )

    def channels(request) -> Response:
        items = [youtube_channels_content(i)["items"][0] for i in request.args["id"].split(",")]
        return Response(json.dumps({"items": items}), content_type="application/json")

    def playlist(request) -> Response:
        channel = request.args["playlistId"][2:3]
        return Response(
            json.dumps(youtube_playlist([f"{channel}1", f"{channel}2"])), content_type="application/json"
        )

    def videos(request) -> Response:
        return Response(
            json.dumps(youtube_videos(request.args["id"].split(","))), content_type="application/json"
        )

    platforms.expect_request(
        "/channels", query_string={"part": "contentDetails", "id": ",".join(ids), "maxResults": "50"}
    ).respond_with_handler(channels)
    platforms.expect_request("/playlistItems").respond_with_handler(playlist)
    platforms.expect_request("/videos").respond_with_handler(videos)
    outcomes = collected(make_collector("youtube"), [ref("youtube", i) for i in ids])
    assert [counts(o.posts) for o in outcomes] == [
        [("a1", 300, 25, None, 10_000), ("a2", 600, None, None, 20_000)],
        [("b1", 900, None, None, 30_000), ("b2", 1200, None, None, 40_000)],
    ]
    video = outcomes[0].posts[0]
    assert (video.post_type, video.text, video.url) == (
        "video",
        "Video 1",
        "https://www.youtube.com/watch?v=a1",
    )
    # 1 call for the statistics, 1 for both uploads playlists, 1 per playlist, 1 for all four videos.
    assert len(requests_to(platforms, "/channels")) == 2
    assert len(requests_to(platforms, "/playlistItems")) == 2
    [video_call] = requests_to(platforms, "/videos")
    assert video_call.args["id"] == "a1,a2,b1,b2"
    assert all(r.headers["X-Goog-Api-Key"] == "test-key" for r, _ in platforms.log)
    assert all("key" not in r.args for r, _ in platforms.log)


def reddit_post(post_id: str, created: int, title: str, *, score: int, comments: int, is_self: bool) -> dict:
    """A t3 child of /r/<name>/new.json."""
    slug = title.lower().replace(" ", "_")
    data = {"id": post_id, "name": f"t3_{post_id}", "created_utc": created, "title": title, "score": score}
    data |= {
        "num_comments": comments,
        "permalink": f"/r/python/comments/{post_id}/{slug}/",
        "is_self": is_self,
    }
    return {"kind": "t3", "data": data}


def test_reddit_reads_the_subreddits_new_posts(make_collector, ref, platforms):
    platforms.expect_request("/r/python/about.json").respond_with_json(
        {"kind": "t5", "data": {"name": "t5_2qh0y", "subscribers": 1_400_000}}
    )
    children = [
        reddit_post("1abc", 1_780_315_200, "PEP news", score=812, comments=95, is_self=True),
        reddit_post("1abd", 1_780_318_800, "A link", score=-3, comments=0, is_self=False),
    ]
    platforms.expect_request("/r/python/new.json").respond_with_json(
        {"kind": "Listing", "data": {"children": children}}
    )
    [outcome] = collected(make_collector("reddit"), [ref("reddit", "r/python")])
    assert counts(outcome.posts) == [("1abc", 812, 95, None, None), ("1abd", None, 0, None, None)]
    assert [p.post_type for p in outcome.posts] == ["post", "link"]
    assert outcome.posts[0].url == "https://www.reddit.com/r/python/comments/1abc/pep_news/"
    assert outcome.posts[0].published_at == dt.datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_a_post_without_an_id_or_a_readable_time_is_left_out_not_the_others(make_collector, ref, platforms):
    platforms.expect_request("/api/v1/accounts/lookup").respond_with_json(mastodon_account("city"))
    statuses = [
        {"id": "1", "created_at": "not a time", "content": "", "favourites_count": 1},
        {"id": "", "created_at": "2026-11-29T18:00:00Z", "content": ""},
        {"id": "3", "created_at": "2026-11-29T18:00:00Z", "content": "", "favourites_count": "many"},
        {"id": "4", "created_at": "2026-11-29T18:00:00Z", "content": "<p>fine</p>", "favourites_count": 2},
    ]
    platforms.expect_request("/api/v1/accounts/109302436954721982/statuses").respond_with_json(statuses)
    [outcome] = collected(make_collector("mastodon"), [ref("mastodon", "city@social.example")])
    assert [p.platform_post_id for p in outcome.posts] == ["4"]


@pytest.mark.parametrize("status", [404, 500])
def test_posts_that_cannot_be_read_leave_the_accounts_metrics_as_read(make_collector, ref, platforms, status):
    platforms.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_json(
        {"profiles": [profile("city.bsky.social", followers=16_000)]}
    )
    platforms.expect_request("/xrpc/app.bsky.feed.getAuthorFeed").respond_with_json(
        {"error": "InternalServerError"}, status=status
    )
    [outcome] = collected(make_collector("bluesky"), [ref("bluesky", "city.bsky.social")])
    assert (outcome.status, outcome.metrics.followers, outcome.posts) == (
        OutcomeStatus.SUCCEEDED,
        16_000,
        None,
    )


def test_a_rate_limit_wait_too_long_stops_reading_posts_but_keeps_the_metrics(make_collector, ref, platforms):
    platforms.expect_request("/api/v1/accounts/lookup").respond_with_json(mastodon_account("city"))
    platforms.expect_request("/api/v1/accounts/109302436954721982/statuses").respond_with_json(
        {"error": "Too many requests"}, status=429, headers={"Retry-After": "3600"}
    )
    accounts = [ref("mastodon", f"city{n}@social.example") for n in range(2)]
    outcomes = collected(make_collector("mastodon", max_wait=60), accounts)
    assert [(o.status, o.posts) for o in outcomes] == [(OutcomeStatus.SUCCEEDED, None)] * 2
    # The first account's posts were refused; the second's were not asked for.
    assert len(requests_to(platforms, "/api/v1/accounts/109302436954721982/statuses")) == 1


def test_a_collector_whose_posts_raise_unexpectedly_fails_no_account(ref):
    class Broken(Collector):
        platform = "github"

        def fetch_one(self, account):
            return self.succeeded(account, Metrics(followers=5), 1)

        def collect_posts(self, outcomes):
            raise RuntimeError("a bug")

    [outcome] = collect_batch(
        collector=Broken(client=object()), platform="github", batch=[ref("github", "octo")]
    )
    assert (outcome.status, outcome.metrics.followers) == (OutcomeStatus.SUCCEEDED, 5)


def test_platforms_without_a_posts_api_read_none(make_collector, ref, platforms):
    platforms.expect_request("/users/octocat").respond_with_json(
        {"login": "octocat", "id": 1, "followers": 9}
    )
    [outcome] = collected(make_collector("github"), [ref("github", "octocat")])
    assert (outcome.status, outcome.posts) == (OutcomeStatus.SUCCEEDED, None)
    assert [r.path for r, _ in platforms.log] == ["/users/octocat"]
    assert get_collector("linkedin").collect([ref("linkedin", "x")])[0].status == OutcomeStatus.SKIPPED

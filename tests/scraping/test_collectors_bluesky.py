import json

import pytest
from werkzeug import Response

from tests.scraping.conftest import requests_to

PATH = "/xrpc/app.bsky.actor.getProfiles"


def profile(handle: str, followers: int = 1200, follows: int = 300, posts: int = 4500) -> dict:
    """A profileViewDetailed as the AppView returns it."""
    did = f"did:plc:{handle.split('.')[0]:a<24}"
    return {
        "did": did,
        "handle": handle,
        "displayName": handle.split(".")[0].title(),
        "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/bafkrei@jpeg",
        "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
        "labels": [],
        "createdAt": "2023-04-12T18:00:00.000Z",
        "description": "Posting about things.",
        "indexedAt": "2024-11-01T10:00:00.000Z",
        "followersCount": followers,
        "followsCount": follows,
        "postsCount": posts,
    }


def answer_profiles(request) -> Response:
    actors = request.args.getlist("actors")
    found = [profile(a, followers=len(a) * 1000) for a in actors if not a.startswith("gone")]
    return Response(json.dumps({"profiles": found}), content_type="application/json")


def test_profiles_are_mapped(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        {"profiles": [profile("bsky.app", followers=33_012_345, follows=7, posts=812)]}
    )
    outcome = make_collector("bluesky").collect([ref("bluesky", "@bsky.app")])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers == 33_012_345
    assert outcome.metrics.following == 7
    assert outcome.metrics.posts == 812
    assert outcome.metrics.precision == "exact"
    assert outcome.metrics.external_id.startswith("did:plc:bsky")
    assert outcome.metrics.likes is None
    assert outcome.metrics.views is None
    assert outcome.attempts == 1


def test_thirty_accounts_take_two_requests(api, make_collector, ref):
    api.expect_request(PATH).respond_with_handler(answer_profiles)
    accounts = [ref("bluesky", f"user{i}.bsky.social") for i in range(30)]
    outcomes = make_collector("bluesky").collect(accounts)
    requests = requests_to(api, PATH)
    assert [len(r.args.getlist("actors")) for r in requests] == [25, 5]
    assert [o.account for o in outcomes] == accounts
    assert all(o.status == "succeeded" for o in outcomes)
    assert outcomes[12].metrics.followers == len("user12.bsky.social") * 1000


def test_known_did_is_used_instead_of_the_handle(api, make_collector, ref):
    did = "did:plc:z72i7hdynmk6r22z27h6tvur"
    api.expect_request(PATH, query_string={"actors": did}).respond_with_json(
        {"profiles": [{**profile("renamed.bsky.social"), "did": did}]}
    )
    outcome = make_collector("bluesky").collect([ref("bluesky", "old-name.bsky.social", external_id=did)])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.external_id == did


def test_missing_actor_is_not_found_and_the_rest_succeed(api, make_collector, ref):
    api.expect_request(PATH).respond_with_handler(answer_profiles)
    accounts = [
        ref("bluesky", "alice.bsky.social"),
        ref("bluesky", "gone.bsky.social"),
        ref("bluesky", "no spaces"),
    ]
    outcomes = make_collector("bluesky").collect(accounts)
    assert [o.status for o in outcomes] == ["succeeded", "failed", "failed"]
    assert "not found" in outcomes[1].error
    assert "gone.bsky.social" in outcomes[1].error
    assert outcomes[1].retryable is False
    assert "not a valid Bluesky handle" in outcomes[2].error
    # The invalid handle was never sent: it would have failed the whole batch.
    assert requests_to(api, PATH)[0].args.getlist("actors") == ["alice.bsky.social", "gone.bsky.social"]


def test_rate_limit_waits_what_the_headers_said(api, make_collector, ref, fake_time):
    reset = int(fake_time.now) + 42
    api.expect_oneshot_request(PATH).respond_with_json(
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        status=429,
        headers={
            "ratelimit-limit": "3000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
            "ratelimit-policy": "3000;w=300",
        },
    )
    api.expect_request(PATH).respond_with_json({"profiles": [profile("alice.bsky.social")]})
    outcome = make_collector("bluesky").collect([ref("bluesky", "alice.bsky.social")])[0]
    assert outcome.status == "succeeded"
    assert outcome.attempts == 2
    assert fake_time.sleeps == [pytest.approx(42)]


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(PATH).respond_with_json(
        {"error": "InternalServerError", "message": "Internal Server Error"}, status=502
    )
    api.expect_request(PATH).respond_with_json({"profiles": [profile("alice.bsky.social")]})
    outcome = make_collector("bluesky").collect([ref("bluesky", "alice.bsky.social")])[0]
    assert outcome.status == "succeeded"
    assert outcome.attempts == 2
    assert len(fake_time.sleeps) == 1


def test_permanent_error_is_reported_for_the_batch(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        {"error": "InvalidRequest", "message": "Error: actors/0 must be a valid did or a handle"}, status=400
    )
    outcomes = make_collector("bluesky").collect(
        [ref("bluesky", "a.bsky.social"), ref("bluesky", "b.bsky.social")]
    )
    assert {o.error for o in outcomes} == {"Bluesky 400: Error: actors/0 must be a valid did or a handle"}
    assert {o.status for o in outcomes} == {"failed"}
    assert len(api.log) == 1


def test_needs_no_credentials(make_collector):
    assert make_collector("bluesky").unavailable_reason() is None

import json

import pytest
from werkzeug import Response

from scraping.collectors import WaitTooLong
from tests.scraping.conftest import requests_to


def user(login: str, user_id: str) -> dict:
    return {
        "id": user_id,
        "login": login,
        "display_name": login.title(),
        "type": "",
        "broadcaster_type": "partner",
        "description": "Supporting third-party developers building Twitch integrations.",
        "profile_image_url": "https://static-cdn.jtvnw.net/jtv_user_pictures/profile.png",
        "offline_image_url": "https://static-cdn.jtvnw.net/jtv_user_pictures/offline.png",
        "view_count": 5980557,
        "created_at": "2016-12-14T20:32:28Z",
    }


def followers(total: int) -> dict:
    return {
        "total": total,
        "data": [
            {
                "user_id": "11111",
                "user_name": "UserDisplayName",
                "user_login": "userloginname",
                "followed_at": "2026-05-20T18:35:41Z",
            }
        ],
        "pagination": {"cursor": "eyJiIjpudWxsLCJhIjp7Ik9mZnNldCI6MX19"},
    }


@pytest.fixture(autouse=True)
def credentials(settings):
    settings.TWITCH_CLIENT_ID = "hof5gwx0su6owfnys0yan9c87zr6t"
    settings.TWITCH_TOKEN = "cfabdegwdoklmawdzdo98xt2fo512y"


AUTH = {
    "Client-Id": "hof5gwx0su6owfnys0yan9c87zr6t",
    "Authorization": "Bearer cfabdegwdoklmawdzdo98xt2fo512y",
}


def answer_users(request) -> Response:
    data = [
        user(login, str(1000 + i)) for i, login in enumerate(request.args.getlist("login")) if login != "gone"
    ]
    data += [user(f"user{uid}", uid) for uid in request.args.getlist("id")]
    return Response(json.dumps({"data": data}), content_type="application/json")


def answer_followers(request) -> Response:
    return Response(
        json.dumps(followers(int(request.args["broadcaster_id"]) * 10)), content_type="application/json"
    )


def test_users_then_follower_totals(api, make_collector, ref):
    api.expect_request("/users", headers=AUTH).respond_with_json({"data": [user("twitchdev", "141981764")]})
    api.expect_request(
        "/channels/followers", query_string={"broadcaster_id": "141981764", "first": "1"}, headers=AUTH
    ).respond_with_json(followers(8_213))
    outcome = make_collector("twitch").collect([ref("twitch", "TwitchDev")])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers == 8_213
    assert outcome.metrics.following is None
    assert outcome.metrics.views is None
    assert outcome.metrics.external_id == "141981764"
    assert outcome.attempts == 2


def test_logins_are_batched_and_known_ids_looked_up_by_id(api, make_collector, ref):
    api.expect_request("/users").respond_with_handler(answer_users)
    api.expect_request("/channels/followers").respond_with_handler(answer_followers)
    accounts = [ref("twitch", f"streamer{i}") for i in range(120)] + [
        ref("twitch", "renamed", external_id="777")
    ]
    outcomes = make_collector("twitch").collect(accounts)
    lookups = requests_to(api, "/users")
    assert [len(r.args.getlist("login")) + len(r.args.getlist("id")) for r in lookups] == [100, 21]
    assert lookups[1].args.getlist("id") == ["777"]
    assert all(o.status == "succeeded" for o in outcomes)
    assert outcomes[0].metrics.followers == 10_000
    assert outcomes[-1].metrics.followers == 7_770
    assert outcomes[-1].metrics.external_id == "777"


def test_unknown_login_is_not_found(api, make_collector, ref):
    api.expect_request("/users").respond_with_handler(answer_users)
    api.expect_request("/channels/followers").respond_with_handler(answer_followers)
    outcomes = make_collector("twitch").collect(
        [ref("twitch", "gone"), ref("twitch", "alive"), ref("twitch", "bad-name")]
    )
    assert [o.status for o in outcomes] == ["failed", "succeeded", "failed"]
    assert outcomes[0].error == "Twitch has no user with login 'gone' (renamed, suspended or deleted)"
    assert "not a valid Twitch login" in outcomes[2].error


def test_rate_limit_waits_until_the_epoch_reset(api, make_collector, ref, fake_time):
    api.expect_request("/users").respond_with_json({"data": [user("twitchdev", "141981764")]})
    api.expect_oneshot_request("/channels/followers").respond_with_json(
        {"error": "Too Many Requests", "status": 429, "message": "Too Many Requests"},
        status=429,
        headers={
            "Ratelimit-Limit": "800",
            "Ratelimit-Remaining": "0",
            "Ratelimit-Reset": str(int(fake_time.now) + 9),
        },
    )
    api.expect_request("/channels/followers").respond_with_json(followers(8_213))
    outcome = make_collector("twitch").collect([ref("twitch", "twitchdev")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 3)
    assert fake_time.sleeps == [pytest.approx(9)]


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request("/users").respond_with_json(
        {"error": "Internal Server Error", "status": 500, "message": ""}, status=500
    )
    api.expect_request("/users").respond_with_json({"data": [user("twitchdev", "141981764")]})
    api.expect_request("/channels/followers").respond_with_json(followers(8_213))
    outcome = make_collector("twitch").collect([ref("twitch", "twitchdev")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 3)
    assert len(fake_time.sleeps) == 1


def test_invalid_token_is_reported(api, make_collector, ref):
    api.expect_request("/users").respond_with_json(
        {"error": "Unauthorized", "status": 401, "message": "Invalid OAuth token"}, status=401
    )
    outcomes = make_collector("twitch").collect([ref("twitch", "twitchdev"), ref("twitch", "shroud")])
    assert {(o.status, o.error, o.retryable) for o in outcomes} == {
        ("failed", "Twitch 401: Invalid OAuth token", False)
    }


@pytest.mark.parametrize(
    ("client_id", "token", "reason"),
    [
        ("", "tok", "TWITCH_CLIENT_ID is not set"),
        ("id", "", "TWITCH_TOKEN is not set"),
        ("", "", "TWITCH_CLIENT_ID and TWITCH_TOKEN are not set"),
    ],
)
def test_missing_credentials_skip(settings, make_collector, ref, api, client_id, token, reason):
    settings.TWITCH_CLIENT_ID = client_id
    settings.TWITCH_TOKEN = token
    outcome = make_collector("twitch").collect([ref("twitch", "twitchdev")])[0]
    assert (outcome.status, outcome.error) == ("skipped", reason)
    assert api.log == []


def test_long_wait_mid_batch_keeps_the_totals_already_read(api, make_collector, ref, fake_time):
    api.expect_request("/users").respond_with_handler(answer_users)
    api.expect_oneshot_request("/channels/followers").respond_with_json(followers(55))
    api.expect_request("/channels/followers").respond_with_json(
        {"error": "Too Many Requests", "status": 429, "message": "Too Many Requests"},
        status=429,
        headers={"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(int(fake_time.now) + 600)},
    )
    accounts = [
        ref("twitch", "first"),
        ref("twitch", "gone"),
        ref("twitch", "third"),
        ref("twitch", "fourth"),
    ]
    with pytest.raises(WaitTooLong) as raised:
        make_collector("twitch").collect(accounts)
    assert raised.value.wait_seconds == pytest.approx(600)
    decided = {o.account.handle: (o.status, o.metrics and o.metrics.followers) for o in raised.value.outcomes}
    assert decided == {"first": ("succeeded", 55), "gone": ("failed", None)}

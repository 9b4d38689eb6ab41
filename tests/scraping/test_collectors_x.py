import json

import pytest
from werkzeug import Response

from tests.scraping.conftest import requests_to

PATH = "/users/by"


def user(username: str, followers: int = 5000, following: int = 120, tweets: int = 9000) -> dict:
    return {
        "id": str(abs(hash(username)) % 10**18),
        "name": username.title(),
        "username": username,
        "public_metrics": {
            "followers_count": followers,
            "following_count": following,
            "tweet_count": tweets,
            "listed_count": 310,
            "like_count": 4100,
            "media_count": 820,
        },
    }


def not_found(username: str) -> dict:
    return {
        "value": username,
        "detail": f"Could not find user with usernames: [{username}].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": "usernames",
        "resource_id": username,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


def suspended(username: str) -> dict:
    return {
        "value": username,
        "detail": f"User has been suspended: [{username}].",
        "title": "Forbidden",
        "resource_type": "user",
        "parameter": "usernames",
        "resource_id": username,
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }


@pytest.fixture(autouse=True)
def bearer(settings):
    settings.X_BEARER_TOKEN = "AAAA-test-bearer"


def answer_users(request) -> Response:
    names = request.args["usernames"].split(",")
    body = {"data": [user(n, followers=len(n)) for n in names]}
    return Response(json.dumps(body), content_type="application/json")


def test_users_are_mapped(api, make_collector, ref):
    api.expect_request(
        PATH,
        query_string={"usernames": "xdevelopers", "user.fields": "public_metrics"},
        headers={"Authorization": "Bearer AAAA-test-bearer"},
    ).respond_with_json({"data": [{**user("XDevelopers", 712_000, 1900, 4100), "id": "2244994945"}]})
    outcome = make_collector("x").collect([ref("x", "@XDevelopers")])[0]
    assert outcome.status == "succeeded"
    assert (outcome.metrics.followers, outcome.metrics.following, outcome.metrics.posts) == (
        712_000,
        1900,
        4100,
    )
    assert outcome.metrics.likes is None  # like_count is what the user liked, not a day's likes
    assert outcome.metrics.external_id == "2244994945"


def test_150_accounts_take_two_requests(api, make_collector, ref):
    api.expect_request(PATH).respond_with_handler(answer_users)
    accounts = [ref("x", f"user_{i}") for i in range(150)]
    outcomes = make_collector("x").collect(accounts)
    assert [len(r.args["usernames"].split(",")) for r in requests_to(api, PATH)] == [100, 50]
    assert all(o.status == "succeeded" for o in outcomes)
    assert outcomes[149].metrics.followers == len("user_149")


def test_errors_array_reports_missing_and_suspended_users(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        {"data": [user("jack")], "errors": [not_found("nobody_xyz_123"), suspended("spam_bot")]}
    )
    outcomes = make_collector("x").collect(
        [ref("x", "jack"), ref("x", "nobody_xyz_123"), ref("x", "spam_bot"), ref("x", "not a name!")]
    )
    assert [o.status for o in outcomes] == ["succeeded", "failed", "failed", "failed"]
    assert outcomes[1].error == "X: Could not find user with usernames: [nobody_xyz_123]."
    assert outcomes[2].error == "X: User has been suspended: [spam_bot]."
    assert "not a valid X username" in outcomes[3].error
    assert requests_to(api, PATH)[0].args["usernames"] == "jack,nobody_xyz_123,spam_bot"


def test_rate_limit_waits_until_the_epoch_reset(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(PATH).respond_with_json(
        {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        status=429,
        headers={
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(fake_time.now) + 55),
        },
    )
    api.expect_request(PATH).respond_with_json({"data": [user("jack")]})
    outcome = make_collector("x").collect([ref("x", "jack")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert fake_time.sleeps == [pytest.approx(55)]


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(PATH).respond_with_json(
        {
            "title": "Service Unavailable",
            "detail": "Service Unavailable",
            "type": "about:blank",
            "status": 503,
        },
        status=503,
    )
    api.expect_request(PATH).respond_with_json({"data": [user("jack")]})
    outcome = make_collector("x").collect([ref("x", "jack")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert len(fake_time.sleeps) == 1


def test_bad_token_is_reported(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}, status=401
    )
    outcome = make_collector("x").collect([ref("x", "jack")])[0]
    assert (outcome.status, outcome.error, outcome.retryable) == ("failed", "X 401: Unauthorized", False)


def test_missing_token_skips(settings, make_collector, ref, api):
    settings.X_BEARER_TOKEN = ""
    outcome = make_collector("x").collect([ref("x", "jack")])[0]
    assert (outcome.status, outcome.error) == ("skipped", "X_BEARER_TOKEN is not set")
    assert api.log == []

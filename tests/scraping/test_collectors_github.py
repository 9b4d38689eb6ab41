import pytest

from scraping.collectors import WaitTooLong

OCTOCAT = {
    "login": "octocat",
    "id": 583231,
    "node_id": "MDQ6VXNlcjU4MzIzMQ==",
    "avatar_url": "https://avatars.githubusercontent.com/u/583231?v=4",
    "html_url": "https://github.com/octocat",
    "type": "User",
    "site_admin": False,
    "name": "The Octocat",
    "company": "@github",
    "blog": "https://github.blog",
    "location": "San Francisco",
    "public_repos": 8,
    "public_gists": 8,
    "followers": 21980,
    "following": 9,
    "created_at": "2011-01-25T18:44:36Z",
    "updated_at": "2026-05-22T11:23:14Z",
}
NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest/users/users#get-a-user",
    "status": "404",
}
PRIMARY_LIMIT = {
    "message": "API rate limit exceeded for 203.0.113.9. (But here's the good news: Authenticated requests "
    "get a higher rate limit. Check out the documentation for more details.)",
    "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
}
SECONDARY_LIMIT = {
    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}


def rate_headers(fake_time, remaining: int, reset_in: int) -> dict:
    return {
        "x-ratelimit-limit": "60",
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-used": str(60 - remaining),
        "x-ratelimit-reset": str(int(fake_time.now) + reset_in),
        "x-ratelimit-resource": "core",
    }


def test_user_is_mapped(api, make_collector, ref, fake_time, settings):
    settings.GITHUB_TOKEN = ""
    api.expect_request("/users/octocat").respond_with_json(OCTOCAT, headers=rate_headers(fake_time, 59, 3600))
    outcome = make_collector("github").collect([ref("github", "octocat")])[0]
    assert outcome.status == "succeeded"
    assert (outcome.metrics.followers, outcome.metrics.following, outcome.metrics.posts) == (21980, 9, 8)
    assert outcome.metrics.external_id == "583231"
    request = api.log[0][0]
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert "Authorization" not in request.headers


def test_token_is_sent_when_set(api, make_collector, ref, settings):
    settings.GITHUB_TOKEN = "ghp_testtoken"
    api.expect_request("/users/octocat", headers={"Authorization": "Bearer ghp_testtoken"}).respond_with_json(
        OCTOCAT
    )
    assert make_collector("github").collect([ref("github", "octocat")])[0].status == "succeeded"


def test_secondary_rate_limit_waits_for_retry_after(api, make_collector, ref, fake_time):
    api.expect_oneshot_request("/users/octocat").respond_with_json(
        SECONDARY_LIMIT, status=403, headers={"retry-after": "45"}
    )
    api.expect_request("/users/octocat").respond_with_json(OCTOCAT)
    outcome = make_collector("github").collect([ref("github", "octocat")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert fake_time.sleeps == [45.0]


def test_primary_rate_limit_waits_until_the_reset(api, make_collector, ref, fake_time):
    api.expect_oneshot_request("/users/octocat").respond_with_json(
        PRIMARY_LIMIT, status=403, headers=rate_headers(fake_time, 0, 30)
    )
    api.expect_request("/users/octocat").respond_with_json(OCTOCAT)
    outcome = make_collector("github").collect([ref("github", "octocat")])[0]
    assert outcome.status == "succeeded"
    assert fake_time.sleeps == [pytest.approx(30)]


def test_primary_rate_limit_beyond_max_wait_defers(api, make_collector, ref, fake_time):
    api.expect_request("/users/octocat").respond_with_json(
        PRIMARY_LIMIT, status=403, headers=rate_headers(fake_time, 0, 2400)
    )
    with pytest.raises(WaitTooLong) as raised:
        make_collector("github", max_wait=60).collect([ref("github", "octocat"), ref("github", "torvalds")])
    assert raised.value.wait_seconds == pytest.approx(2400)
    assert raised.value.outcomes == []
    assert len(api.log) == 1


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request("/users/octocat").respond_with_data("Server Error", status=500)
    api.expect_request("/users/octocat").respond_with_json(OCTOCAT)
    outcome = make_collector("github").collect([ref("github", "octocat")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert len(fake_time.sleeps) == 1


def test_unknown_user_is_not_found_and_not_retried(api, make_collector, ref, fake_time):
    api.expect_request("/users/no-such-user-xyz").respond_with_json(NOT_FOUND, status=404)
    outcome = make_collector("github").collect([ref("github", "no-such-user-xyz")])[0]
    assert (outcome.status, outcome.error, outcome.retryable, outcome.attempts) == (
        "failed",
        "GitHub 404: Not Found",
        False,
        1,
    )
    assert fake_time.sleeps == []


def test_invalid_login_never_reaches_the_api(api, make_collector, ref):
    outcome = make_collector("github").collect([ref("github", "../orgs/github")])[0]
    assert outcome.status == "failed"
    assert "not a valid GitHub login" in outcome.error
    assert api.log == []


def test_works_without_a_token(make_collector, settings):
    settings.GITHUB_TOKEN = ""
    assert make_collector("github").unavailable_reason() is None

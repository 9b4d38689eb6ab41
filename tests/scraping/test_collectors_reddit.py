import pytest

from scraping.collectors.base import DEFAULT_USER_AGENT

PYTHON = {
    "kind": "t5",
    "data": {
        "display_name": "Python",
        "title": "Python",
        "name": "t5_2qh0y",
        "display_name_prefixed": "r/Python",
        "subscribers": 1_402_317,
        "active_user_count": 812,
        "subreddit_type": "public",
        "over18": False,
        "created_utc": 1201230879.0,
        "url": "/r/Python/",
        "public_description": "The official Python community for Reddit!",
    },
}


def test_subreddit_is_mapped_with_a_descriptive_user_agent(api, make_collector, ref):
    api.expect_request("/r/Python/about.json", query_string={"raw_json": "1"}).respond_with_json(
        PYTHON, headers={"x-ratelimit-used": "1", "x-ratelimit-remaining": "9.0", "x-ratelimit-reset": "41"}
    )
    outcome = make_collector("reddit").collect([ref("reddit", "r/Python")])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers == 1_402_317
    assert outcome.metrics.following is None
    assert outcome.metrics.posts is None
    assert outcome.metrics.external_id == "t5_2qh0y"
    assert api.log[0][0].headers["User-Agent"] == DEFAULT_USER_AGENT


def test_rate_limit_waits_the_seconds_reddit_said(api, make_collector, ref, fake_time):
    api.expect_oneshot_request("/r/Python/about.json").respond_with_json(
        {"message": "Too Many Requests", "error": 429},
        status=429,
        headers={"x-ratelimit-used": "10", "x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "37"},
    )
    api.expect_request("/r/Python/about.json").respond_with_json(PYTHON)
    outcome = make_collector("reddit").collect([ref("reddit", "Python")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert fake_time.sleeps == [37.0]


def test_exhausted_budget_on_success_delays_the_next_request(api, make_collector, ref, fake_time):
    api.expect_request("/r/Python/about.json").respond_with_json(
        PYTHON, headers={"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "12"}
    )
    outcomes = make_collector("reddit").collect([ref("reddit", "Python"), ref("reddit", "r/Python")])
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
    assert fake_time.sleeps == [12.0]


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request("/r/Python/about.json").respond_with_data(
        "<html><body><h1>503 Service Unavailable</h1></body></html>", status=503, content_type="text/html"
    )
    api.expect_request("/r/Python/about.json").respond_with_json(PYTHON)
    outcome = make_collector("reddit").collect([ref("reddit", "Python")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert len(fake_time.sleeps) == 1


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            403,
            {"reason": "private", "message": "Forbidden", "error": 403},
            "Reddit 403: the subreddit is private: Forbidden",
        ),
        (
            404,
            {"reason": "banned", "message": "Not Found", "error": 404},
            "Reddit 404: the subreddit is banned: Not Found",
        ),
        (
            403,
            {
                "reason": "quarantined",
                "quarantine_message": "This community is quarantined.",
                "message": "Forbidden",
                "error": 403,
            },
            "Reddit 403: the subreddit is quarantined (needs an opted-in login): "
            "This community is quarantined.",
        ),
        (404, {"message": "Not Found", "error": 404}, "Reddit 404: Not Found"),
    ],
)
def test_unavailable_subreddits_are_reported_in_reddits_words(
    api, make_collector, ref, status, body, error, fake_time
):
    api.expect_request("/r/somesub/about.json").respond_with_json(body, status=status)
    outcome = make_collector("reddit").collect([ref("reddit", "somesub")])[0]
    assert (outcome.status, outcome.error, outcome.retryable, outcome.attempts) == ("failed", error, False, 1)
    assert fake_time.sleeps == []


def test_search_redirect_or_listing_means_no_such_subreddit(api, make_collector, ref):
    api.expect_request("/r/nosuchsubxyz/about.json").respond_with_data(
        "", status=302, headers={"Location": "https://www.reddit.com/subreddits/search.json?q=nosuchsubxyz"}
    )
    api.expect_request("/r/othersub/about.json").respond_with_json(
        {"kind": "Listing", "data": {"after": None, "dist": 0, "children": [], "before": None}}
    )
    outcomes = make_collector("reddit").collect([ref("reddit", "nosuchsubxyz"), ref("reddit", "othersub")])
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert outcomes[0].error.startswith("Reddit 302: no such subreddit")
    assert outcomes[1].error == "Reddit has no subreddit r/othersub"


def test_user_profiles_are_refused_clearly(api, make_collector, ref):
    outcome = make_collector("reddit").collect([ref("reddit", "u/spez")])[0]
    assert outcome.status == "failed"
    assert "user profiles are not collected" in outcome.error
    assert api.log == []


def test_needs_no_credentials(make_collector):
    assert make_collector("reddit").unavailable_reason() is None

"""The shared machinery: records, the registry, outcomes in order, retries, the rate-limit path."""

import httpx
import pytest

from scraping.collectors import (
    AccountRef,
    Collector,
    Metrics,
    NoCollector,
    Outcome,
    PlatformError,
    WaitTooLong,
    get_collector,
)
from scraping.collectors.base import DEFAULT_USER_AGENT, api_count, error_words, make_client
from scraping.collectors.bluesky import BlueskyCollector
from scraping.collectors.github import GitHubCollector
from scraping.collectors.meta import FacebookCollector, InstagramCollector
from scraping.ratelimit import InProcessRateLimiter

GITHUB_USER = {
    "login": "octocat",
    "id": 583231,
    "node_id": "MDQ6VXNlcjU4MzIzMQ==",
    "type": "User",
    "name": "The Octocat",
    "public_repos": 8,
    "public_gists": 8,
    "followers": 21980,
    "following": 9,
    "created_at": "2011-01-25T18:44:36Z",
}


def mock_client(*answers) -> httpx.Client:
    """A client answering from a script: each item is a Response, an exception to raise, or a callable."""
    script = list(answers)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    client = httpx.Client(transport=httpx.MockTransport(handle), headers=make_client().headers)
    client.seen = seen
    return client


def github(client, limiter, fake_time, **kwargs) -> GitHubCollector:
    return GitHubCollector(
        client=client, limiter=limiter, clock=fake_time.clock, sleep=fake_time.sleep, **kwargs
    )


def test_metrics_is_empty_only_without_any_count():
    assert Metrics().is_empty()
    assert Metrics(external_id="did:plc:x", precision="rounded").is_empty()
    assert not Metrics(followers=0).is_empty()
    assert not Metrics(posts=3).is_empty()
    assert Metrics(followers=5).counts()["followers"] == 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (0, 0), (1234, 1234), ("1234", 1234), ("1.2K", 1200), (-1, None), (12.0, 12)],
)
def test_api_count_reads_counts_and_never_invents(value, expected):
    assert api_count(value) == expected


@pytest.mark.parametrize("value", [True, "lots", [1], {"n": 1}, 1.5])
def test_api_count_rejects_malformed_values(value):
    with pytest.raises(PlatformError):
        api_count(value)


def test_error_words_reads_the_usual_shapes():
    assert error_words({"message": "Not Found", "documentation_url": "x"}) == "Not Found"
    assert error_words({"error": {"message": "Invalid OAuth access token.", "code": 190}}) == (
        "Invalid OAuth access token."
    )
    assert error_words({"error": "Record not found"}) == "Record not found"
    assert error_words({"title": "Unauthorized", "detail": "Unauthorized", "status": 401}) == "Unauthorized"
    assert error_words({"errors": [{"message": "Rate limit exceeded", "code": 88}]}) == "Rate limit exceeded"
    assert (
        error_words({"error": {"message": 'exceeded your <a href="/q">quota</a>.'}}) == "exceeded your quota."
    )
    assert error_words(None) == ""


@pytest.mark.parametrize(
    ("platform", "collector_class"),
    [
        ("bluesky", BlueskyCollector),
        ("github", GitHubCollector),
        ("instagram", InstagramCollector),
        ("facebook", FacebookCollector),
    ],
)
def test_registry_returns_the_platform_collector(platform, collector_class, limiter):
    collector = get_collector(platform, client=make_client(), limiter=limiter)
    assert isinstance(collector, collector_class)
    assert isinstance(collector, Collector)
    assert collector.platform == platform


@pytest.mark.parametrize(
    ("platform", "label"),
    [
        ("linkedin", "LinkedIn"),
        ("tiktok", "TikTok"),
        ("truth_social", "Truth Social"),
        ("flickr", "Flickr"),
        ("threads", "Threads"),
    ],
)
def test_platforms_without_an_api_are_skipped_with_the_reason(platform, label, ref):
    collector = get_collector(platform)
    assert isinstance(collector, NoCollector)
    assert collector.unavailable_reason() == f"no public API for {label}"
    accounts = [ref(platform, "someone"), ref(platform, "other")]
    outcomes = collector.collect(accounts)
    assert [o.account for o in outcomes] == accounts
    assert {o.status for o in outcomes} == {"skipped"}
    assert all(o.metrics is None and o.error == f"no public API for {label}" for o in outcomes)


def test_unknown_platform_is_no_collector(ref):
    outcome = get_collector("myspace").collect([ref("myspace", "tom")])[0]
    assert outcome.status == "skipped"
    assert "no collector for platform 'myspace'" in outcome.error


def test_one_outcome_per_account_in_input_order(limiter, fake_time, ref):
    def answer(request: httpx.Request) -> httpx.Response:
        login = request.url.path.rsplit("/", 1)[-1]
        if login == "ghost-user":
            return httpx.Response(404, json={"message": "Not Found", "status": "404"})
        return httpx.Response(200, json={**GITHUB_USER, "login": login, "followers": len(login)})

    accounts = [
        ref("github", "bb"),
        ref("github", "ghost-user"),
        ref("github", "a"),
        ref("bluesky", "x.bsky.social"),
    ]
    outcomes = github(mock_client(answer), limiter, fake_time).collect(accounts)
    assert [o.account for o in outcomes] == accounts
    assert [o.status for o in outcomes] == ["succeeded", "failed", "succeeded", "failed"]
    assert outcomes[0].metrics.followers == 2
    assert outcomes[2].metrics.followers == 1
    assert outcomes[1].error == "GitHub 404: Not Found"
    assert outcomes[3].error == "GitHub collector cannot read a Bluesky account"


def test_an_answer_without_counts_is_a_failure_not_zeros(limiter, fake_time, ref):
    empty = {"login": "octocat", "id": 583231, "type": "User"}
    outcome = github(mock_client(httpx.Response(200, json=empty)), limiter, fake_time).collect(
        [ref("github", "octocat")]
    )[0]
    assert outcome.status == "failed"
    assert outcome.metrics is None
    assert "returned no follower, following or post count" in outcome.error


def test_timeouts_are_retried_with_backoff(limiter, fake_time, ref):
    client = mock_client(httpx.ReadTimeout("timed out"), httpx.Response(200, json=GITHUB_USER))
    outcome = github(client, limiter, fake_time).collect([ref("github", "octocat")])[0]
    assert outcome.status == "succeeded"
    assert outcome.attempts == 2
    assert len(fake_time.sleeps) == 1
    assert 1.0 <= fake_time.sleeps[0] <= 2.0  # exponential backoff, first step, plus jitter


def test_transient_failures_stop_after_three_attempts(limiter, fake_time, ref):
    client = mock_client(httpx.ConnectError("[Errno 111] Connection refused"))
    outcome = github(client, limiter, fake_time).collect([ref("github", "octocat")])[0]
    assert outcome.status == "failed"
    assert outcome.retryable is True
    assert outcome.attempts == 3
    assert len(client.seen) == 3
    assert outcome.error == "could not reach GitHub: ConnectError: [Errno 111] Connection refused"
    assert len(fake_time.sleeps) == 2
    assert fake_time.sleeps[1] >= 2.0  # grows exponentially


def test_permanent_errors_are_not_retried(limiter, fake_time, ref):
    client = mock_client(httpx.Response(401, json={"message": "Bad credentials", "status": "401"}))
    outcome = github(client, limiter, fake_time).collect([ref("github", "octocat")])[0]
    assert (outcome.status, outcome.error, outcome.attempts, outcome.retryable) == (
        "failed",
        "GitHub 401: Bad credentials",
        1,
        False,
    )
    assert fake_time.sleeps == []


def test_non_json_success_is_a_failure(limiter, fake_time, ref):
    page = httpx.Response(200, text="<html>Sign in</html>", headers={"content-type": "text/html"})
    outcome = github(mock_client(page), limiter, fake_time).collect([ref("github", "octocat")])[0]
    assert outcome.status == "failed"
    assert "non-JSON body (text/html)" in outcome.error


def test_wait_too_long_leaves_collect_with_the_outcomes_so_far(limiter, fake_time, ref):
    limited = httpx.Response(
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(fake_time.now) + 1800)},
        json={"message": "API rate limit exceeded for 203.0.113.9."},
    )
    client = mock_client(httpx.Response(200, json=GITHUB_USER), limited)
    accounts = [ref("github", "octocat"), ref("github", "torvalds"), ref("github", "gvanrossum")]
    with pytest.raises(WaitTooLong) as raised:
        github(client, limiter, fake_time, max_wait=60).collect(accounts)
    assert raised.value.platform == "github"
    assert raised.value.wait_seconds == pytest.approx(1800)
    assert [o.account for o in raised.value.outcomes] == accounts[:1]
    assert raised.value.outcomes[0].status == "succeeded"
    assert len(client.seen) == 2  # nothing sent after the limit
    assert fake_time.sleeps == []


def test_limiter_budget_is_used_for_every_request(fake_time, ref):
    limiter = InProcessRateLimiter(limits={"github": (2, 3600)}, clock=fake_time.clock, sleep=fake_time.sleep)
    client = mock_client(httpx.Response(200, json=GITHUB_USER))
    accounts = [ref("github", f"user{i}") for i in range(3)]
    with pytest.raises(WaitTooLong) as raised:
        github(client, limiter, fake_time).collect(accounts)
    assert len(client.seen) == 2
    assert len(raised.value.outcomes) == 2


def test_requests_carry_our_user_agent(limiter, fake_time, ref):
    client = mock_client(httpx.Response(200, json=GITHUB_USER))
    github(client, limiter, fake_time).collect([ref("github", "octocat")])
    assert client.seen[0].headers["user-agent"] == DEFAULT_USER_AGENT


def test_user_agent_comes_from_settings(settings):
    settings.SOCIALMETRICS_USER_AGENT = "acme-metrics/2.0 (+https://acme.example)"
    with make_client() as client:
        assert client.headers["user-agent"] == "acme-metrics/2.0 (+https://acme.example)"


def test_outcome_defaults():
    outcome = Outcome(AccountRef(1, "x", "jack"), "skipped")
    assert (outcome.metrics, outcome.error, outcome.attempts, outcome.retryable) == (None, "", 0, False)

import httpx
import pytest

from scraping.collectors import WaitTooLong, get_collector

PATH = "/api/v1/accounts/lookup"


def account(username: str, **overrides) -> dict:
    """An Account entity as /api/v1/accounts/lookup returns it."""
    return {
        "id": "109302436954721982",
        "username": username,
        "acct": username,
        "display_name": username.title(),
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2022-11-08T00:00:00.000Z",
        "note": "<p>Hello</p>",
        "url": f"https://mastodon.social/@{username}",
        "avatar": "https://files.mastodon.social/accounts/avatars/original/a.png",
        "header": "https://files.mastodon.social/accounts/headers/original/h.png",
        "followers_count": 15230,
        "following_count": 412,
        "statuses_count": 3321,
        "last_status_at": "2026-05-31",
        "emojis": [],
        "fields": [],
        **overrides,
    }


RATE_HEADERS = {
    "X-RateLimit-Limit": "300",
    "X-RateLimit-Remaining": "299",
    "X-RateLimit-Reset": "2026-06-01T12:05:00.000Z",
}


def test_account_is_mapped(api, make_collector, ref):
    api.expect_request(PATH, query_string={"acct": "Gargron"}).respond_with_json(
        account("Gargron"), headers=RATE_HEADERS
    )
    outcome = make_collector("mastodon").collect(
        [ref("mastodon", "Gargron@mastodon.social", instance_host="mastodon.social")]
    )[0]
    assert outcome.status == "succeeded"
    assert (outcome.metrics.followers, outcome.metrics.following, outcome.metrics.posts) == (15230, 412, 3321)
    assert outcome.metrics.external_id == "109302436954721982"


def test_goes_to_the_accounts_own_instance(settings, limiter, fake_time, ref):
    settings.SOCIALMETRICS_MASTODON_BASE_URL = ""
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=account("alice"))

    client = httpx.Client(transport=httpx.MockTransport(answer))
    collector = get_collector("mastodon", client=client, limiter=limiter, sleep=fake_time.sleep)
    collector.collect(
        [ref("mastodon", "@alice@Fosstodon.org"), ref("mastodon", "bob", instance_host="hachyderm.io")]
    )
    assert seen == [
        "https://fosstodon.org/api/v1/accounts/lookup?acct=alice",
        "https://hachyderm.io/api/v1/accounts/lookup?acct=bob",
    ]


def test_hidden_follower_count_is_none_not_zero(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(account("quiet", followers_count=-1))
    outcome = make_collector("mastodon").collect([ref("mastodon", "quiet@mastodon.social")])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers is None
    assert outcome.metrics.posts == 3321


def test_rate_limit_waits_until_the_iso_reset(api, make_collector, ref, fake_time):
    # The fake clock is 2026-06-01T12:00:00Z; Mastodon says the window resets at 12:00:30.
    api.expect_oneshot_request(PATH).respond_with_json(
        {"error": "Too many requests"},
        status=429,
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2026-06-01T12:00:30.000Z",
        },
    )
    api.expect_request(PATH).respond_with_json(account("Gargron"))
    outcome = make_collector("mastodon").collect([ref("mastodon", "Gargron@mastodon.social")])[0]
    assert outcome.status == "succeeded"
    assert fake_time.sleeps == [pytest.approx(30)]


def test_long_rate_limit_raises_wait_too_long(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        {"error": "Too many requests"},
        status=429,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-06-01T12:04:00.000Z"},
    )
    with pytest.raises(WaitTooLong) as raised:
        make_collector("mastodon").collect([ref("mastodon", "Gargron@mastodon.social")])
    assert raised.value.platform == "mastodon:mastodon.social"
    assert raised.value.wait_seconds == pytest.approx(240)


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(PATH).respond_with_data("<html>502 Bad Gateway</html>", status=502)
    api.expect_request(PATH).respond_with_json(account("Gargron"))
    outcome = make_collector("mastodon").collect([ref("mastodon", "Gargron@mastodon.social")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert len(fake_time.sleeps) == 1


@pytest.mark.parametrize(
    ("status", "body", "error", "retryable"),
    [
        (404, {"error": "Record not found"}, "Mastodon 404: Record not found", False),
        (
            401,
            {"error": "This API requires an authenticated user"},
            "Mastodon 401: This API requires an authenticated user",
            False,
        ),
    ],
)
def test_permanent_errors_are_reported(api, make_collector, ref, status, body, error, retryable):
    api.expect_request(PATH).respond_with_json(body, status=status)
    outcome = make_collector("mastodon").collect([ref("mastodon", "nobody@mastodon.social")])[0]
    assert (outcome.status, outcome.error, outcome.retryable, outcome.attempts) == (
        "failed",
        error,
        retryable,
        1,
    )


def test_suspended_account_is_failed_not_zeros(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        account("spammer", suspended=True, followers_count=0, following_count=0, statuses_count=0)
    )
    outcome = make_collector("mastodon").collect([ref("mastodon", "spammer@mastodon.social")])[0]
    assert outcome.status == "failed"
    assert outcome.metrics is None
    assert outcome.error == "spammer@mastodon.social is suspended on mastodon.social"


def test_address_without_instance_is_failed_without_a_request(api, make_collector, ref):
    outcome = make_collector("mastodon").collect([ref("mastodon", "justaname")])[0]
    assert outcome.status == "failed"
    assert "not a Mastodon address" in outcome.error
    assert api.log == []


def test_needs_no_credentials(make_collector):
    assert make_collector("mastodon").unavailable_reason() is None

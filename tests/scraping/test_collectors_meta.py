import pytest

from scraping.collectors import WaitTooLong

BUSINESS_ID = "17841405309211844"
DISCOVERY = "business_discovery.username({}){{id,username,followers_count,follows_count,media_count}}"


def discovery(username: str, followers: int = 267_793, follows: int = 1_021, media: int = 1_205) -> dict:
    return {
        "business_discovery": {
            "id": "17841401441775531",
            "username": username,
            "followers_count": followers,
            "follows_count": follows,
            "media_count": media,
        },
        "id": BUSINESS_ID,
    }


def graph_error(
    message: str, code: int, subcode: int | None = None, transient: bool = False, **extra
) -> dict:
    error = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "is_transient": transient,
        "fbtrace_id": "AbCdEfGhIjK",
        **extra,
    }
    if subcode:
        error["error_subcode"] = subcode
    return {"error": error}


USER_NOT_FOUND = graph_error(
    "Invalid user id",
    110,
    2207013,
    error_user_title="Cannot find User",
    error_user_msg="The user with username: nosuchuser cannot be found.",
)
APP_LIMIT = graph_error("(#4) Application request limit reached", 4, transient=True)
TOKEN_EXPIRED = graph_error(
    "Error validating access token: Session has expired on Monday, 01-Jun-26 10:00:00 PDT.", 190, 463
)


@pytest.fixture(autouse=True)
def credentials(settings):
    settings.META_ACCESS_TOKEN = "EAAB-test-token"
    settings.INSTAGRAM_BUSINESS_ID = BUSINESS_ID


def test_instagram_business_discovery_is_mapped(api, make_collector, ref):
    api.expect_request(
        f"/{BUSINESS_ID}",
        query_string={"fields": DISCOVERY.format("bluebottle")},
        headers={"Authorization": "Bearer EAAB-test-token"},
    ).respond_with_json(discovery("bluebottle"))
    outcome = make_collector("instagram").collect([ref("instagram", "@bluebottle")])[0]
    assert outcome.status == "succeeded"
    assert (outcome.metrics.followers, outcome.metrics.following, outcome.metrics.posts) == (
        267_793,
        1_021,
        1_205,
    )
    assert outcome.metrics.external_id == "17841401441775531"


def test_facebook_page_is_mapped(api, make_collector, ref):
    api.expect_request(
        "/nasa",
        query_string={"fields": "id,name,followers_count,fan_count"},
        headers={"Authorization": "Bearer EAAB-test-token"},
    ).respond_with_json(
        {
            "id": "54971236771",
            "name": "NASA - National Aeronautics and Space Administration",
            "followers_count": 28_412_000,
            "fan_count": 26_900_000,
        }
    )
    outcome = make_collector("facebook").collect([ref("facebook", "nasa")])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers == 28_412_000
    assert outcome.metrics.likes is None  # fan_count is lifetime page likes, not a day's likes
    assert outcome.metrics.external_id == "54971236771"


def test_one_request_per_account(api, make_collector, ref):
    for name in ("a.one", "b_two", "c3"):
        api.expect_request(
            f"/{BUSINESS_ID}",
            query_string={"fields": DISCOVERY.format(name)},
        ).respond_with_json(discovery(name, followers=len(name)))
    outcomes = make_collector("instagram").collect([ref("instagram", n) for n in ("a.one", "b_two", "c3")])
    assert [o.metrics.followers for o in outcomes] == [5, 5, 2]
    assert len(api.log) == 3


def test_throttling_code_in_the_body_is_honoured(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(f"/{BUSINESS_ID}").respond_with_json(
        APP_LIMIT,
        status=403,
        headers={
            "X-App-Usage": '{"call_count": 100, "total_cputime": 12, "total_time": 40}',
            "Retry-After": "40",
        },
    )
    api.expect_request(f"/{BUSINESS_ID}").respond_with_json(discovery("bluebottle"))
    outcome = make_collector("instagram").collect([ref("instagram", "bluebottle")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert fake_time.sleeps == [40.0]


def test_business_use_case_throttle_waits_the_minutes_meta_estimated(api, make_collector, ref):
    usage = (
        f'{{"{BUSINESS_ID}": [{{"type": "instagram", "call_count": 100, "total_cputime": 25, '
        '"total_time": 25, "estimated_time_to_regain_access": 15}]}'
    )
    api.expect_request("/nasa").respond_with_json(
        graph_error("(#80002) There have been too many calls to this Instagram account.", 32),
        status=400,
        headers={"X-Business-Use-Case-Usage": usage},
    )
    with pytest.raises(WaitTooLong) as raised:
        make_collector("facebook").collect([ref("facebook", "nasa")])
    assert raised.value.platform == "meta"
    assert raised.value.wait_seconds == pytest.approx(15 * 60)


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(f"/{BUSINESS_ID}").respond_with_json(
        graph_error("An unexpected error has occurred. Please retry your request later.", 2, transient=True),
        status=500,
    )
    api.expect_request(f"/{BUSINESS_ID}").respond_with_json(discovery("bluebottle"))
    outcome = make_collector("instagram").collect([ref("instagram", "bluebottle")])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert len(fake_time.sleeps) == 1


def test_unknown_or_personal_account_is_not_found(api, make_collector, ref, fake_time):
    api.expect_request(f"/{BUSINESS_ID}").respond_with_json(USER_NOT_FOUND, status=400)
    outcome = make_collector("instagram").collect([ref("instagram", "nosuchuser")])[0]
    assert (outcome.status, outcome.retryable, outcome.attempts) == ("failed", False, 1)
    assert outcome.error == (
        "Instagram 400: The user with username: nosuchuser cannot be found. (code 110/2207013)"
    )
    assert fake_time.sleeps == []


def test_expired_token_is_reported(api, make_collector, ref):
    api.expect_request("/nasa").respond_with_json(TOKEN_EXPIRED, status=400)
    outcome = make_collector("facebook").collect([ref("facebook", "nasa")])[0]
    assert outcome.status == "failed"
    assert outcome.error.endswith("(code 190/463); META_ACCESS_TOKEN is invalid or expired")


def test_username_cannot_inject_fields(api, make_collector, ref):
    outcome = make_collector("instagram").collect([ref("instagram", "x){id},business_discovery.username(y")])[
        0
    ]
    assert outcome.status == "failed"
    assert "not a valid Instagram username" in outcome.error
    assert api.log == []


@pytest.mark.parametrize(
    ("platform", "token", "business_id", "reason"),
    [
        ("instagram", "", BUSINESS_ID, "META_ACCESS_TOKEN is not set"),
        ("instagram", "tok", "", "INSTAGRAM_BUSINESS_ID is not set"),
        ("facebook", "", "", "META_ACCESS_TOKEN is not set"),
    ],
)
def test_missing_credentials_skip(settings, make_collector, ref, api, platform, token, business_id, reason):
    settings.META_ACCESS_TOKEN = token
    settings.INSTAGRAM_BUSINESS_ID = business_id
    outcome = make_collector(platform).collect([ref(platform, "nasa")])[0]
    assert (outcome.status, outcome.error) == ("skipped", reason)
    assert api.log == []


def test_facebook_works_without_a_business_id(settings, make_collector):
    settings.INSTAGRAM_BUSINESS_ID = ""
    assert make_collector("facebook").unavailable_reason() is None

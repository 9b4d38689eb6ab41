import json

import pytest
from werkzeug import Response

from scraping.collectors import WaitTooLong
from scraping.ratelimit import seconds_until_pacific_midnight
from tests.scraping.conftest import requests_to

PATH = "/channels"
GOOGLE_DEVELOPERS = "UC_x5XG1OV2P6uZZ5FSM9Ttw"


def channel_id(n: int) -> str:
    return f"UC{n:022d}"


def channel(cid: str, subscribers: str = "2390000", videos: str = "6120", hidden: bool = False) -> dict:
    return {
        "kind": "youtube#channel",
        "etag": "Zmhx6n0Yk8ZC8s8h7e2Mdxo4f0A",
        "id": cid,
        "statistics": {
            "viewCount": "250412718",
            "subscriberCount": subscribers,
            "hiddenSubscriberCount": hidden,
            "videoCount": videos,
        },
    }


def listing(*items: dict) -> dict:
    body = {
        "kind": "youtube#channelListResponse",
        "etag": "3eWh0bX7mU4n4mB4cXq1a2b3c4d",
        "pageInfo": {"totalResults": len(items), "resultsPerPage": 5},
    }
    if items:  # YouTube leaves `items` out when nothing matched
        body["items"] = list(items)
    return body


QUOTA_EXCEEDED = {
    "error": {
        "code": 403,
        "message": "The request cannot be completed because you have exceeded your "
        '<a href="/youtube/v3/getting-started#quota">quota</a>.',
        "errors": [
            {
                "message": "The request cannot be completed because you have exceeded your "
                '<a href="/youtube/v3/getting-started#quota">quota</a>.',
                "domain": "youtube.quota",
                "reason": "quotaExceeded",
            }
        ],
    }
}
KEY_INVALID = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "errors": [
            {
                "message": "API key not valid. Please pass a valid API key.",
                "domain": "global",
                "reason": "badRequest",
            }
        ],
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "youtube.googleapis.com"},
            }
        ],
    }
}


@pytest.fixture(autouse=True)
def api_key(settings):
    settings.YOUTUBE_API_KEY = "AIza-test-key"


def answer_ids(request) -> Response:
    ids = request.args["id"].split(",")
    items = [channel(cid, subscribers=str(1000 + int(cid[2:]))) for cid in ids if not cid.endswith("99")]
    return Response(json.dumps(listing(*items)), content_type="application/json")


def test_channel_statistics_are_mapped_as_rounded(api, make_collector, ref):
    api.expect_request(
        PATH,
        query_string={
            "part": "statistics",
            "id": GOOGLE_DEVELOPERS,
            "maxResults": "50",
        },
        headers={"X-Goog-Api-Key": "AIza-test-key"},
    ).respond_with_json(listing(channel(GOOGLE_DEVELOPERS)))
    outcome = make_collector("youtube").collect(
        [ref("youtube", "GoogleDevelopers", external_id=GOOGLE_DEVELOPERS)]
    )[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers == 2_390_000
    assert outcome.metrics.precision == "rounded"
    assert outcome.metrics.posts == 6120
    assert outcome.metrics.views is None  # viewCount is lifetime, not a day's views
    assert outcome.metrics.following is None
    assert outcome.metrics.external_id == GOOGLE_DEVELOPERS


def test_sixty_channel_ids_take_two_requests(api, make_collector, ref):
    api.expect_request(PATH).respond_with_handler(answer_ids)
    accounts = [ref("youtube", channel_id(n)) for n in range(1, 61)]
    outcomes = make_collector("youtube").collect(accounts)
    assert [len(r.args["id"].split(",")) for r in requests_to(api, PATH)] == [50, 10]
    assert [o.account for o in outcomes] == accounts
    assert outcomes[0].metrics.followers == 1001
    assert outcomes[59].metrics.followers == 1060


def test_unknown_channel_id_is_not_found(api, make_collector, ref):
    api.expect_request(PATH).respond_with_handler(answer_ids)
    outcomes = make_collector("youtube").collect(
        [ref("youtube", channel_id(1)), ref("youtube", channel_id(99))]
    )
    assert [o.status for o in outcomes] == ["succeeded", "failed"]
    assert outcomes[1].error == f"YouTube has no channel {channel_id(99)} (deleted, terminated or wrong id)"


def test_handle_lookup_then_legacy_username(api, make_collector, ref):
    api.expect_request(PATH, query_string={"part": "statistics", "forHandle": "@mkbhd"}).respond_with_json(
        listing(channel("UCBJycsmduvYEL83R_U4JriQ", subscribers="20400000", videos="1700"))
    )
    api.expect_request(PATH, query_string={"part": "statistics", "forHandle": "@OldName"}).respond_with_json(
        listing()
    )
    api.expect_request(PATH, query_string={"part": "statistics", "forUsername": "OldName"}).respond_with_json(
        listing(channel("UC" + "b" * 22))
    )
    api.expect_request(
        PATH, query_string={"part": "statistics", "forHandle": "@nobody.here"}
    ).respond_with_json(listing())
    outcomes = make_collector("youtube").collect(
        [ref("youtube", "@mkbhd"), ref("youtube", "OldName"), ref("youtube", "nobody.here")]
    )
    assert outcomes[0].metrics.followers == 20_400_000
    assert outcomes[0].metrics.external_id == "UCBJycsmduvYEL83R_U4JriQ"
    assert (outcomes[1].status, outcomes[1].attempts, outcomes[1].metrics.external_id) == (
        "succeeded",
        2,
        "UC" + "b" * 22,
    )
    assert outcomes[2].status == "failed"
    assert outcomes[2].error == "YouTube has no channel @nobody.here"


def test_hidden_subscriber_count_is_none(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(
        listing(channel(GOOGLE_DEVELOPERS, subscribers="0", hidden=True))
    )
    outcome = make_collector("youtube").collect([ref("youtube", GOOGLE_DEVELOPERS)])[0]
    assert outcome.status == "succeeded"
    assert outcome.metrics.followers is None
    assert outcome.metrics.posts == 6120
    assert outcome.metrics.precision == "exact"


def test_quota_exceeded_waits_until_midnight_pacific(api, make_collector, ref, fake_time):
    api.expect_request(PATH).respond_with_json(QUOTA_EXCEEDED, status=403)
    with pytest.raises(WaitTooLong) as raised:
        make_collector("youtube").collect([ref("youtube", GOOGLE_DEVELOPERS)])
    assert raised.value.platform == "youtube"
    assert raised.value.wait_seconds == pytest.approx(seconds_until_pacific_midnight(fake_time.now))
    assert raised.value.wait_seconds == pytest.approx(19 * 3600)  # 05:00 PDT
    assert len(api.log) == 1


def test_short_rate_limit_is_waited_out(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(PATH).respond_with_json(
        {
            "error": {
                "code": 403,
                "message": "Rate limit exceeded.",
                "errors": [{"reason": "rateLimitExceeded"}],
            }
        },
        status=403,
        headers={"Retry-After": "20"},
    )
    api.expect_request(PATH).respond_with_json(listing(channel(GOOGLE_DEVELOPERS)))
    outcome = make_collector("youtube").collect([ref("youtube", GOOGLE_DEVELOPERS)])[0]
    assert outcome.status == "succeeded"
    assert fake_time.sleeps == [20.0]


def test_transient_error_is_retried(api, make_collector, ref, fake_time):
    api.expect_oneshot_request(PATH).respond_with_json(
        {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}},
        status=503,
    )
    api.expect_request(PATH).respond_with_json(listing(channel(GOOGLE_DEVELOPERS)))
    outcome = make_collector("youtube").collect([ref("youtube", GOOGLE_DEVELOPERS)])[0]
    assert (outcome.status, outcome.attempts) == ("succeeded", 2)
    assert len(fake_time.sleeps) == 1


def test_invalid_key_is_reported(api, make_collector, ref):
    api.expect_request(PATH).respond_with_json(KEY_INVALID, status=400)
    outcome = make_collector("youtube").collect([ref("youtube", GOOGLE_DEVELOPERS)])[0]
    assert (outcome.status, outcome.retryable) == ("failed", False)
    assert outcome.error == "YouTube 400: API key not valid. Please pass a valid API key."


def test_missing_key_skips(settings, make_collector, ref, api):
    settings.YOUTUBE_API_KEY = ""
    outcome = make_collector("youtube").collect([ref("youtube", GOOGLE_DEVELOPERS)])[0]
    assert (outcome.status, outcome.error) == ("skipped", "YOUTUBE_API_KEY is not set")
    assert api.log == []


def test_quota_hit_during_handle_lookups_keeps_the_channels_already_read(api, make_collector, ref):
    api.expect_request(
        PATH, query_string={"part": "statistics", "id": GOOGLE_DEVELOPERS, "maxResults": "50"}
    ).respond_with_json(listing(channel(GOOGLE_DEVELOPERS)))
    api.expect_request(PATH).respond_with_json(QUOTA_EXCEEDED, status=403)
    accounts = [ref("youtube", "@somehandle"), ref("youtube", GOOGLE_DEVELOPERS)]
    with pytest.raises(WaitTooLong) as raised:
        make_collector("youtube").collect(accounts)
    assert [(o.account, o.status) for o in raised.value.outcomes] == [(accounts[1], "succeeded")]

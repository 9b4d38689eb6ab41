import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from scraping.ratelimit import (
    DEFAULT_LIMITS,
    GITHUB_TOKEN_LIMIT,
    InProcessRateLimiter,
    RedisRateLimiter,
    WaitTooLong,
    configured_limits,
    get_limiter,
    parse_reset,
    parse_retry_after,
    seconds_until_pacific_midnight,
    throttle_wait,
)
from tests.scraping.conftest import START, FakeTime

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def response(status=200, headers=None, json=None) -> httpx.Response:
    return httpx.Response(status, headers=headers, json=json, request=httpx.Request("GET", "http://test/"))


def make_limiter(fake: FakeTime, **limits) -> InProcessRateLimiter:
    return InProcessRateLimiter(limits=limits, clock=fake.clock, sleep=fake.sleep)


# --- Reading resets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(int(START) + 120), 120.0),  # epoch seconds (GitHub, X, Twitch)
        (START + 0.5, 0.5),
        ("120", 120.0),  # seconds from now (Reddit, IETF draft)
        ("42.5", 42.5),
        (30, 30.0),
        ("2026-06-01T12:05:00.000Z", 300.0),  # ISO 8601 (Mastodon)
        ("2026-06-01T14:05:00+02:00", 300.0),
        ("2026-06-01T12:05:00", 300.0),  # no zone: UTC
        (str(int(START) - 60), 0.0),  # a reset in the past: no wait
        ("2026-06-01T11:00:00Z", 0.0),
        ("0", 0.0),
    ],
)
def test_parse_reset_reads_the_three_forms(value, expected):
    assert parse_reset(value, START) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["soon", "", "nan", "12:00"])
def test_parse_reset_rejects_garbage(value):
    with pytest.raises(ValueError, match="unreadable rate-limit reset"):
        parse_reset(value, START)


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("30", START) == 30.0
    date = format_datetime(datetime.fromtimestamp(START + 90, UTC), usegmt=True)
    assert parse_retry_after(date, START) == pytest.approx(90.0)
    assert parse_retry_after(None, START) is None
    assert parse_retry_after("whenever", START) is None


def test_seconds_until_pacific_midnight():
    # 2026-06-01 12:00 UTC is 05:00 PDT; midnight Pacific is 19 hours away.
    assert seconds_until_pacific_midnight(START) == pytest.approx(19 * 3600)
    winter = datetime(2026, 1, 15, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles")).timestamp()
    assert seconds_until_pacific_midnight(winter) == pytest.approx(30 * 60)


# --- Throttle signals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "resp", "expected"),
    [
        ("bluesky", response(429, {"ratelimit-remaining": "0", "ratelimit-reset": str(int(START) + 40)}), 40),
        (
            "x",
            response(429, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(START) + 600)}),
            600,
        ),
        ("reddit", response(429, {"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "35"}), 35),
        ("mastodon:m.s", response(429, {"x-ratelimit-reset": "2026-06-01T12:03:00.000Z"}), 180),
        ("twitch", response(429, {"ratelimit-reset": str(int(START) + 12)}), 12),
        ("bluesky", response(429, {"retry-after": "7"}), 7),
        ("bluesky", response(429), 60),  # said nothing: the default penalty
        (
            "github",
            response(
                403,
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(START) + 1800)},
                {"message": "API rate limit exceeded for 203.0.113.9."},
            ),
            1800,
        ),
        (
            "github",
            response(403, {"retry-after": "61"}, {"message": "You have exceeded a secondary rate limit."}),
            61,
        ),
        ("github", response(403, json={"message": "You have exceeded a secondary rate limit."}), 60),
        (
            "youtube",
            response(403, json={"error": {"code": 403, "errors": [{"reason": "quotaExceeded"}]}}),
            19 * 3600,
        ),
        (
            "meta",
            response(
                400,
                {
                    "x-business-use-case-usage": '{"1784": [{"type": "instagram", "call_count": 100,'
                    ' "estimated_time_to_regain_access": 12}]}'
                },
                {"error": {"message": "(#4) Application request limit reached", "code": 4}},
            ),
            720,
        ),
        (
            "meta",
            response(403, json={"error": {"message": "(#613) Calls exceeded the rate limit", "code": 613}}),
            600,
        ),
    ],
)
def test_throttle_wait_is_what_the_platform_said(platform, resp, expected):
    assert throttle_wait(platform, resp, START) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("platform", "resp"),
    [
        ("github", response(200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(START) + 60)})),
        ("github", response(404, json={"message": "Not Found"})),
        ("github", response(403, json={"message": "Resource not accessible by integration"})),
        ("youtube", response(403, json={"error": {"code": 403, "errors": [{"reason": "forbidden"}]}})),
        ("meta", response(400, json={"error": {"message": "Invalid user id", "code": 110}})),
        ("bluesky", response(500)),
    ],
)
def test_other_responses_are_not_throttles(platform, resp):
    assert throttle_wait(platform, resp, START) is None


# --- In-process limiter ----------------------------------------------------------------------------


def test_budget_is_respected_within_the_window():
    fake = FakeTime()
    limiter = make_limiter(fake, reddit=(10, 60))
    sent = []
    for _ in range(25):
        limiter.acquire("reddit", max_wait=60)
        sent.append(fake.now)
    # Never more than 10 in any 60 seconds, and the waits are exactly what the window needs.
    for index in range(len(sent) - 10):
        assert sent[index + 10] - sent[index] >= 60
    assert fake.sleeps == [60.0, 60.0]


def test_wait_too_long_is_raised_with_the_wait():
    fake = FakeTime()
    limiter = make_limiter(fake, github=(2, 3600))
    limiter.acquire("github", max_wait=0)
    limiter.acquire("github", max_wait=0)
    with pytest.raises(WaitTooLong) as raised:
        limiter.acquire("github", max_wait=60)
    assert raised.value.platform == "github"
    assert raised.value.wait_seconds == pytest.approx(3600)
    assert fake.sleeps == []


def test_observed_headers_block_until_the_reset():
    fake = FakeTime()
    limiter = make_limiter(fake)
    rejected = limiter.observe("x", response(429, {"x-rate-limit-reset": str(int(START) + 45)}))
    assert rejected == pytest.approx(45)
    limiter.acquire("x", max_wait=60)
    assert fake.sleeps == [pytest.approx(45)]
    limiter.acquire("x", max_wait=60)  # the block is over
    assert len(fake.sleeps) == 1


def test_exhausted_budget_on_a_success_blocks_without_a_rejection():
    fake = FakeTime()
    limiter = make_limiter(fake)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(START) + 3000)}
    assert limiter.observe("github", response(200, headers)) is None
    with pytest.raises(WaitTooLong) as raised:
        limiter.acquire("github", max_wait=60)
    assert raised.value.wait_seconds == pytest.approx(3000)


def test_remaining_budget_does_not_block():
    fake = FakeTime()
    limiter = make_limiter(fake)
    limiter.observe(
        "github", response(200, {"x-ratelimit-remaining": "59", "x-ratelimit-reset": str(int(START) + 3000)})
    )
    limiter.acquire("github", max_wait=0)


def test_blocks_only_move_later():
    fake = FakeTime()
    limiter = make_limiter(fake)
    limiter.observe("bluesky", response(429, {"retry-after": "50"}))
    limiter.observe("bluesky", response(429, {"retry-after": "5"}))
    limiter.acquire("bluesky", max_wait=60)
    assert fake.sleeps == [50.0]


def test_mastodon_instances_have_their_own_budget():
    fake = FakeTime()
    limiter = make_limiter(fake, mastodon=(1, 300))
    limiter.acquire("mastodon:mastodon.social", max_wait=0)
    limiter.acquire("mastodon:fosstodon.org", max_wait=0)
    with pytest.raises(WaitTooLong):
        limiter.acquire("mastodon:mastodon.social", max_wait=0)


def test_limits_come_from_defaults_token_and_settings(settings):
    settings.GITHUB_TOKEN = ""
    settings.SOCIALMETRICS_RATE_LIMITS = {"reddit": (100, 60)}
    limits = configured_limits()
    assert limits["github"] == DEFAULT_LIMITS["github"] == (60, 3600)
    assert limits["reddit"] == (100, 60)
    assert limits["youtube"] == (10000, 86400)
    settings.GITHUB_TOKEN = "ghp_test"
    assert configured_limits()["github"] == GITHUB_TOKEN_LIMIT


def test_get_limiter_is_in_process_without_redis(settings):
    from scraping import ratelimit

    settings.REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

    ratelimit._process_limiter.cache_clear()
    try:
        assert isinstance(get_limiter(), InProcessRateLimiter)
        assert get_limiter() is get_limiter()
    finally:
        ratelimit._process_limiter.cache_clear()


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_concurrency_cap_holds_with_20_threads(backend, request):
    if backend == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        limiter = RedisRateLimiter(
            redis.Redis.from_url(url),
            prefix=f"test:{uuid.uuid4().hex}",
            limits={},
            max_concurrency={"bluesky": 3},
        )
    else:
        limiter = InProcessRateLimiter(limits={}, max_concurrency={"bluesky": 3})
    holders = 0
    highest = 0
    lock = threading.Lock()
    start = threading.Barrier(20)

    def work():
        nonlocal holders, highest
        start.wait()
        for _ in range(5):
            with limiter.slot("bluesky"):
                with lock:
                    holders += 1
                    highest = max(highest, holders)
                time.sleep(0.002)
                with lock:
                    holders -= 1

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert highest == 3
    assert holders == 0


def test_budget_is_thread_safe():
    limiter = InProcessRateLimiter(limits={"x": (50, 3600)})
    granted = []

    def work():
        for _ in range(10):
            try:
                limiter.acquire("x", max_wait=0)
                granted.append(1)
            except WaitTooLong:
                pass

    threads = [threading.Thread(target=work) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 50


# --- Redis limiter, shared by processes --------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys
    import redis
    from scraping.ratelimit import RedisRateLimiter, WaitTooLong

    url, prefix, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3])
    limiter = RedisRateLimiter(redis.Redis.from_url(url), prefix=prefix, limits={"github": (25, 600)},
                               max_concurrency={})
    granted = 0
    for _ in range(attempts):
        try:
            limiter.acquire("github", max_wait=0)
            granted += 1
        except WaitTooLong:
            pass
    print(granted)
    """
)


def run_workers(url: str, prefix: str, count: int, attempts: int) -> list[int]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, prefix, str(attempts)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
        )
        for _ in range(count)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        results.append(int(out.strip()))
    return results


@pytest.fixture
def redis_prefix(redis_url):
    import redis

    prefix = f"test:ratelimit:{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.mark.redis
def test_redis_budget_is_shared_by_two_processes(redis_url, redis_prefix):
    granted = run_workers(redis_url, redis_prefix, count=2, attempts=20)
    assert sum(granted) == 25  # 40 attempts, one budget of 25 between the two processes


@pytest.mark.redis
def test_redis_block_is_seen_by_another_process(redis_url, redis_prefix):
    import redis

    blocker = RedisRateLimiter(redis.Redis.from_url(redis_url), prefix=redis_prefix, limits={})
    blocker.observe("github", response(429, {"retry-after": "120"}))
    script = textwrap.dedent(
        """
        import sys
        import redis
        from scraping.ratelimit import RedisRateLimiter, WaitTooLong

        limiter = RedisRateLimiter(redis.Redis.from_url(sys.argv[1]), prefix=sys.argv[2], limits={},
                                   max_concurrency={})
        try:
            limiter.acquire("github", max_wait=10)
        except WaitTooLong as exc:
            print(round(exc.wait_seconds))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, redis_url, redis_prefix],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert 110 <= int(result.stdout.strip()) <= 120


@pytest.mark.redis
def test_redis_limiter_window_and_headers_with_injected_clock(redis_url, redis_prefix):
    import redis

    fake = FakeTime()
    limiter = RedisRateLimiter(
        redis.Redis.from_url(redis_url),
        prefix=redis_prefix,
        limits={"reddit": (2, 60)},
        clock=fake.clock,
        sleep=fake.sleep,
    )
    limiter.acquire("reddit", max_wait=0)
    limiter.acquire("reddit", max_wait=0)
    limiter.acquire("reddit", max_wait=60)
    assert fake.sleeps == [pytest.approx(60)]
    limiter.observe("reddit", response(429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "33"}))
    with pytest.raises(WaitTooLong) as raised:
        limiter.acquire("reddit", max_wait=10)
    assert raised.value.wait_seconds == pytest.approx(33)


def test_redis_failure_falls_back_to_the_process(caplog):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    fake = FakeTime()
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    limiter = RedisRateLimiter(
        dead, prefix="test:ratelimit", limits={"x": (1, 900)}, clock=fake.clock, sleep=fake.sleep
    )
    limiter.acquire("x", max_wait=0)
    with pytest.raises(WaitTooLong):
        limiter.acquire("x", max_wait=0)
    assert caplog.text.count("Redis unavailable") == 1  # not asked again for a while

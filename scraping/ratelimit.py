"""Per-platform request budgets, the platforms' own throttle signals, and a concurrency cap.

A limiter answers three questions for a platform key ("github", "meta", "mastodon:mastodon.social"):

- `acquire(key, max_wait)`: may a request be sent now? It blocks (through the injected `sleep`)
  until the budget and any "blocked until" allow one, or raises `WaitTooLong` when that would take
  longer than `max_wait` seconds. The budget is a sliding window: never more than N requests in
  any W seconds.
- `observe(key, response)`: what did the platform say? `Retry-After`, the `x-ratelimit-*`,
  `x-rate-limit-*` and `ratelimit-*` header families, HTTP 429, YouTube's 403 `quotaExceeded` and
  Meta's throttling codes move the key's "blocked until". Returns the wait when the response was
  a rate-limit rejection (the request should be sent again later), else None.
- `slot(key)`: a context manager capping concurrent requests to the platform in this process.

`InProcessRateLimiter` keeps the state in memory (thread-safe). `RedisRateLimiter` keeps the
window and "blocked until" in Redis behind Lua scripts, so several processes share one budget;
while Redis fails it falls back to in-process state. `get_limiter()` returns the process's limiter:
through `socialmetrics.redis_policy` (its client, its prefixed keys) when Redis is configured.

Times are Unix seconds from the injected `clock` (default `time.time`): resets arrive as epoch
seconds and HTTP dates, and Redis shares them between machines.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import math
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # imported where used: a simulated run, which sends no request, never loads it
    import httpx

logger = logging.getLogger(__name__)

# Requests per window (seconds), from the platforms' documentation (see PLATFORMS.md).
# Overridden per platform by settings.SOCIALMETRICS_RATE_LIMITS = {"github": (5000, 3600)}.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "bluesky": (3000, 300),
    "mastodon": (300, 300),  # per instance: keys are "mastodon:<host>"
    "youtube": (10000, 86400),
    "x": (300, 900),
    "github": (60, 3600),  # 5000/3600 with GITHUB_TOKEN
    "reddit": (10, 60),  # without OAuth
    "twitch": (800, 60),
    "meta": (200, 3600),
}
GITHUB_TOKEN_LIMIT = (5000, 3600)

# Concurrent requests per platform in one process; settings.SOCIALMETRICS_MAX_CONCURRENCY overrides.
DEFAULT_CONCURRENCY: dict[str, int] = {
    "bluesky": 4,
    "mastodon": 4,
    "youtube": 2,
    "x": 2,
    "github": 2,
    "reddit": 2,
    "twitch": 4,
    "meta": 2,
}
FALLBACK_CONCURRENCY = 2

# How long to stay away after a rate-limit rejection that did not say how long.
# GitHub asks for at least a minute on a secondary limit; Meta's windows are an hour long.
DEFAULT_PENALTY: dict[str, float] = {"github": 60.0, "meta": 600.0}
FALLBACK_PENALTY = 60.0

HEADER_FAMILIES = ("x-ratelimit-", "x-rate-limit-", "ratelimit-")
YOUTUBE_DAILY_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
YOUTUBE_SHORT_QUOTA_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
META_THROTTLE_CODES = {4, 17, 32, 613}
PACIFIC = "America/Los_Angeles"
EPOCH_THRESHOLD = 1e9  # a reset above this is a Unix timestamp, below it seconds from now


class WaitTooLong(Exception):
    """The platform cannot be called again within the caller's `max_wait`."""

    def __init__(self, platform: str, wait_seconds: float):
        self.platform = platform
        self.wait_seconds = wait_seconds
        # Outcomes a collector had already decided when the wait came up (filled in by the collector).
        self.outcomes: list = []
        super().__init__(f"{platform}: the next request is allowed in {wait_seconds:.0f} s")


# --- Reading what the platform said ---------------------------------------------------------------


def parse_reset(value: str | float | int, now: float) -> float:
    """Seconds to wait until a rate-limit reset, never negative.

    The platforms write the reset three ways: Unix seconds (GitHub, X, Twitch), seconds from
    now (Reddit, the IETF draft used by Bluesky) or an ISO-8601 timestamp (Mastodon). A number
    above 10^9 is a Unix time; any other number is seconds from now. Raises ValueError otherwise.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"unreadable rate-limit reset {value!r}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(0.0, moment.timestamp() - now)
    if not math.isfinite(number):
        raise ValueError(f"unreadable rate-limit reset {value!r}")
    if number > EPOCH_THRESHOLD:
        return max(0.0, number - now)
    return max(0.0, number)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date), None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, moment.timestamp() - now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def header_budget(headers: Mapping[str, str], now: float) -> tuple[float | None, float | None]:
    """(remaining, seconds until reset) from the first rate-limit header family present."""
    for prefix in HEADER_FAMILIES:
        remaining_text = headers.get(f"{prefix}remaining")
        reset_text = headers.get(f"{prefix}reset")
        if remaining_text is None and reset_text is None:
            continue
        remaining = reset = None
        with contextlib.suppress(ValueError):
            remaining = float(remaining_text) if remaining_text is not None else None
        with contextlib.suppress(ValueError):
            reset = parse_reset(reset_text, now) if reset_text is not None else None
        return remaining, reset
    return None, None


def seconds_until_pacific_midnight(now: float) -> float:
    """YouTube's daily quota resets at midnight US/Pacific."""
    local = datetime.fromtimestamp(now, ZoneInfo(PACIFIC))
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), ZoneInfo(PACIFIC))
    return max(0.0, midnight.timestamp() - now)


def _json_body(response: httpx.Response) -> object:
    import httpx

    try:
        return response.json()
    except (ValueError, UnicodeDecodeError, httpx.ResponseNotRead):
        return None


def _youtube_reasons(body: object) -> set[str]:
    error = body.get("error") if isinstance(body, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    return {e.get("reason") for e in errors or [] if isinstance(e, dict)}


def _meta_error_code(body: object) -> int | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def _meta_regain_access(headers: Mapping[str, str]) -> float | None:
    """Largest `estimated_time_to_regain_access` (minutes) in Meta's usage headers, in seconds."""
    minutes = []
    for name in ("x-business-use-case-usage", "x-app-usage", "x-ad-account-usage"):
        try:
            usage = json.loads(headers.get(name) or "null")
        except ValueError:
            continue
        entries = []
        if isinstance(usage, dict):
            entries = [usage]
            for value in usage.values():
                entries += value if isinstance(value, list) else []
        for entry in entries:
            regain = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(regain, (int, float)) and regain > 0:
                minutes.append(regain)
    return max(minutes) * 60.0 if minutes else None


def throttle_wait(platform: str, response: httpx.Response, now: float) -> float | None:
    """If `response` rejected the request for rate limiting, the seconds to wait; else None."""
    base = platform.split(":", 1)[0]
    status = response.status_code
    if status < 400:
        return None
    headers = response.headers
    retry_after = parse_retry_after(headers.get("retry-after"), now)
    remaining, reset = header_budget(headers, now)
    penalty = DEFAULT_PENALTY.get(base, FALLBACK_PENALTY)

    def first(*waits: float | None) -> float:
        return next((w for w in waits if w is not None), penalty)

    if status == 429:
        return first(retry_after, reset)
    body = _json_body(response)
    if base == "youtube" and status == 403:
        reasons = _youtube_reasons(body)
        if reasons & YOUTUBE_DAILY_QUOTA_REASONS:
            return seconds_until_pacific_midnight(now)
        if reasons & YOUTUBE_SHORT_QUOTA_REASONS:
            return first(retry_after)
    if base == "meta" and _meta_error_code(body) in META_THROTTLE_CODES:
        return first(retry_after, _meta_regain_access(headers))
    if status == 403 and remaining is not None and remaining <= 0:
        return first(retry_after, reset)  # GitHub's primary limit
    if status == 403 and retry_after is not None:
        return retry_after  # GitHub's secondary limit
    if base == "github" and status == 403 and "secondary rate limit" in str(body).lower():
        return penalty
    return None


# --- The limiters ---------------------------------------------------------------------------------


def _settings_dict(name: str) -> dict:
    from django.conf import settings

    return dict(getattr(settings, name, None) or {})


def configured_limits() -> dict[str, tuple[int, float]]:
    """DEFAULT_LIMITS, GitHub's higher budget with a token, then settings.SOCIALMETRICS_RATE_LIMITS."""
    from django.conf import settings

    limits = dict(DEFAULT_LIMITS)
    if getattr(settings, "GITHUB_TOKEN", ""):
        limits["github"] = GITHUB_TOKEN_LIMIT
    limits.update(_settings_dict("SOCIALMETRICS_RATE_LIMITS"))
    return limits


def configured_concurrency() -> dict[str, int]:
    return {**DEFAULT_CONCURRENCY, **_settings_dict("SOCIALMETRICS_MAX_CONCURRENCY")}


class RateLimiter(ABC):
    """The interface and the shared logic; backends implement `_reserve` and `_block`."""

    def __init__(
        self,
        *,
        limits: Mapping[str, tuple[int, float]] | None = None,
        max_concurrency: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.limits = dict(configured_limits() if limits is None else limits)
        self.max_concurrency = dict(configured_concurrency() if max_concurrency is None else max_concurrency)
        self.clock = clock
        self.sleep = sleep
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._semaphores_lock = threading.Lock()

    def limit_for(self, key: str) -> tuple[int, float] | None:
        """The budget of a key; "mastodon:host" falls back to "mastodon". None: no budget of our own."""
        limit = self.limits.get(key) or self.limits.get(key.split(":", 1)[0])
        return limit if limit and limit[0] > 0 and limit[1] > 0 else None

    def acquire(self, platform: str, max_wait: float) -> None:
        """Return when a request may be sent; raise WaitTooLong if that is more than `max_wait` away."""
        deadline = self.clock() + max_wait
        while True:
            now = self.clock()
            wait = self._reserve(platform, now)
            if wait <= 0:
                return
            if now + wait > deadline:
                raise WaitTooLong(platform, wait)
            logger.debug("rate limit: waiting %.1f s before calling %s", wait, platform)
            self.sleep(wait)

    def observe(self, platform: str, response: httpx.Response) -> float | None:
        """Learn from a response; return the wait if it was a rate-limit rejection, else None."""
        now = self.clock()
        rejected = throttle_wait(platform, response, now)
        remaining, reset = header_budget(response.headers, now)
        waits = [rejected] if rejected is not None else []
        if remaining is not None and remaining <= 0 and reset is not None:
            waits.append(reset)
        if waits and max(waits) > 0:
            self._block(platform, now + max(waits), now)
            logger.info("rate limit: %s blocked for %.0f s", platform, max(waits))
        return rejected

    @contextlib.contextmanager
    def slot(self, platform: str) -> Iterator[None]:
        """Hold one of the platform's concurrent-request slots (per process)."""
        with self._semaphores_lock:
            semaphore = self._semaphores.get(platform)
            if semaphore is None:
                base = platform.split(":", 1)[0]
                size = self.max_concurrency.get(platform) or self.max_concurrency.get(
                    base, FALLBACK_CONCURRENCY
                )
                semaphore = self._semaphores[platform] = threading.BoundedSemaphore(max(1, size))
        with semaphore:
            yield

    @abstractmethod
    def _reserve(self, platform: str, now: float) -> float:
        """Take one request from the budget and return 0, or return the seconds until one is free."""

    @abstractmethod
    def _block(self, platform: str, until: float, now: float) -> None:
        """Send no request to the platform before `until` (only ever moves later)."""


class InProcessRateLimiter(RateLimiter):
    """State in this process's memory, guarded by a lock."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}

    def _reserve(self, platform: str, now: float) -> float:
        with self._lock:
            blocked = self._blocked_until.get(platform, 0.0)
            if blocked > now:
                return blocked - now
            limit = self.limit_for(platform)
            if limit:
                count, window = limit
                sent = self._sent.setdefault(platform, deque())
                while sent and sent[0] <= now - window:
                    sent.popleft()
                if len(sent) >= count:
                    return sent[0] + window - now
                sent.append(now)
            return 0.0

    def _block(self, platform: str, until: float, now: float) -> None:
        with self._lock:
            self._blocked_until[platform] = max(self._blocked_until.get(platform, 0.0), until)


# KEYS: window sorted set, blocked-until key. ARGV: now, limit (0: none), window seconds, member.
# Returns "0" when a request was taken from the budget, else the seconds to wait (as text: Lua
# numbers would come back as truncated integers).
_RESERVE_SCRIPT = """
local now = tonumber(ARGV[1])
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then return tostring(blocked - now) end
local limit = tonumber(ARGV[2])
if limit > 0 then
  local window = tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= limit then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return tostring(tonumber(oldest[2]) + window - now)
  end
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
end
return '0'
"""

# KEYS: blocked-until key. ARGV: until, time to live in seconds.
_BLOCK_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 0
"""


class RedisRateLimiter(RateLimiter):
    """Budget and "blocked until" shared through Redis by every process using the same prefix.

    The concurrency cap (`slot`) stays per process. While Redis fails (the back-off of
    `socialmetrics.redis_policy`), the limiter carries on with in-process state, so collection
    slows down safely instead of stopping.
    """

    def __init__(self, client, *, prefix: str, **kwargs):
        super().__init__(**kwargs)
        self.redis = client
        self.prefix = prefix
        self._reserve_script = client.register_script(_RESERVE_SCRIPT)
        self._block_script = client.register_script(_BLOCK_SCRIPT)
        self._fallback = InProcessRateLimiter(
            limits=self.limits, max_concurrency=self.max_concurrency, clock=self.clock, sleep=self.sleep
        )
        self._on_own_budget = False  # on the fallback since Redis last failed (logged once)
        self._fallback_lock = threading.Lock()

    def _own_budget(self) -> InProcessRateLimiter:
        """The in-process fallback, said once in the log each time Redis stops answering."""
        with self._fallback_lock:
            first, self._on_own_budget = not self._on_own_budget, True
        if first:
            logger.warning(
                "rate limit: no answer from Redis; this process counts requests against its own "
                "budget until Redis answers again"
            )
        return self._fallback

    def _keys(self, platform: str) -> tuple[str, str]:
        # The braces keep both keys of a platform in one Redis Cluster slot.
        return f"{self.prefix}:{{{platform}}}:sent", f"{self.prefix}:{{{platform}}}:blocked"

    def _reserve(self, platform: str, now: float) -> float:
        import redis

        from socialmetrics import redis_policy

        if redis_policy.available():
            count, window = self.limit_for(platform) or (0, 0)
            args = [repr(now), count, repr(float(window)), uuid.uuid4().hex]
            try:
                wait = float(self._reserve_script(keys=list(self._keys(platform)), args=args))
            except redis.RedisError as exc:
                redis_policy.note_failure(exc)
            else:
                self._on_own_budget = False
                return wait
        return self._own_budget()._reserve(platform, now)

    def _block(self, platform: str, until: float, now: float) -> None:
        import redis

        from socialmetrics import redis_policy

        self._fallback._block(platform, until, now)
        if redis_policy.available():
            ttl = max(1, math.ceil(until - now) + 1)
            try:
                self._block_script(keys=[self._keys(platform)[1]], args=[repr(until), ttl])
            except redis.RedisError as exc:
                redis_policy.note_failure(exc)


_limiter_lock = threading.Lock()


@functools.cache
def _process_limiter() -> RateLimiter:
    from socialmetrics import redis_policy

    if redis_policy.enabled():
        return RedisRateLimiter(redis_policy.client(), prefix=redis_policy.key("ratelimit"))
    return InProcessRateLimiter()


def get_limiter() -> RateLimiter:
    """This process's limiter: shared through Redis when settings.REDIS_URL is set."""
    with _limiter_lock:
        return _process_limiter()

"""What every collector shares: the records it returns, its errors, and one HTTP helper.

A collector takes a batch of accounts of one platform and returns exactly one `Outcome` per
account, in input order: the metrics it read (unknown values are None, never 0), or an error
in the platform's own words. It never invents numbers: an answer without any count is a failed
outcome, not a snapshot of zeros.

Where a platform's public API lists an account's recent posts, the collector also reads them
(`collect_posts`, after `collect`): each with its lifetime likes, comments, shares and views as
the platform counts them, as `PostRow`s on the account's outcome. A failure to read them never
fails the account: its metrics are kept, its posts left for the next run.

Every request goes through `Collector.get_json`: limiter.acquire -> request (holding a
concurrency slot) -> limiter.observe -> classify the status -> retry. Timeouts, connection
errors and 5xx are retried with exponential backoff and jitter (3 attempts); a rate-limit
rejection is retried after the wait the platform asked for; a wait longer than `max_wait`
raises `WaitTooLong` out of `collect()` (carrying the outcomes already decided) so the runner
can defer the rest of the platform.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import html
import logging
import re
import time
from abc import ABC
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.utils.module_loading import import_string

from accounts.models import Platform
from scraping.models import OutcomeStatus
from scraping.ratelimit import RateLimiter, WaitTooLong, get_limiter
from snapshots.models import METRIC_FIELDS, Precision
from snapshots.services import PostRow
from socialmetrics.counts import parse_count

if TYPE_CHECKING:  # imported where used: a simulated run, which sends no request, never loads them
    import httpx
    import tenacity

DEFAULT_USER_AGENT = "socialmetrics/0.1 (+https://github.com/socialmetrics; audience metrics)"
DEFAULT_BASE_URLS = {
    "bluesky": "https://public.api.bsky.app",
    "youtube": "https://www.googleapis.com/youtube/v3",
    "x": "https://api.x.com/2",
    "github": "https://api.github.com",
    "reddit": "https://www.reddit.com",
    "twitch": "https://api.twitch.tv/helix",
    "meta": "https://graph.facebook.com/v25.0",
}
DEFAULT_MAX_WAIT = 60.0
MAX_ATTEMPTS = 3
#: Recent posts read per account and run, where the platform lists them (one request per account
#: on most platforms: the newest posts are the ones whose counts still move).
POSTS_PER_ACCOUNT = 20

logger = logging.getLogger(__name__)

COLLECTORS = {
    "bluesky": "scraping.collectors.bluesky.BlueskyCollector",
    "mastodon": "scraping.collectors.mastodon.MastodonCollector",
    "youtube": "scraping.collectors.youtube.YouTubeCollector",
    "x": "scraping.collectors.x.XCollector",
    "github": "scraping.collectors.github.GitHubCollector",
    "reddit": "scraping.collectors.reddit.RedditCollector",
    "twitch": "scraping.collectors.twitch.TwitchCollector",
    "instagram": "scraping.collectors.meta.InstagramCollector",
    "facebook": "scraping.collectors.meta.FacebookCollector",
}
NO_PUBLIC_API = {"linkedin", "tiktok", "truth_social", "flickr", "threads"}


def platform_label(platform: str) -> str:
    try:
        return Platform(platform).label
    except ValueError:
        return platform


# --- Records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRef:
    """The account fields a collector needs, detached from the ORM."""

    id: int
    platform: str
    handle: str
    external_id: str | None = None
    instance_host: str = ""


@dataclass(slots=True)
class Metrics:
    """What a platform said about an account. None is "not given", never 0."""

    followers: int | None = None
    following: int | None = None
    posts: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    views: int | None = None
    precision: str = Precision.EXACT
    external_id: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in METRIC_FIELDS)

    def counts(self) -> dict[str, int | None]:
        """The metric fields, for writing a snapshot."""
        return {name: getattr(self, name) for name in METRIC_FIELDS}


@dataclass(slots=True)
class Outcome:
    account: AccountRef
    status: str  # an OutcomeStatus: succeeded, failed, skipped or deferred
    metrics: Metrics | None = None
    error: str = ""
    attempts: int = 0
    retryable: bool = False
    duration: float = 0.0  # seconds spent on the account (a batch's time is shared by its accounts)
    #: The account's recent posts (`Collector.collect_posts`); None when they were not read.
    posts: list[PostRow] | None = None


# --- Errors ---------------------------------------------------------------------------------------


class PlatformError(Exception):
    """The platform did not give us the account's metrics. `message` is meant for people."""

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 0


class RateLimited(PlatformError):
    """The platform rejected the request for rate limiting; retry after `retry_after` seconds."""

    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None):
        super().__init__(message, retryable, retry_after)


class AccountNotFound(PlatformError):
    """The account does not exist, is suspended, private or deleted: not worth retrying today."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


# --- Converting what APIs return ------------------------------------------------------------------


def api_count(value: Any) -> int | None:
    """A count from a JSON field: ints, numeric strings ("1234", YouTube) or None.

    Negative numbers (Mastodon's -1 for a hidden follower count) mean "not shown" and become None.
    Anything else is a malformed answer and raises PlatformError: no number is made up.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise PlatformError(f"the platform returned {value!r} where a count was expected")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str):
        if value.strip().startswith("-"):
            return None
        try:
            return parse_count(value).value
        except ValueError as exc:
            raise PlatformError(f"the platform returned an unreadable count: {exc}") from None
    raise PlatformError(f"the platform returned {value!r} where a count was expected")


TAG = re.compile(r"<[^>]+>")


def error_words(data: Any, limit: int = 300) -> str:
    """The platform's own explanation from the usual error body shapes, '' if there is none."""
    words = ""
    if isinstance(data, str):
        words = data
    elif isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            words = str(error.get("message") or error.get("status") or "")
        else:
            words = str(data.get("message") or data.get("detail") or data.get("title") or error or "")
        errors = data.get("errors")
        if not words and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            words = str(errors[0].get("message") or errors[0].get("detail") or "")
    words = " ".join(TAG.sub("", words).split())
    return words if len(words) <= limit else words[: limit - 1] + "…"


@contextlib.contextmanager
def keeping(outcomes: list[Outcome]) -> Iterator[None]:
    """On WaitTooLong, hand the outcomes already decided to `collect` along with the exception."""
    try:
        yield
    except WaitTooLong as exc:
        exc.outcomes = [*outcomes, *exc.outcomes]
        raise


def chunked(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_BLOCK_END = re.compile(r"<br\s*/?>|</p>", re.IGNORECASE)


def plain_text(markup: Any) -> str:
    """The text of an HTML fragment (Mastodon's `content`): tags dropped, entities decoded."""
    if not isinstance(markup, str):
        return ""
    return " ".join(html.unescape(TAG.sub("", _BLOCK_END.sub(" ", markup))).split())


def api_time(value: Any) -> dt.datetime | None:
    """An aware datetime from an ISO 8601 timestamp (a naive one is UTC) or Unix seconds; None
    when it cannot be read (the post is then left out, not given a made-up time)."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        if isinstance(value, str):
            moment = dt.datetime.fromisoformat(value.strip())
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def post_row(
    account: AccountRef,
    *,
    post_id: Any,
    published: Any,
    url: Any = "",
    post_type: str = "post",
    text: Any = "",
    likes: Any = None,
    comments: Any = None,
    shares: Any = None,
    views: Any = None,
) -> PostRow | None:
    """A post as read from a platform's answer, or None when it lacks a usable id or publication
    time, or a count cannot be read: one unreadable post is left out, not the account's others."""
    post_id = str(post_id or "").strip()
    published_at = api_time(published)
    if not post_id or len(post_id) > 255 or published_at is None:
        return None
    url = str(url or "")
    if len(url) > 1000 or not url.startswith(("https://", "http://")):
        url = ""
    try:
        counts = [api_count(value) for value in (likes, comments, shares, views)]
    except PlatformError:
        return None
    return PostRow(account.id, post_id, published_at, url, post_type, str(text or ""), *counts)


def add_counts(*values: Any) -> int | None:
    """The sum of the counts that are given (a platform's reposts and quotes as shares)."""
    known = [count for count in map(api_count, values) if count is not None]
    return sum(known) if known else None


# --- HTTP -----------------------------------------------------------------------------------------


def make_client() -> httpx.Client:
    """An HTTP client with timeouts, pooled connections and our User-Agent."""
    import httpx

    user_agent = getattr(settings, "SOCIALMETRICS_USER_AGENT", "") or DEFAULT_USER_AGENT
    return httpx.Client(
        timeout=httpx.Timeout(15.0, connect=5.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        headers={"User-Agent": user_agent, "Accept": "application/json"},
        follow_redirects=False,
    )


@functools.cache
def shared_client() -> httpx.Client:
    """One client per process, so connections are reused across collectors and threads."""
    return make_client()


@dataclass(frozen=True, slots=True)
class Reply:
    data: Any
    response: httpx.Response
    attempts: int


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, PlatformError) and exc.retryable


# --- Collectors -----------------------------------------------------------------------------------


class Collector(ABC):
    """Reads one platform. Subclasses set `platform`, `batch_size`, and implement `fetch` or `fetch_one`.

    An instance keeps no per-call state, so one collector may serve several threads at once.
    """

    platform: ClassVar[str]
    batch_size: ClassVar[int] = 1
    #: True for a collector that computes rather than waits on the network: more threads would not
    #: make it faster (the runner then uses one worker thread).
    cpu_bound: ClassVar[bool] = False
    # The limiter key and the SOCIALMETRICS_API_BASE_URLS key; both default to `platform`.
    rate_key: ClassVar[str] = ""
    api: ClassVar[str] = ""
    max_attempts: ClassVar[int] = MAX_ATTEMPTS

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ):
        import tenacity

        self.client = shared_client() if client is None else client
        self.limiter = get_limiter() if limiter is None else limiter
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.max_wait = max_wait
        self._backoff = tenacity.wait_exponential_jitter(initial=1.0, max=10.0, jitter=1.0)

    @property
    def label(self) -> str:
        return platform_label(self.platform)

    @property
    def base_url(self) -> str:
        key = self.api or self.platform
        urls = getattr(settings, "SOCIALMETRICS_API_BASE_URLS", None) or {}
        return (urls.get(key) or DEFAULT_BASE_URLS[key]).rstrip("/")

    def unavailable_reason(self) -> str | None:
        """Why this collector cannot run (a missing credential), or None."""
        return None

    def collect(self, accounts: list[AccountRef]) -> list[Outcome]:
        """One Outcome per account, in input order. Raises WaitTooLong (with `.outcomes` so far)."""
        reason = self.unavailable_reason()
        if reason:
            return [Outcome(a, OutcomeStatus.SKIPPED, error=reason) for a in accounts]
        outcomes: list[Outcome] = []
        mine = [a for a in accounts if a.platform == self.platform]
        decided: dict[int, Outcome] = {}
        try:
            for batch in chunked(mine, self.batch_size):
                started = self.clock()
                try:
                    results = self.fetch(batch)
                except PlatformError as exc:
                    results = [self.failed(a, exc) for a in batch]
                if len(results) != len(batch):
                    raise RuntimeError(
                        f"{type(self).__name__}.fetch returned {len(results)} for {len(batch)}"
                    )
                share = (self.clock() - started) / len(batch)
                for account, outcome in zip(batch, results, strict=True):
                    outcome.duration = outcome.duration or share
                    decided[id(account)] = outcome
        except WaitTooLong as exc:
            decided.update((id(o.account), o) for o in exc.outcomes)  # decided earlier in the batch
            exc.outcomes = [decided[id(a)] for a in accounts if id(a) in decided]
            raise
        for account in accounts:
            outcome = decided.get(id(account))
            if outcome is None:
                outcome = Outcome(
                    account,
                    OutcomeStatus.FAILED,
                    error=f"{self.label} collector cannot read a {platform_label(account.platform)} account",
                )
            outcomes.append(outcome)
        return outcomes

    def fetch(self, batch: list[AccountRef]) -> list[Outcome]:
        """Outcomes for one batch, in order. The default asks `fetch_one` for each account."""
        outcomes: list[Outcome] = []
        with keeping(outcomes):
            for account in batch:
                started = self.clock()
                try:
                    outcome = self.fetch_one(account)
                except PlatformError as exc:
                    outcome = self.failed(account, exc)
                outcome.duration = self.clock() - started
                outcomes.append(outcome)
        return outcomes

    def fetch_one(self, account: AccountRef) -> Outcome:
        raise NotImplementedError

    # Posts.

    def collect_posts(self, outcomes: list[Outcome]) -> None:
        """Read the recent posts of the accounts whose metrics were read, onto their outcomes.

        An account whose posts cannot be read keeps its metrics (its `posts` stay None). When the
        platform asks for a wait longer than `max_wait`, the rest of the batch goes without posts:
        the next metrics request meets the same wait and defers the platform as usual."""
        if type(self).fetch_posts is Collector.fetch_posts:
            return
        for outcome in outcomes:
            if outcome.status != OutcomeStatus.SUCCEEDED or outcome.metrics is None:
                continue
            try:
                outcome.posts = self.fetch_posts(outcome.account, outcome.metrics)
            except PlatformError as exc:
                logger.warning(
                    "could not read the recent posts of %s @%s: %s",
                    self.label, outcome.account.handle, exc.message,
                )  # fmt: skip
            except WaitTooLong:
                return

    def fetch_posts(self, account: AccountRef, metrics: Metrics) -> list[PostRow]:
        """The account's recent posts (at most POSTS_PER_ACCOUNT); PlatformError when they cannot
        be read. `metrics` is what `fetch` read (its `external_id` names the account reliably).
        Collectors of platforms that list an account's posts override this."""
        raise NotImplementedError

    def lookup(
        self,
        batch: list[AccountRef],
        *,
        key: Callable[[AccountRef], str],
        request: Callable[[list[str]], tuple[dict[str, Any], int]],
    ) -> list[tuple[Any, int]]:
        """Find many accounts with one request: per account (item or PlatformError, attempts).

        `key` names an account in the request (raising PlatformError for a name the platform would
        reject, so one bad name cannot fail the whole batch); `request` fetches the distinct keys
        and returns {key: item or PlatformError} and its attempts. A key missing from the answer
        becomes `not_found(key)`.
        """
        results: list[tuple[Any, int]] = [(None, 0)] * len(batch)
        keys: dict[int, str] = {}
        for index, account in enumerate(batch):
            try:
                keys[index] = key(account)
            except PlatformError as exc:
                results[index] = (exc, 0)
        if not keys:
            return results
        try:
            found, attempts = request(list(dict.fromkeys(keys.values())))
        except PlatformError as exc:
            found, attempts = dict.fromkeys(keys.values(), exc), exc.attempts
        for index, name in keys.items():
            item = found.get(name)
            results[index] = (self.not_found(name) if item is None else item, attempts)
        return results

    def fetch_batched(
        self,
        batch: list[AccountRef],
        *,
        key: Callable[[AccountRef], str],
        request: Callable[[list[str]], tuple[dict[str, Any], int]],
        metrics: Callable[[Any], Metrics],
    ) -> list[Outcome]:
        """`lookup`, then `metrics(item)` for each account found."""
        outcomes = []
        for account, (item, attempts) in zip(
            batch, self.lookup(batch, key=key, request=request), strict=True
        ):
            if isinstance(item, PlatformError):
                outcomes.append(self.failed(account, item, attempts))
                continue
            try:
                outcomes.append(self.succeeded(account, metrics(item), attempts))
            except PlatformError as exc:
                outcomes.append(self.failed(account, exc, attempts))
        return outcomes

    def not_found(self, name: str) -> PlatformError:
        return AccountNotFound(f"{self.label} has no account {name!r}")

    # Building outcomes.

    def succeeded(self, account: AccountRef, metrics: Metrics, attempts: int) -> Outcome:
        if metrics.is_empty():
            return Outcome(
                account,
                OutcomeStatus.FAILED,
                error=f"{self.label} returned no follower, following or post count for this account",
                attempts=attempts,
            )
        return Outcome(account, OutcomeStatus.SUCCEEDED, metrics=metrics, attempts=attempts)

    def failed(self, account: AccountRef, exc: PlatformError, attempts: int | None = None) -> Outcome:
        return Outcome(
            account,
            OutcomeStatus.FAILED,
            error=exc.message,
            attempts=exc.attempts if attempts is None else attempts,
            retryable=exc.retryable,
        )

    # HTTP.

    def get_json(
        self,
        url: str,
        *,
        params: dict | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        rate_key: str | None = None,
    ) -> Reply:
        """GET a JSON document through the limiter, with retries. Raises PlatformError or WaitTooLong."""
        import tenacity

        key = rate_key or self.rate_key or self.platform
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_retryable),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            data, response = retrying(self._attempt, key, url, params, headers)
        except PlatformError as exc:
            exc.attempts = retrying.statistics.get("attempt_number", 1)
            raise
        return Reply(data, response, retrying.statistics.get("attempt_number", 1))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        # After a rate-limit rejection, limiter.acquire waits what the platform asked for.
        if isinstance(state.outcome.exception(), RateLimited):
            return 0.0
        return self._backoff(state)

    def _attempt(self, key: str, url: str, params, headers) -> tuple[Any, httpx.Response]:
        import httpx

        self.limiter.acquire(key, self.max_wait)
        try:
            with self.limiter.slot(key):
                response = self.client.get(url, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise PlatformError(f"{self.label} did not answer in time ({type(exc).__name__})", True) from exc
        except httpx.TransportError as exc:
            raise PlatformError(f"could not reach {self.label}: {type(exc).__name__}: {exc}", True) from exc
        rejected_for = self.limiter.observe(key, response)
        try:
            data = response.json()
        except ValueError:
            data = None
        if rejected_for is not None:
            words = error_words(data) or response.reason_phrase
            raise RateLimited(
                f"{self.label} rate limit ({response.status_code}: {words}); "
                f"asked to wait {rejected_for:.0f} s",
                retry_after=rejected_for,
            )
        if response.is_success:
            if data is None:
                kind = response.headers.get("content-type", "no content type")
                raise PlatformError(
                    f"{self.label} answered {response.status_code} with a non-JSON body ({kind})"
                )
            return data, response
        raise self.classify_error(response, data)

    def classify_error(self, response: httpx.Response, data: Any) -> PlatformError:
        """Turn an error response into the right exception, in the platform's words."""
        status = response.status_code
        message = f"{self.label} {status}: {error_words(data) or response.reason_phrase}"
        if status in (404, 410):
            return AccountNotFound(message)
        if 300 <= status < 400:
            return PlatformError(f"{message} (redirected to {response.headers.get('location', '?')})")
        return PlatformError(message, retryable=status >= 500 or status in (408, 425))


class NoCollector(Collector):
    """A platform we have no usable API for: every account is skipped with the reason."""

    def __init__(self, platform: str, reason: str = "", **kwargs):
        self.platform = platform
        self.reason = reason or f"no public API for {platform_label(platform)}"

    def unavailable_reason(self) -> str | None:
        return self.reason


def get_collector(
    platform: str,
    *,
    client: httpx.Client | None = None,
    limiter: RateLimiter | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    max_wait: float = DEFAULT_MAX_WAIT,
) -> Collector:
    """The collector for a platform; a NoCollector where there is no API we can use."""
    path = COLLECTORS.get(platform)
    if path is None:
        reason = None if platform in NO_PUBLIC_API else f"no collector for platform {platform!r}"
        return NoCollector(platform, reason or "")
    return import_string(path)(client=client, limiter=limiter, clock=clock, sleep=sleep, max_wait=max_wait)


def credential(name: str) -> str:
    """A credential from settings, '' when missing."""
    return str(getattr(settings, name, "") or "").strip()


HANDLE_AT = re.compile(r"^@+")


def bare_handle(handle: str) -> str:
    """The handle without surrounding spaces or a leading '@'."""
    return HANDLE_AT.sub("", handle.strip())


__all__ = [
    "AccountNotFound",
    "AccountRef",
    "Collector",
    "Metrics",
    "NoCollector",
    "Outcome",
    "PlatformError",
    "PostRow",
    "RateLimited",
    "Reply",
    "WaitTooLong",
    "api_count",
    "api_time",
    "get_collector",
    "make_client",
    "shared_client",
]

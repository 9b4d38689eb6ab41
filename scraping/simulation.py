"""Deterministic, realistic simulated metrics for demos, tests and benchmarks.

`simulate_day(key, platform, day)` gives the same numbers for the same account and day on any
machine: each account has its own size (a few hundred to millions of followers), growth trend,
weekly rhythm of posting and engagement, occasional spikes and drops, and a few missing days.
Followers are a closed-form function of the day, so any day can be computed without the others.

`simulate_posts(key, platform, day, ...)` gives the posts the account published that day (at
most MAX_POSTS_PER_DAY): the day's likes, comments, shares and views of `simulate_day` shared out
between them, so a day's posts add up to the day's engagement.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b, shake_128

EPOCH = dt.date(2024, 1, 1)
BLOCK_DAYS = 30
MISSING_DAY_RATE = 0.012
#: Relative posting activity Monday..Sunday.
WEEKLY_RHYTHM = (1.1, 1.2, 1.15, 1.1, 0.95, 0.35, 0.25)
_MEAN_RHYTHM = sum(WEEKLY_RHYTHM) / 7
#: Platforms whose public figures include no daily likes/comments/shares/views.
NO_ENGAGEMENT = {"github", "reddit"}
NO_VIEWS = {"linkedin", "bluesky", "mastodon", "threads", "truth_social", "github", "reddit"}
ROUNDED_PLATFORMS = {"youtube"}
_U16 = 65535.0


def _hash(*parts: object) -> int:
    return int.from_bytes(blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


_MASK = (1 << 64) - 1


def _mix(value: int) -> int:
    """splitmix64: a cheap, well-spread integer hash for per-block and per-day draws."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


@lru_cache(maxsize=65536)
def _seed(key: str) -> int:
    return _hash("seed", key)


#: The four 16-bit words of a 64-bit number, lowest first.
_WORDS = struct.Struct("<4H").unpack


def _uniforms(value: int) -> list[float]:
    """Split a 64-bit hash into 4 uniform numbers in [0, 1] (its 16-bit words, lowest first)."""
    # One unpack instead of four shifts and masks: 40 % less time, 40,000 calls in a 10,000-account run.
    w0, w1, w2, w3 = _WORDS(value.to_bytes(8, "little"))
    return [w0 / _U16, w1 / _U16, w2 / _U16, w3 / _U16]


@dataclass(frozen=True, slots=True)
class Profile:
    base_followers: float
    daily_growth: float
    posts_per_day: float
    engagement_rate: float
    comment_ratio: float
    share_ratio: float
    views_ratio: float
    base_following: int
    following_per_day: float
    base_posts: int
    wobble_phase: float


@lru_cache(maxsize=65536)
def profile(key: str) -> Profile:
    seed = _seed(key)
    a = _uniforms(seed)
    b = _uniforms(_mix(seed ^ 0xB))
    c = _uniforms(_mix(seed ^ 0xC))
    base_followers = 10 ** (2.5 + 4.2 * a[0] ** 1.3)  # ~300 to ~5M, most accounts modest
    posts_per_day = 0.2 + 4.8 * a[2] ** 2
    return Profile(
        base_followers=base_followers,
        daily_growth=-0.0003 + 0.0028 * a[1] ** 1.5,
        posts_per_day=posts_per_day,
        engagement_rate=0.0008 + 0.02 * a[3] ** 2,
        comment_ratio=0.02 + 0.08 * b[0],
        share_ratio=0.03 + 0.15 * b[1],
        views_ratio=15 + 50 * b[2],
        base_following=int(20 + 2000 * b[3] ** 3),
        following_per_day=0.05 * c[0],
        base_posts=int(300 + posts_per_day * 900 * (0.5 + c[1])),
        wobble_phase=c[2] * math.tau,
    )


_EVENT_RATE = int(0.3 * 0xFFFF)


@lru_cache(maxsize=65536)
def _events(key: str, last_block: int) -> tuple[list[int], list[float], list[float]]:
    """Spikes and drops up to a block (at most one per 30-day block, in 30% of blocks): their
    days from EPOCH, their follower jump fractions, and the cumulative factor after each.

    The draws come from one extendable-output hash of the account (SHAKE-128), four 16-bit
    numbers a block: a longer horizon only appends blocks, so past events never change.
    """
    count = last_block + 1
    draws = struct.unpack(f"<{4 * count}H", shake_128(f"events|{key}".encode()).digest(8 * count))
    days, jumps, cumulative, factor = [], [], [1.0], 1.0
    for block in [b for b, happens in enumerate(draws[0::4]) if happens < _EVENT_RATE]:
        offset, size, kind = draws[4 * block + 1 : 4 * block + 4]
        jump = 0.005 + 0.035 * size / _U16 if kind >= 0x4000 else -(0.003 + 0.015 * size / _U16)
        days.append(block * BLOCK_DAYS + int(offset / _U16 * (BLOCK_DAYS - 1)))
        jumps.append(jump)
        factor *= 1 + jump
        cumulative.append(factor)
    return days, jumps, cumulative


def _event_factor(key: str, t: int) -> tuple[float, bool]:
    """Cumulative follower factor of every event up to day t, and whether day t is just after a spike."""
    if t < 0:
        return 1.0, False
    days, jumps, cumulative = _events(key, t // BLOCK_DAYS)
    index = bisect_right(days, t)
    near = index > 0 and t - days[index - 1] <= 2 and jumps[index - 1] > 0
    return cumulative[index], near


def _round_sig(value: int, digits: int = 3) -> int:
    if value < 1000:
        return value
    scale = 10 ** (len(str(value)) - digits)
    return int(round(value / scale) * scale)


def is_missing(key: str, day: dt.date) -> bool:
    """Whether the demo history leaves this account-day out (a few missing days, like real data)."""
    draw = _mix(_seed(key) ^ (day.toordinal() * 0xA0761D6478BD642F) ^ 0x5555)
    return (draw & 0xFFFF) / _U16 < MISSING_DAY_RATE


#: The share of demo account-days whose follower count came back from the platform wrong (a tenth of
#: the real one, as when a scraper loses a digit), as real data has now and then.
GLITCH_DAY_RATE = 0.0015


def is_glitch(key: str, day: dt.date) -> bool:
    """Whether the demo history has a wrong follower count on this account-day (see GLITCH_DAY_RATE):
    stored as read, it is flagged as an anomaly, and so is the next day's return to the real count."""
    draw = _mix(_seed(key) ^ (day.toordinal() * 0x9FB21C651E98DF25) ^ 0x6A09)
    return (draw & 0xFFFF) / _U16 < GLITCH_DAY_RATE


#: Growth compounds for this many days either side of EPOCH, then levels off within a year, so no
#: value outgrows what the database stores however far a --date goes (years 1 to 9999).
_GROWTH_DAYS = 7300
_LEVEL_OFF_DAYS = 365


def _growth_days(t: int) -> float:
    if abs(t) <= _GROWTH_DAYS:
        return t
    beyond = _LEVEL_OFF_DAYS * math.tanh((abs(t) - _GROWTH_DAYS) / _LEVEL_OFF_DAYS)
    return math.copysign(_GROWTH_DAYS + beyond, t)


def _posts_on(p: Profile, day: dt.date, draw: float) -> int:
    """How many posts the account publishes on the day (`draw`: the day's first uniform number)."""
    return int(p.posts_per_day * WEEKLY_RHYTHM[day.weekday()] * (0.4 + 1.2 * draw) + 0.5)


def simulate_day(key: str, platform: str, day: dt.date) -> dict:
    """The metrics of one account (`key` = "platform:handle") on one day, and their precision."""
    p = profile(key)
    t = (day - EPOCH).days
    u = _uniforms(_mix(_seed(key) ^ (day.toordinal() * 0xD6E8FEB86659FD93)))
    events, after_spike = _event_factor(key, min(t, _GROWTH_DAYS + _LEVEL_OFF_DAYS))  # spikes stop too
    wobble = 1 + 0.0015 * math.sin(t / 9 + p.wobble_phase)
    followers = int(p.base_followers * math.exp(p.daily_growth * _growth_days(t)) * events * wobble)
    posts_today = _posts_on(p, day, u[0])
    posts_total = max(0, p.base_posts + int(p.posts_per_day * _MEAN_RHYTHM * t))
    values = {
        "followers": followers,
        "following": max(0, int(p.base_following + p.following_per_day * t)),
        "posts": posts_total,
        "likes": None,
        "comments": None,
        "shares": None,
        "views": None,
        "precision": "exact",
    }
    if platform not in NO_ENGAGEMENT:
        activity = (0.3 + 0.7 * min(posts_today, 6)) * (0.6 + 0.8 * u[1])
        if after_spike:
            activity *= 3 + 5 * u[2]
        likes = int(followers * p.engagement_rate * activity * 0.25)
        values["likes"] = likes
        values["comments"] = int(likes * p.comment_ratio)
        values["shares"] = int(likes * p.share_ratio)
        if platform not in NO_VIEWS:
            values["views"] = int(likes * p.views_ratio * (0.8 + 0.4 * u[3]))
    if platform in ROUNDED_PLATFORMS:
        values["followers"] = _round_sig(followers)
        values["precision"] = "rounded"
    return values


#: The most posts of a day the simulation gives (a busy account's others are left out).
MAX_POSTS_PER_DAY = 3
#: The first minute of the day a simulated post may be published (06:00); the last is 22:00.
FIRST_POST_MINUTE = 360
#: Platforms whose accounts publish no posts (a GitHub account has repositories).
NO_POSTS = {"github"}
_POST_TYPES = {"youtube": "video", "tiktok": "short"}
_OPENINGS = (
    "New today:", "Update:", "Read our latest on", "Reminder:", "Thread:", "Watch:", "Q&A:",
    "This week:", "Behind the scenes:", "Coming up:", "Thank you for joining", "Did you know?",
)  # fmt: skip
_TOPICS = (
    "opening hours over the holidays", "the monthly report", "community events near you",
    "safety tips for the season", "this week's numbers", "new online services", "job openings",
    "the public consultation", "a visit to our field teams", "upcoming changes to the schedule",
    "a success story from our partners", "answers to your most asked questions",
)  # fmt: skip


#: Every text a simulated post may have: an opening and a topic.
_TEXTS = tuple(f"{opening} {topic}" for opening in _OPENINGS for topic in _TOPICS)


@lru_cache(maxsize=4096)
def _post_ids(day: dt.date) -> tuple[str, ...]:
    """The ids of a day's posts: "sim-YYYYMMDD-N" (the same for every account: ids are per account)."""
    return tuple(f"sim-{day:%Y%m%d}-{n}" for n in range(1, MAX_POSTS_PER_DAY + 1))


def simulate_posts(
    key: str,
    platform: str,
    day: dt.date,
    *,
    followers: int | None,
    likes: int | None,
    comments: int | None,
    shares: int | None,
    views: int | None,
) -> list[tuple]:
    """The account's posts of the day, each as (post id, minute of the day it was published, type,
    text, likes, comments, shares, views), in the order they were published: the counts are the
    day's figures (of `simulate_day`) shared out by weight, or, where a platform has none (Reddit),
    a few per thousand followers. Deterministic, like every simulated number."""
    if platform in NO_POSTS:
        return []
    p = profile(key)
    seed = _seed(key)
    ordinal = day.toordinal()
    # The day's first uniform number, as `simulate_day` draws it: the same number of posts.
    draw = (_mix(seed ^ (ordinal * 0xD6E8FEB86659FD93)) & 0xFFFF) / _U16
    count = min(MAX_POSTS_PER_DAY, _posts_on(p, day, draw))
    if count <= 0:
        return []
    base = seed ^ (ordinal * 0x8CB92BA72F3D8DD7)
    draws = [_mix(base ^ ((n + 1) * 0x2545F4914F6CDD1D)) for n in range(count)]
    weights = [0.3 + 1.4 * (d & 0xFFFF) / _U16 for d in draws]
    total = sum(weights)
    if likes is None and followers:
        likes = int(followers * p.engagement_rate * 0.2 * count)
        comments = int(likes * p.comment_ratio * 3)
    post_type = _POST_TYPES.get(platform, "post")
    ids = _post_ids(day)
    posts = []
    for n, (d, weight) in enumerate(zip(draws, weights, strict=True)):
        share = weight / total
        minute = FIRST_POST_MINUTE + 960 * (n * 65536 + ((d >> 16) & 0xFFFF)) // (65536 * count)  # in order
        posts.append(
            (
                ids[n], minute, post_type, _TEXTS[(d >> 32) % len(_TEXTS)],
                None if likes is None else int(likes * share),
                None if comments is None else int(comments * share),
                None if shares is None else int(shares * share),
                None if views is None else int(views * share),
            )
        )  # fmt: skip
    return posts

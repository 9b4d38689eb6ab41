"""The simulation's shortcuts give what the long way gives: the uniform numbers of a hash, and a day
whose posts are not published yet (the next day's run) gives no posts without computing them."""

from __future__ import annotations

import datetime as dt
import random

from scraping import simulation
from scraping.collectors.simulated import PostClock, simulated_posts
from scraping.simulation import FIRST_POST_MINUTE, simulate_day, simulate_posts
from snapshots.models import METRIC_FIELDS
from snapshots.services import SnapshotRow

DAY = dt.date(2026, 10, 7)  # a Wednesday: busy accounts publish up to MAX_POSTS_PER_DAY posts


def test_uniforms_are_the_hashs_16_bit_words_lowest_first():
    rng = random.Random(7)
    for value in [0, 1, (1 << 64) - 1, *(rng.getrandbits(64) for _ in range(2000))]:
        words = [((value >> (16 * i)) & 0xFFFF) / simulation._U16 for i in range(4)]
        assert simulation._uniforms(value) == words


def _posts_at(key: str, platform: str, minute: int) -> tuple[list, list]:
    """(what the collector gives with its clock at `minute` of DAY, the simulation's posts of DAY)."""
    values = simulate_day(key, platform, DAY)
    counts = SnapshotRow(1, DAY, *(values[n] for n in METRIC_FIELDS))
    clock = PostClock(DAY, now=dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC))
    clock.last_minute = minute
    kept = simulated_posts(account_id=1, key=key, platform=platform, day=DAY, counts=counts, clock=clock)
    every = simulate_posts(
        key, platform, DAY, **{n: values[n] for n in ("followers", "likes", "comments", "shares", "views")}
    )
    return kept, every


def test_no_post_before_the_first_minute_and_every_one_after_the_last():
    keys = [f"x:city{n}" for n in range(200)]
    published = [minute for key in keys for _, minute, *_ in _posts_at(key, "x", 1440)[1]]
    assert published
    assert min(published) >= FIRST_POST_MINUTE
    for key in keys:
        assert _posts_at(key, "x", FIRST_POST_MINUTE - 1)[0] == []  # a day not begun (or tomorrow)
        kept, every = _posts_at(key, "x", 1440)
        assert [p.platform_post_id for p in kept] == [e[0] for e in every]

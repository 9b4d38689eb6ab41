"""The simulated collector: deterministic, realistic metrics and posts without any network (demos,
tests, benchmarks). Same interface as the real collectors; it can also give a series of past days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from scraping.models import OutcomeStatus
from scraping.simulation import FIRST_POST_MINUTE, simulate_day, simulate_posts
from snapshots.services import PostRow
from socialmetrics.dates import product_zone

from .base import AccountRef, Metrics, Outcome


@dataclass(slots=True)
class SeriesOutcome(Outcome):
    """An outcome carrying metrics for several days (backfill): [(day, Metrics), ...]."""

    series: list[tuple[dt.date, Metrics]] = field(default_factory=list)


class SimulatedCollector:
    batch_size = 500
    #: Pure Python, no waiting: the runner gives it one worker thread (see `runner.run_execute`).
    cpu_bound = True

    def __init__(self, platform: str, *, days: list[dt.date]):
        self.platform = platform
        self.days = days

    def unavailable_reason(self) -> str | None:
        return None

    def collect(self, accounts: list[AccountRef]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for account in accounts:
            key = f"{account.platform}:{account.handle.lower()}"
            series = [(day, Metrics(**simulate_day(key, account.platform, day))) for day in self.days]
            outcomes.append(
                SeriesOutcome(
                    account, OutcomeStatus.SUCCEEDED, metrics=series[-1][1], attempts=1, series=series
                )
            )
        return outcomes

    def collect_posts(self, outcomes: list[Outcome]) -> None:
        """The posts each account published on the run's days (`simulated_posts`), those already
        published by now: a run later in the day finds the day's later posts."""
        clocks = {day: PostClock(day) for day in self.days}
        for outcome in outcomes:
            series = getattr(outcome, "series", None)
            if outcome.status != OutcomeStatus.SUCCEEDED or not series:
                continue
            account = outcome.account
            key = f"{account.platform}:{account.handle.lower()}"
            posts: list[PostRow] = []
            for day, m in series:
                posts += simulated_posts(
                    account_id=account.id, key=key, platform=account.platform, day=day, counts=m,
                    clock=clocks[day],
                )  # fmt: skip
            outcome.posts = posts


class PostClock:
    """When a day's simulated posts were published: the moment of each minute of the day (in the
    product's time zone, made once per minute), and the last minute that has passed by now."""

    def __init__(self, day: dt.date, now: dt.datetime | None = None):
        local = (now or timezone.now()).astimezone(product_zone())
        self.midnight = dt.datetime.combine(day, dt.time(), tzinfo=product_zone())
        today = local.date()
        self.last_minute = 1440 if day < today else local.hour * 60 + local.minute if day == today else -1
        self._moments: dict[int, dt.datetime] = {}

    def moment(self, minute: int) -> dt.datetime:
        moment = self._moments.get(minute)
        if moment is None:
            moment = self._moments[minute] = self.midnight + dt.timedelta(minutes=minute)
        return moment


def simulated_posts(
    *, account_id: int, key: str, platform: str, day: dt.date, counts, clock: PostClock
) -> list[PostRow]:
    """The account's simulated posts of `day` published by the clock's now, their counts shared out
    from the day's (`counts`: its followers, likes, comments, shares and views, as Metrics or a
    SnapshotRow)."""
    # None published yet (the next day's run, before 06:00): 10,000 accounts simulate in half the time.
    if clock.last_minute < FIRST_POST_MINUTE:
        return []
    return [
        PostRow(account_id, post_id, clock.moment(minute), "", kind, text, likes, comments, shares, views)
        for post_id, minute, kind, text, likes, comments, shares, views in simulate_posts(
            key, platform, day, followers=counts.followers, likes=counts.likes, comments=counts.comments,
            shares=counts.shares, views=counts.views,
        )
        if minute <= clock.last_minute
    ]  # fmt: skip

"""How far a collection run has got and how long it has left.

A run records its plan when it starts (`run_plan`, stored in `CollectionRun.planned`): per platform,
its accounts and the requests they take on the platform's rate-limit key (accounts / the collector's
request size, and one more per account where the collector reads recent posts; Mastodon: those of
its busiest instance, each instance having a budget of its own). `estimate` reads only the run's
record, so the status endpoints answer it without a query.

The time left, in real mode, per rate-limit key (platforms sharing one, as Instagram and Facebook
share Meta's, are counted together), is the longer of:
- the rate limit: a budget of N requests per W seconds lets the run's request i go at the start
  plus floor(i / N) x W at the earliest, so its last request goes no earlier than that. When W is
  longer than the run's --max-wait the platform waits for no window: what its budget does not cover
  is deferred to a later run at once, so only the requests its first window allows are left to do;
- the observed pace: the key's remaining accounts at the rate its accounts were done so far.
Platforms are collected side by side, so the run's time left is that of its slowest key. In
simulated mode (no requests, no limits) it is the remaining accounts at the run's observed pace.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.utils import timezone

from .collectors.base import DEFAULT_MAX_WAIT, AccountRef, Collector
from .models import CollectionRun, RunMode, RunStatus
from .ratelimit import configured_limits

PACE = "pace"
RATE_LIMITS = "rate_limits"


def run_plan(*, accounts: Iterable[AccountRef], collector: Callable[[str], object]) -> dict[str, dict]:
    """{"x": {"accounts": n, "requests": n, "key": "x"}} for the accounts of a run; `collector(platform)`
    gives the run's collector of a platform. A platform its collector cannot read needs no request."""
    accounts_of: Counter = Counter()
    instances: dict[str, Counter] = defaultdict(Counter)
    for ref in accounts:
        accounts_of[ref.platform] += 1
        instances[ref.platform][ref.instance_host.lower() or ref.handle.rpartition("@")[2].lower()] += 1
    plan: dict[str, dict] = {}
    for platform, count in accounts_of.items():
        made = collector(platform)
        key = getattr(made, "rate_key", "") or platform
        posts = 1 if _reads_posts(made) else 0  # a request per account for its recent posts
        if made.unavailable_reason():
            requests = 0
        elif platform == "mastodon":  # one request per account, on the account's own instance
            requests = max(instances[platform].values()) * (1 + posts)
        else:
            requests = math.ceil(count / max(1, made.batch_size)) + count * posts
        plan[platform] = {"accounts": count, "requests": requests, "key": key}
    return plan


def _reads_posts(collector) -> bool:
    """Whether the collector reads its accounts' recent posts (it has a `fetch_posts` of its own)."""
    own = getattr(type(collector), "fetch_posts", None)
    return own is not None and own is not getattr(Collector, "fetch_posts", None)


@dataclass(frozen=True, slots=True)
class PlatformProgress:
    platform: str
    total: int
    done: int
    #: Seconds its rate-limit key has left (None: not known yet).
    eta: float | None
    #: (requests, seconds) of its rate-limit key, None when it has none (or needs no request).
    rate_limit: tuple[int, float] | None
    #: The budget's window is longer than --max-wait: what the budget does not cover is deferred.
    defers_beyond_budget: bool

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)


@dataclass(frozen=True, slots=True)
class Estimate:
    rate: float | None  # accounts per second so far
    eta: float | None  # seconds left (None: unknown, and for a run that ended other than completed)
    basis: str  # PACE or RATE_LIMITS: what the time left is bound by ("" when nothing is left)
    platforms: list[PlatformProgress]


def _limit_for(limits: Mapping[str, tuple[int, float]], key: str) -> tuple[int, float] | None:
    """As RateLimiter.limit_for: a key's budget, "mastodon:host" falling back to "mastodon"."""
    limit = limits.get(key) or limits.get(key.split(":", 1)[0])
    if not limit or limit[0] <= 0 or limit[1] <= 0:
        return None
    return int(limit[0]), float(limit[1])


def estimate(
    *, run: CollectionRun, now: dt.datetime | None = None, limits: Mapping | None = None
) -> Estimate:
    """The run's pace and time left, from its record alone (see the module's docstring)."""
    end = run.finished_at or now or timezone.now()
    elapsed = max(0.0, (end - run.started_at).total_seconds())
    done = run.accounts_done
    rate = done / elapsed if elapsed > 0 and done else None
    done_of = {p: sum(c.values()) for p, c in (run.by_platform or {}).items()}
    planned = run.planned or {}
    real = run.mode == RunMode.REAL
    limits = configured_limits() if limits is None else limits
    max_wait = float((run.options or {}).get("max_wait", DEFAULT_MAX_WAIT))

    by_key: dict[str, list[str]] = defaultdict(list)
    for platform, plan in planned.items():
        by_key[plan.get("key") or platform].append(platform)
    key_eta: dict[str, float | None] = {}
    key_basis: dict[str, str] = {}
    key_limit: dict[str, tuple[int, float] | None] = {}
    key_defers: dict[str, bool] = {}
    for key, platforms in by_key.items():
        total = finished = requests = left = 0
        for platform in platforms:
            accounts, needs = planned[platform]["accounts"], planned[platform]["requests"]
            platform_done = min(done_of.get(platform, 0), accounts)
            total, finished, requests = total + accounts, finished + platform_done, requests + needs
            left += math.ceil(needs * (accounts - platform_done) / accounts) if accounts else 0
        remaining = total - finished
        limit = _limit_for(limits, key) if real and requests else None
        key_limit[key] = limit
        key_defers[key] = False
        limit_seconds = 0.0
        if limit is not None and requests > limit[0]:
            count, window = limit
            if window > max_wait:  # no window is waited for: beyond the budget, deferred at once
                key_defers[key] = True
                budget_left = max(0, count - (requests - left))
                remaining = math.ceil(remaining * min(1.0, budget_left / left)) if left else 0
            else:
                last = run.started_at + dt.timedelta(seconds=((requests - 1) // count) * window)
                limit_seconds = max(0.0, (last - end).total_seconds())
        pace = finished / elapsed if finished and elapsed > 0 else rate
        pace_seconds = remaining / pace if pace else None
        if remaining <= 0:
            key_eta[key], key_basis[key] = 0.0, ""
        elif pace_seconds is None:
            key_eta[key] = limit_seconds or None
            key_basis[key] = RATE_LIMITS if limit_seconds else ""
        elif limit_seconds > pace_seconds:
            key_eta[key], key_basis[key] = limit_seconds, RATE_LIMITS
        else:
            key_eta[key], key_basis[key] = pace_seconds, PACE

    active = run.status in (RunStatus.PENDING, RunStatus.RUNNING)
    platforms = [
        PlatformProgress(
            platform=platform,
            total=plan["accounts"],
            done=min(done_of.get(platform, 0), plan["accounts"]),
            eta=_rounded(key_eta[plan.get("key") or platform]) if active else None,
            rate_limit=key_limit[plan.get("key") or platform],
            defers_beyond_budget=key_defers[plan.get("key") or platform],
        )
        for platform, plan in sorted(planned.items())
    ]

    if not active:
        eta, basis = (0.0 if run.status == RunStatus.COMPLETED else None), ""
    elif not planned or not real:
        remaining = max(0, run.accounts_total - done)
        eta = remaining / rate if rate else (0.0 if run.accounts_total and not remaining else None)
        basis = PACE if eta else ""
    else:
        # A key with nothing done yet and no limit to go by is not known: the others' time is then
        # a lower bound, shown when it is more than nothing.
        known = [k for k in key_eta if key_eta[k] is not None]
        slowest = max(known, key=lambda k: key_eta[k], default=None)
        eta = key_eta[slowest] if slowest is not None else None
        if len(known) < len(key_eta) and not eta:
            eta = None
        basis = key_basis[slowest] if eta else ""
    return Estimate(rate=_rounded(rate), eta=_rounded(eta), basis=basis if eta else "", platforms=platforms)


def _rounded(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None

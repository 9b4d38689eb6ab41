"""Throttling of anonymous traffic: a fixed-window counter, one cache operation per request.

The rate comes from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"] ("1000/minute"; empty or
"off" turns throttling off), read at request time so a settings change takes effect. A refused
request gets 429 with Retry-After (the seconds until the window ends). Unlike REST framework's own
throttles (a get and a set of a timestamp list per request), the counter is one atomic ``incr``;
if the cache is down the request is let through rather than refused.

The early cache answer (`socialmetrics.cache.EarlyAnswer`) counts the request in the same round
trip as its cache look-up and leaves the count in the request's environ (`COUNTED`), so a request
it hands on to the view is never counted twice.
"""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: Key of the WSGI environ (Django's `request.META`) holding the count the early cache answer made.
COUNTED = "socialmetrics.anon_count"


@functools.lru_cache(maxsize=16)  # a rate is a setting: parsed once, not at each request (5 calls)
def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "100/minute" -> (100, 60); None, "" or "off" -> None (no limit)."""
    if not rate or rate.strip().lower() in {"off", "none", "0"}:
        return None
    number, _, period = rate.partition("/")
    return int(number), _PERIODS[period.strip()[:1].lower()]


class Window(NamedTuple):
    """The current window of one client's counter (a named tuple: 3 calls to make, where a frozen
    dataclass takes 7)."""

    key: str
    number: int  # requests allowed per window
    period: int  # seconds
    ends: float  # epoch seconds

    def allows(self, count: int | None) -> bool:
        return count is None or count <= self.number  # None: cache unavailable, never refuse


def anon_window(request, scope: str = "anon") -> Window | None:
    """The window an anonymous request counts in (`request`: Django's or REST framework's), or
    None when the scope is not throttled."""
    limit = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))
    if limit is None:
        return None
    number, period = limit
    window = int(time.time() // period)
    ident = client_ident(request.META)
    return Window(key=f"throttle:{scope}:{ident}:{window}", number=number, period=period,
                  ends=(window + 1) * period)  # fmt: skip


def client_ident(meta: dict) -> str | None:
    """REST framework's `BaseThrottle.get_ident`, read from the environ: its `request.headers` maps
    every header of the request first (71 Python calls a hit)."""
    xff = meta.get("HTTP_X_FORWARDED_FOR")
    remote_addr = meta.get("REMOTE_ADDR")
    num_proxies = api_settings.NUM_PROXIES
    if num_proxies is not None:
        if num_proxies == 0 or xff is None:
            return remote_addr
        addrs = xff.split(",")
        return addrs[-min(num_proxies, len(addrs))].strip()
    return "".join(xff.split()) if xff else remote_addr


def count_request(window: Window) -> int | None:
    """Add one to the window's counter; the new count, or None if the cache is unavailable."""
    try:
        return cache.incr(window.key)
    except ValueError:  # first request of the window
        if cache.add(window.key, 1, timeout=window.period + 1):
            return 1
        try:
            return cache.incr(window.key)
        except ValueError:
            return 1


class AnonRateThrottle(BaseThrottle):
    scope = "anon"

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        if request.user is not None and request.user.is_authenticated:
            return True
        window = anon_window(request, self.scope)
        if window is None:
            return True
        meta = request.META
        count = meta[COUNTED] if COUNTED in meta else count_request(window)
        if window.allows(count):
            return True
        self._wait = window.ends - time.time()
        return False

    def wait(self) -> float | None:
        return None if self._wait is None else float(max(1, math.ceil(self._wait)))

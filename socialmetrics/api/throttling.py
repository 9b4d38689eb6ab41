"""Throttling of anonymous traffic: a fixed-window counter, one cache operation per request.

The rate comes from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["anon"] ("1000/minute"; empty or
"off" turns throttling off), read at request time so a settings change takes effect. A refused
request gets 429 with Retry-After (the seconds until the window ends). Unlike REST framework's own
throttles (a get and a set of a timestamp list per request), the counter is one atomic ``incr``;
if the cache is down the request is let through rather than refused.
"""

from __future__ import annotations

import math
import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "100/minute" -> (100, 60); None, "" or "off" -> None (no limit)."""
    if not rate or rate.strip().lower() in {"off", "none", "0"}:
        return None
    number, _, period = rate.partition("/")
    return int(number), _PERIODS[period.strip()[:1].lower()]


class AnonRateThrottle(BaseThrottle):
    scope = "anon"

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request, view) -> bool:
        if request.user is not None and request.user.is_authenticated:
            return True
        limit = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))
        if limit is None:
            return True
        number, period = limit
        now = time.time()
        window = int(now // period)
        key = f"throttle:{self.scope}:{self.get_ident(request)}:{window}"
        try:
            count = cache.incr(key)
        except ValueError:  # first request of the window
            count = 1 if cache.add(key, 1, timeout=period + 1) else _incr_or_one(key)
        if count is None:  # cache unavailable: never refuse because of it
            return True
        if count > number:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return None if self._wait is None else float(max(1, math.ceil(self._wait)))


def _incr_or_one(key: str) -> int | None:
    try:
        return cache.incr(key)
    except ValueError:
        return 1

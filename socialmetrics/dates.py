"""Calendar days in the product's time zone (`SOCIALMETRICS_TIME_ZONE`).

"Today" anywhere in socialmetrics is today in that zone, not on the server's clock.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def product_zone() -> ZoneInfo:
    return ZoneInfo(settings.SOCIALMETRICS_TIME_ZONE)


def local_today() -> dt.date:
    return timezone.now().astimezone(product_zone()).date()


def day_of(moment: dt.datetime) -> dt.date:
    """The calendar day a moment belongs to in the product's time zone."""
    return moment.astimezone(product_zone()).date()


def day_ranges(days) -> str:
    """ "2026-11-28..2026-11-30, 2026-12-02": consecutive days written as one range."""
    ranges: list[list[dt.date]] = []
    for day in sorted(days):
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return ", ".join(a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in ranges)

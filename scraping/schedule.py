"""The daily collection schedule: one django-celery-beat periodic task, made once by migration
0003 and edited in the admin afterwards (time, time zone, mode, on/off); `celery -A socialmetrics
beat` sends it to the workers, which run `scraping.tasks.collect_scheduled`."""

from __future__ import annotations

import datetime as dt

#: The periodic task's name in the admin.
DAILY_TASK = "Daily collection"
#: The Celery task it sends.
TASK = "scraping.collect_scheduled"


def parse_collect_at(text: str) -> dt.time:
    """SOCIALMETRICS_COLLECT_AT, "HH:MM" on a 24-hour clock; ValueError naming the setting otherwise."""
    try:
        hours, minutes = text.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"SOCIALMETRICS_COLLECT_AT: expected HH:MM (e.g. 06:00), got {text!r}") from None

"""Helpers for the tests of collection runs and their lock (not a test module)."""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import quote

from django.conf import settings
from django.db import connection

from scraping.collectors.base import Metrics, Outcome
from scraping.locks import LockHeld, run_lock
from scraping.models import OutcomeStatus
from scraping.ratelimit import WaitTooLong


def lock_is_free() -> bool:
    """Whether a run could take the collection lock now (taken and given back at once)."""
    lock = run_lock(timeout=5)
    try:
        lock.acquire()
    except LockHeld:
        return False
    lock.release()
    return True


class FakeCollector:
    """Records the batches it is given and how many run at once per platform."""

    batch_size = 1
    lock = threading.Lock()

    def __init__(self, platform, log, *, delay=0.0, fail=(), empty=(), wait_after=None):
        self.platform = platform
        self.log = log
        self.delay = delay
        self.fail = set(fail)
        self.empty = set(empty)
        self.wait_after = wait_after
        self.calls = 0

    def unavailable_reason(self):
        return None

    def collect(self, accounts):
        with self.lock:
            self.log["running"][self.platform] += 1
            self.log["peak"][self.platform] = max(
                self.log["peak"][self.platform], self.log["running"][self.platform]
            )
            self.log["order"].extend(a.id for a in accounts)
            self.calls += 1
            calls = self.calls
        try:
            time.sleep(self.delay)
            if self.wait_after is not None and calls > self.wait_after:
                raise WaitTooLong(self.platform, 3600)
            outcomes = []
            for a in accounts:
                if a.handle in self.fail:
                    outcomes.append(Outcome(a, OutcomeStatus.FAILED, error="X 404: account suspended"))
                elif a.handle in self.empty:
                    outcomes.append(Outcome(a, OutcomeStatus.FAILED, error="no count"))
                else:
                    outcomes.append(Outcome(a, OutcomeStatus.SUCCEEDED, metrics=Metrics(followers=10 + a.id)))
            return outcomes
        finally:
            with self.lock:
                self.log["running"][self.platform] -= 1


def factory_with(log, **kwargs):
    made = {}

    def make(platform, options, days):
        made[platform] = FakeCollector(platform, log, **kwargs)
        return made[platform]

    return make


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a process that works on this test's database (and on its Redis, unless
    `REDIS_URL=""` is passed): as a `manage.py` run on the same installation would have it."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        url = f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialmetrics.settings.test",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        **extra,
    }

"""The simulated collector: deterministic, realistic metrics without any network (demos, tests,
benchmarks). Same interface as the real collectors; it can also give a series of past days."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from scraping.models import OutcomeStatus
from scraping.simulation import simulate_day

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

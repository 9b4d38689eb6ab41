"""List the active accounts with days missing in the last N days, and fill them where possible.

    manage.py find_gaps                          # the last 7 days, every platform
    manage.py find_gaps --days 30 --platform x
    manage.py find_gaps --fill                   # simulated: write the missing days (demos)
    manage.py find_gaps --fill --mode real       # collect today's missing accounts from the platforms

A past day cannot be collected from the platforms (they only give today's numbers): in real mode
`--fill` collects the accounts missing today and says how many past days stay missing. Exit status:
0 when nothing is missing (after filling), 1 when days are still missing (so a monitor can alert),
2 on bad arguments. Output: the list and its summary at -v 1 (the default), nothing at -v 0 (the
exit status says it all); `--fill` shows a progress bar over the days it fills, on a terminal.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Platform
from scraping.locks import LockHeld
from scraping.models import RunMode
from scraping.runner import RunOptions, collect
from scraping.selectors import GAPS_MAX_DAYS, AccountGap, account_gaps
from socialmetrics.command_progress import command_progress
from socialmetrics.dates import day_ranges, local_today


class Command(BaseCommand):
    help = "List active accounts with missing days in the last N days; --fill fills what can be filled."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7, help="How many days back, today included (7).")
        parser.add_argument("--platform", default="", help="Only this platform.")
        parser.add_argument("--fill", action="store_true", help="Fill the gaps (see --mode).")
        parser.add_argument(
            "--mode",
            default=RunMode.SIMULATED,
            choices=RunMode.values,
            help="With --fill: simulated (default) writes every missing day; real collects today's.",
        )

    def handle(self, *args, days: int, platform: str, fill: bool, mode: str, verbosity: int, **options):
        if not 1 <= days <= GAPS_MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {GAPS_MAX_DAYS}, got {days}.", returncode=2)
        if platform and platform not in Platform.values:
            raise CommandError(
                f"unknown --platform {platform!r}; expected one of: {', '.join(Platform.values)}",
                returncode=2,
            )
        gaps = account_gaps(days=days, platform=platform)
        self.report(gaps, days=days, verbosity=verbosity)
        if fill and gaps:
            self.fill(gaps, mode=mode, verbosity=verbosity)
            gaps = account_gaps(days=days, platform=platform)
            if verbosity:
                self.stdout.write(f"After filling: {self.summary(gaps, days=days)}")
        if gaps:
            sys.exit(1)  # what is missing was listed above

    def summary(self, gaps: list[AccountGap], *, days: int) -> str:
        if not gaps:
            return f"no active account misses a day of the last {days} days."
        missing = sum(len(gap.missing) for gap in gaps)
        return f"{len(gaps)} active accounts miss {missing} account-days of the last {days} days."

    def report(self, gaps: list[AccountGap], *, days: int, verbosity: int) -> None:
        if not verbosity:
            return
        for gap in gaps:
            self.stdout.write(
                f"{gap.platform:<12} {gap.handle:<32} {len(gap.missing):>4}  {day_ranges(gap.missing)}"
            )
        self.stdout.write(self.summary(gaps, days=days))

    def fill(self, gaps: list[AccountGap], *, mode: str, verbosity: int) -> None:
        today = local_today()
        by_day: dict[dt.date, list[int]] = defaultdict(list)
        for gap in gaps:
            for day in gap.missing:
                if mode == RunMode.SIMULATED or day == today:
                    by_day[day].append(gap.account_id)
        if mode == RunMode.REAL and verbosity:
            past = sum(1 for gap in gaps for day in gap.missing if day != today)
            if past:
                self.stdout.write(
                    self.style.WARNING(
                        f"{past} past account-days cannot be filled: the platforms only give today's "
                        "numbers, so those days stay missing."
                    )
                )
        with command_progress(
            self, verbosity=verbosity, description="filling", total=len(by_day), unit="days", plain=False
        ) as progress:
            for filled, day in enumerate(sorted(by_day), start=1):
                ids = by_day[day]
                try:
                    run = collect(options=RunOptions(mode=mode, date=day, account_ids=ids))
                except LockHeld as exc:
                    raise CommandError(str(exc), returncode=1) from None
                progress(filled)
                if verbosity >= 2 or (verbosity and not self.stdout.isatty()):
                    done = f"{run.accounts_succeeded} of {len(ids)} accounts"
                    self.stdout.write(f"{day.isoformat()}: run {run.pk} {run.status}, {done}")

"""Load the demo data set: organizations, accounts across platforms, and simulated history.

    manage.py seed_demo                    # about 100 accounts x 365 days
    manage.py seed_demo --accounts 500 --days 90

Deterministic: the same arguments give the same data on any machine; running it again writes
nothing new (snapshots are upserted on account and day).
"""

import time

from django.core.management.base import BaseCommand, CommandError

from scraping.demo import demo_seed
from socialmetrics.dates import local_today


class Command(BaseCommand):
    help = "Create demo organizations, accounts and a realistic, deterministic history."

    def add_arguments(self, parser):
        parser.add_argument(
            "--accounts", type=int, default=100, help="Number of demo accounts (default 100)."
        )
        parser.add_argument(
            "--days", type=int, default=365, help="Days of history up to today (default 365)."
        )

    def handle(self, *args, accounts: int, days: int, verbosity: int, **options):
        if accounts < 1 or days < 1:
            raise CommandError("--accounts and --days must be at least 1.")
        started = time.perf_counter()
        report = demo_seed(accounts=accounts, days=days, end=local_today())
        elapsed = time.perf_counter() - started
        s = report.snapshots
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {report.accounts_total} accounts ({report.accounts_created} new), "
                f"{report.days} days; snapshots {s.created} created, {s.updated} updated, "
                f"{s.unchanged} unchanged in {elapsed:.1f} s."
            )
        )

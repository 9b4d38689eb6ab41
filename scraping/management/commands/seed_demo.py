"""Load the demo data set: organizations, accounts across platforms, and simulated history.

    manage.py seed_demo                    # about 100 accounts x 365 days
    manage.py seed_demo --accounts 500 --days 90

Deterministic: the same arguments give the same data on any machine; running it again writes
nothing new (snapshots are upserted on account and day).

Output: a progress bar on a terminal (plain lines off a terminal at -v 2), then one line of counts;
nothing at -v 0.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from scraping.demo import demo_seed
from socialmetrics.command_progress import command_progress
from socialmetrics.dates import local_today

#: What the progress bar says in each phase of the seed, and what it counts.
PHASES = {"snapshots": ("writing snapshots", "accounts"), "posts": ("writing posts", "days")}


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
        with command_progress(self, verbosity=verbosity, description="creating accounts") as progress:

            def on_progress(phase: str, done: int, total: int) -> None:
                description, unit = PHASES[phase]
                progress(done, total=total, description=f"{description} ({unit})")

            report = demo_seed(accounts=accounts, days=days, end=local_today(), on_progress=on_progress)
        elapsed = time.perf_counter() - started
        if verbosity < 1:
            return
        s = report.snapshots
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {report.accounts_total:,} accounts ({report.accounts_created:,} new), "
                f"{report.days:,} days; snapshots {s.created:,} created, {s.updated:,} updated, "
                f"{s.unchanged:,} unchanged; {report.posts.written:,} posts written in {elapsed:.1f} s."
            )
        )

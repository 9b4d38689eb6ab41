"""Recompute every account's maintained latest values and follower growth from the snapshots.

    manage.py rebuild_latest [--chunk-size 2000]

The write services keep these rows right on every write; this command restores them after a
manual change to the database (a restore, a raw SQL fix). Each chunk of accounts is its own
transaction. Output: a progress bar on a terminal (plain lines off a terminal at -v 2), then one
line; nothing at -v 0.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from snapshots.services import latest_rebuild_all
from socialmetrics.command_progress import command_progress


class Command(BaseCommand):
    help = "Recompute each account's latest values and 1/7/30-day growth from its snapshots."

    def add_arguments(self, parser):
        parser.add_argument(
            "--chunk-size", type=int, default=2000, help="Accounts per transaction (default 2000)."
        )

    def handle(self, *args, chunk_size: int, verbosity: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        started = time.perf_counter()
        with command_progress(
            self, verbosity=verbosity, description="rebuilding latest values", unit="accounts"
        ) as progress:
            kept = latest_rebuild_all(
                chunk_size=chunk_size, on_chunk=lambda done, total: progress(done, total=total)
            )
        elapsed = time.perf_counter() - started
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(f"Rebuilt the latest values of {kept:,} accounts in {elapsed:.1f} s.")
            )

"""Recompute every account's maintained latest values and follower growth from the snapshots.

    manage.py rebuild_latest

The write services keep these rows right on every write; this command restores them after a
manual change to the database (a restore, a raw SQL fix).
"""

import time

from django.core.management.base import BaseCommand

from snapshots.services import latest_rebuild_all


class Command(BaseCommand):
    help = "Recompute each account's latest values and 1/7/30-day growth from its snapshots."

    def handle(self, *args, **options):
        started = time.perf_counter()
        kept = latest_rebuild_all()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(f"Rebuilt the latest values of {kept} accounts in {elapsed:.1f} s.")
        )

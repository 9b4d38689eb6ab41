"""Recompute the anomaly flags of every stored day (`snapshots.anomalies`), and the latest rows
that carry the latest day's flag.

    manage.py rebuild_anomalies [--dry-run] [--chunk-size 1000]

The write services keep the flags right on every write; run this once after migrating to the
version that introduced them (the history already stored starts unflagged), after a change to the
rule, or after a manual change to the database. It only sets flags: no stored value changes. Each
chunk of accounts is its own transaction, so it can run while collections and imports write.
With --dry-run it counts the flags that would change and changes nothing.

Output: a progress bar on a terminal, a line per chunk at -v 2, the result at -v 1 (the default);
nothing at -v 0.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from snapshots.services import AnomalyRebuild, anomalies_rebuild_all
from socialmetrics.command_progress import command_progress


class Command(BaseCommand):
    help = "Recompute the anomaly flag of every stored day and each account's latest row."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the flags that would change; change nothing."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=1000,
            help="Accounts per transaction (default 1000).",
        )

    def handle(self, *args, dry_run: bool, chunk_size: int, verbosity: int, **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        started = time.perf_counter()

        def count(n: int, noun: str) -> str:
            return f"{n:,} {noun}{'' if n == 1 else 's'}"

        with command_progress(
            self, verbosity=verbosity, description="checking days", unit="accounts", plain=False
        ) as bar:

            def progress(done: AnomalyRebuild, total: int) -> None:
                bar(done.accounts, total=total)
                if verbosity >= 2 and not self.stdout.isatty():
                    changed = count(done.changed, "flag")
                    self.stdout.write(f"{done.accounts:,} of {count(total, 'account')}, {changed} changed")

            result = anomalies_rebuild_all(chunk_size=chunk_size, dry_run=dry_run, on_chunk=progress)
        elapsed = time.perf_counter() - started
        if verbosity < 1:
            return
        if dry_run:
            message = (
                f"{count(result.changed, 'flag')} of {count(result.accounts, 'account')} would change; "
                "nothing was written."
            )
            style = self.style.WARNING if result.changed else self.style.SUCCESS
        else:
            message = (
                f"Rebuilt the anomaly flags of {count(result.accounts, 'account')} in {elapsed:.1f} s: "
                f"{count(result.changed, 'flag')} changed."
            )
            style = self.style.SUCCESS
        self.stdout.write(style(message))

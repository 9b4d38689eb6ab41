"""Collect today's metrics of every active account (run it daily from cron).

    manage.py collect_metrics                               # simulated metrics (demo)
    manage.py collect_metrics --mode real --workers 8       # the platforms' public APIs
    manage.py collect_metrics --platform bluesky --platform mastodon --core-only
    manage.py collect_metrics --backfill-days 30            # simulated: the 30 days before too
    manage.py collect_metrics --backend celery --wait       # in batches on every Celery worker

`--backend celery` (or SOCIALMETRICS_COLLECT_BACKEND=celery) records the run, sends its batches to
the Celery workers and prints the run's id; with `--wait` it follows the run to its end as the
threads backend does.

A progress bar on a terminal, plain log lines otherwise (cron). Exit status: 0 when the run
completed (even with some failed accounts); 1 when nothing could be collected, the run was
interrupted, or another run is in progress (its id is printed); 2 on bad arguments.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from accounts.models import Account, Platform
from scraping import distributed
from scraping.collectors.base import platform_label
from scraping.locks import LockUnavailable
from scraping.models import CollectionRun, OutcomeStatus, RunMode, RunStatus
from scraping.runner import DatabaseUnreachable, LockHeld, RunOptions, collect
from scraping.runner import Progress as RunProgress
from socialmetrics import db
from socialmetrics.dates import local_today


class BadArguments(CommandError):
    def __init__(self, message: str):
        super().__init__(message, returncode=2)


class Command(BaseCommand):
    help = "Collect metrics of active accounts (simulated or from the platforms' APIs) for one day."

    def add_arguments(self, parser):
        parser.add_argument("--mode", default=RunMode.SIMULATED, help="simulated (default) or real.")
        parser.add_argument("--workers", type=int, default=5, help="Parallel workers (default 5).")
        parser.add_argument("--sequential", action="store_true", help="One account batch at a time.")
        parser.add_argument(
            "--platform",
            action="append",
            default=[],
            dest="platforms",
            help="Only this platform (repeatable).",
        )
        parser.add_argument(
            "--account", action="append", type=int, default=[], dest="accounts", help="Only this account id."
        )
        parser.add_argument(
            "--organization", default="", help="Only accounts of this organization (by name)."
        )
        parser.add_argument("--core-only", action="store_true", help="Only core accounts.")
        parser.add_argument("--date", default="", help="The day to record (YYYY-MM-DD; default today).")
        parser.add_argument(
            "--backfill-days",
            type=int,
            default=0,
            help="Simulated mode: also write the N days before --date.",
        )
        parser.add_argument(
            "--max-wait",
            type=float,
            default=60.0,
            help="Longest wait for a platform's rate limit, in seconds; longer waits defer it (default 60).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Collect and report, write nothing.")
        parser.add_argument(
            "--backend",
            default="",
            help="threads (in this process) or celery (in batches on the Celery workers); default "
            "SOCIALMETRICS_COLLECT_BACKEND, else threads.",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="With --backend celery: follow the run to its end (the threads backend always does).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=0,
            help="With --backend celery: accounts per batch "
            f"(default: the collector's request size, at least {distributed.MIN_BATCH_ACCOUNTS}).",
        )

    def execute(self, *args, **options):
        # Bad arguments exit with status 2 and one line, as argparse does.
        try:
            return super().execute(*args, **options)
        except BadArguments as exc:
            self.stderr.write(f"collect_metrics: {exc}")
            sys.exit(2)
        except DatabaseError as exc:
            # Down before the run began (Django's system checks connect first): one line, not a
            # traceback. A database lost during a run is the runner's DatabaseUnreachable.
            if not db.unavailable(exc):
                raise
            where = connection.settings_dict
            place = f" at {where['HOST']}:{where['PORT'] or 5432}" if where.get("HOST") else ""
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.stderr.write(
                f"collect_metrics: the database{place} could not be reached ({reason}); "
                "nothing was collected."
            )
            sys.exit(1)

    def handle(self, *args, **o):
        run_options = self._options(o)
        self.verbosity = o["verbosity"]
        interactive = sys.stdout.isatty() and self.verbosity > 0
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        started = None
        try:
            if run_options.backend == "celery":
                started = distributed.run_dispatch(options=run_options)
                if not o["wait"]:
                    self._sent(started)
                    return
            if interactive:
                run = self._with_bar(run_options, started)
            else:
                run = self._run(run_options, started, self._log_line())
        except (LockHeld, LockUnavailable, DatabaseUnreachable, ImproperlyConfigured) as exc:
            self.stderr.write(f"collect_metrics: {exc}")
            sys.exit(1)
        except KeyboardInterrupt:
            if started is not None:
                self.stderr.write(
                    f"collect_metrics: stopped following run {started.pk}; the workers go on with it."
                )
            else:
                self.stderr.write("collect_metrics: interrupted; what was collected so far is kept.")
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        self._summary(run, run_options)
        if run.status != RunStatus.COMPLETED:
            self.stderr.write(f"collect_metrics: {run.message or 'nothing could be collected'}")
            sys.exit(1)

    def _options(self, o) -> RunOptions:
        mode = o["mode"]
        if mode not in RunMode.values:
            raise BadArguments(f"unknown --mode {mode!r}; expected one of: {', '.join(RunMode.values)}")
        platforms = []
        for name in o["platforms"]:
            if name not in Platform.values:
                raise BadArguments(
                    f"unknown --platform {name!r}; expected one of: {', '.join(Platform.values)}"
                )
            platforms.append(name)
        day = None
        if o["date"]:
            try:
                day = dt.date.fromisoformat(o["date"])
            except ValueError:
                raise BadArguments(f"--date {o['date']!r} is not a date like 2026-11-28") from None
        if o["workers"] < 1:
            raise BadArguments("--workers must be at least 1")
        if o["backfill_days"] < 0:
            raise BadArguments("--backfill-days cannot be negative")
        if o["backfill_days"] and mode != RunMode.SIMULATED:
            raise BadArguments(
                "--backfill-days needs --mode simulated: the platforms' APIs give today's values only"
            )
        if mode == RunMode.REAL and day and day != local_today():
            raise BadArguments("--mode real collects today only; leave out --date")
        if o["max_wait"] < 0:
            raise BadArguments("--max-wait cannot be negative")
        try:
            backend = distributed.backend(o["backend"])
        except ImproperlyConfigured as exc:
            raise BadArguments(str(exc)) from None
        if o["batch_size"] < 0:
            raise BadArguments("--batch-size cannot be negative")
        if backend == "celery" and o["dry_run"]:
            raise BadArguments("--dry-run collects in this process: leave out --backend celery")
        missing = set(o["accounts"]) - set(
            Account.objects.filter(pk__in=o["accounts"]).values_list("pk", flat=True)
        )
        if missing:
            raise BadArguments(f"no account with id {', '.join(map(str, sorted(missing)))}")
        return RunOptions(
            mode=mode,
            platforms=platforms,
            account_ids=o["accounts"],
            organization=o["organization"],
            core_only=o["core_only"],
            date=day,
            backfill_days=o["backfill_days"],
            workers=1 if o["sequential"] else o["workers"],
            max_wait=o["max_wait"],
            dry_run=o["dry_run"],
            backend=backend,
            batch_size=o["batch_size"],
        )

    def _run(self, options: RunOptions, started: CollectionRun | None, on_progress) -> CollectionRun:
        """The run in this process, or (`started`: sent to the workers) followed to its end."""
        if started is not None:
            return distributed.run_follow(run=started, on_progress=on_progress)
        return collect(options=options, on_progress=on_progress)

    def _sent(self, run: CollectionRun) -> None:
        if self.verbosity < 1:
            return
        self.stdout.write(
            f"run {run.pk}: {run.accounts_total} accounts in {run.batches.count()} batches sent to the "
            f"Celery workers; follow it with GET /api/job-status/{run.pk}"
        )

    def _with_bar(self, options: RunOptions, started: CollectionRun | None) -> CollectionRun:
        from rich.console import Console  # rich only where it draws (a quiet cron run never loads it)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        columns = [
            TextColumn("[bold]collecting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f} accounts/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=Console(file=self.stdout._out), transient=False) as bar:
            task = bar.add_task("collect", total=None, rate=0.0, failed=0)

            def update(p: RunProgress) -> None:
                bar.update(task, total=p.total, completed=p.done, rate=p.rate, failed=p.failed)

            return self._run(options, started, update)

    def _log_line(self):
        state = {"last": 0.0}

        def log(p: RunProgress) -> None:
            now = time.monotonic()
            if self.verbosity < 1 or (now - state["last"] < 10 and p.done < p.total):
                return
            state["last"] = now
            eta = f", about {p.eta:.0f} s left" if p.eta and p.done < p.total else ""
            self.stdout.write(
                f"collected {p.done}/{p.total} accounts ({p.succeeded} ok, {p.failed} failed, "
                f"{p.skipped} skipped) at {p.rate:.0f}/s{eta}"
            )

        return log

    def _summary(self, run: CollectionRun, options: RunOptions) -> None:
        if self.verbosity < 1:
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"Collection run {run.pk or '(dry run)'}: {run.mode}, {run.date}, {run.status}")
        for column in ("platform", "succeeded", "failed", "skipped", "deferred"):
            table.add_column(column, justify="left" if column == "platform" else "right")
        for platform, counts in sorted(run.by_platform.items()):
            table.add_row(
                platform_label(platform),
                *(str(counts.get(s, 0)) for s in (OutcomeStatus.SUCCEEDED, OutcomeStatus.FAILED,
                                                  OutcomeStatus.SKIPPED, OutcomeStatus.DEFERRED)),
            )  # fmt: skip
        console = Console(file=self.stdout._out, width=100)
        console.print(table)
        rate = f" ({run.accounts_per_second:.0f} accounts/s)" if run.accounts_per_second else ""
        self.stdout.write(
            f"{run.accounts_succeeded} succeeded, {run.accounts_failed} failed, "
            f"{run.accounts_skipped} skipped of {run.accounts_total} accounts "
            f"in {run.duration_seconds or 0:.2f} s{rate}."
            + (" Dry run: nothing was written." if options.dry_run else "")
        )
        if run.pk and run.accounts_skipped:
            reasons = (
                run.outcomes.filter(status__in=[OutcomeStatus.SKIPPED, OutcomeStatus.DEFERRED])
                .values_list("account__platform", "error_message")
                .distinct()
                .order_by("account__platform")
            )
            for platform, reason in reasons:
                self.stdout.write(f"  {platform_label(platform)} skipped: {reason}")
        if self.verbosity > 1 or run.accounts_failed:
            failures = (
                run.outcomes.filter(status=OutcomeStatus.FAILED).select_related("account")[:20]
                if run.pk
                else []
            )
            for outcome in failures:
                self.stdout.write(f"  failed {outcome.account}: {outcome.error_message}")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt

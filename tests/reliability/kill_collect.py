"""`manage.py collect_metrics` that stops at a chosen point of its work, for the tests that kill it
there (`python -m tests.reliability.kill_collect [options] -- [collect_metrics arguments]`).

Nothing in the run's code is changed: the hooks only watch (and, at the chosen point, print a line
and sleep until killed). Smaller batches than a real run's give a run of a few hundred accounts
several batches to stop in:

    --flush-accounts N   the runner writes a batch every N accounts (runner.FLUSH_ACCOUNTS)
    --collect-batch N    the simulated collector collects N accounts at a time
    --pause POINT        stop at POINT, one of
                           started         the run is recorded and holds the lock; nothing written
                           mid-batch:K     batch K's snapshots are written, its outcomes are not
                           before-commit:K batch K is written in full; its COMMIT is not sent
                           commit:K        batch K's COMMIT is being sent (the line comes first:
                                           killed at once, the batch may or may not be committed)
    --slow SECONDS       the collector waits this long per batch (a run that takes its time)
    --database-wait S    how long the run waits for the database to record how it ended

The line printed at a point is "AT <point>"; "RUN <id>" is printed once the run is recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import django

PAUSED = 600  # seconds: far longer than any test waits, so only the kill ends the pause


def say(text: str) -> None:
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flush-accounts", type=int)
    parser.add_argument("--collect-batch", type=int)
    parser.add_argument("--pause", default="")
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--database-wait", type=float)
    options, command = parser.parse_known_args()
    command = [arg for arg in command if arg != "--"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.test")
    django.setup()

    from django.core.management import execute_from_command_line
    from django.db.backends.base.base import BaseDatabaseWrapper

    from scraping import runner
    from scraping.collectors.simulated import SimulatedCollector

    if options.flush_accounts:
        runner.FLUSH_ACCOUNTS = options.flush_accounts
    if options.collect_batch:
        SimulatedCollector.batch_size = options.collect_batch
    if options.database_wait is not None:
        runner.DATABASE_WAIT_SECONDS = options.database_wait
    if options.slow:
        collect = SimulatedCollector.collect

        def slow_collect(self, accounts):
            time.sleep(options.slow)
            return collect(self, accounts)

        SimulatedCollector.collect = slow_collect

    point, _, number = options.pause.partition(":")
    at = int(number) if number else 0
    state = threading.local()
    count = {"flushes": 0}
    lock = threading.Lock()

    def pause(label: str) -> None:
        say(f"AT {label}")
        time.sleep(PAUSED)

    run_start = runner.run_start

    def watched_start(**kwargs):
        run, held = run_start(**kwargs)
        say(f"RUN {run.pk}")
        if point == "started":
            pause("started")
        return run, held

    runner.run_start = watched_start

    flush = runner._flush

    def watched_flush(*args, **kwargs):
        with lock:
            count["flushes"] += 1
            state.flush = count["flushes"]
        try:
            return flush(*args, **kwargs)
        finally:
            state.flush = 0

    runner._flush = watched_flush

    record_outcomes = runner._record_outcomes

    def watched_outcomes(*args, **kwargs):
        if point == "mid-batch" and getattr(state, "flush", 0) == at:
            pause(options.pause)
        return record_outcomes(*args, **kwargs)

    runner._record_outcomes = watched_outcomes

    commit = BaseDatabaseWrapper.commit

    def watched_commit(self):
        if getattr(state, "flush", 0) == at:
            if point == "before-commit":
                pause(options.pause)
            elif point == "commit":
                say(f"AT {options.pause}")
        return commit(self)

    BaseDatabaseWrapper.commit = watched_commit

    execute_from_command_line(["manage.py", "collect_metrics", *command])


if __name__ == "__main__":
    sys.exit(main())

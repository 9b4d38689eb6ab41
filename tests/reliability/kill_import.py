"""A CSV import (`snapshots.csv_import.csv_import`, as the upload and `manage.py import_snapshots`
call it) that stops at a chosen point of its work, for the tests that kill it there:
`python -m tests.reliability.kill_import FILE [--pause POINT]`.

Nothing in the import's code is changed: the hooks only watch (and, at the chosen point, print a
line and sleep until killed). POINT is one of

    batch:K          batches 1..K are written in the import's transaction, batch K+1 is not begun
    copy:K           batch K's rows are being sent (PostgreSQL: its COPY is open; SQLite: its rows
                     are inserted, its statement not finished)
    before-commit    every batch is written, the latest rows refreshed; COMMIT is not sent
    commit           COMMIT is being sent (the line comes first: killed at once, the import may or
                     may not be committed)

The line printed at a point is "AT <point>"; "BATCH <K>" when batch K begins; "DONE <report>" at
the end of an import that was not stopped.
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
    parser.add_argument("file")
    parser.add_argument("--pause", default="")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.test")
    django.setup()

    import psycopg
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper

    from snapshots import csv_import

    point, _, number = options.pause.partition(":")
    at = int(number) if number else 0
    state = {"batch": 0, "paused": False}
    main_thread = threading.current_thread()

    def pause(label: str) -> None:
        state["paused"] = True
        say(f"AT {label}")
        time.sleep(PAUSED)

    upsert_staged = csv_import.snapshot_upsert_staged

    def watched_upsert(*, batches, **kwargs):
        def counted():
            for batch in batches:
                if point == "batch" and state["batch"] == at:
                    pause(options.pause)
                state["batch"] += 1
                say(f"BATCH {state['batch']}")
                yield batch

        return upsert_staged(batches=counted(), **kwargs)

    csv_import.snapshot_upsert_staged = watched_upsert

    def in_batch_to_pause() -> bool:
        return point == "copy" and state["batch"] == at and not state["paused"]

    copy_write = psycopg.Copy.write

    def watched_copy_write(self, buffer):
        copy_write(self, buffer)
        if in_batch_to_pause():
            pause(options.pause)

    psycopg.Copy.write = watched_copy_write

    executemany = CursorWrapper.executemany

    def watched_executemany(self, sql, param_list):
        if not in_batch_to_pause():
            return executemany(self, sql, param_list)
        params = list(param_list)  # the first half goes in; the statement never finishes
        executemany(self, sql, params[: len(params) // 2])
        pause(options.pause)

    CursorWrapper.executemany = watched_executemany

    commit = BaseDatabaseWrapper.commit

    def watched_commit(self):
        if threading.current_thread() is main_thread and state["batch"]:
            if point == "before-commit":
                pause(options.pause)
            elif point == "commit":
                say(f"AT {options.pause}")
        return commit(self)

    BaseDatabaseWrapper.commit = watched_commit

    with open(options.file, encoding="utf-8", newline="") as lines:
        report = csv_import.csv_import(lines=lines)
    say(f"DONE {report.message}")


if __name__ == "__main__":
    sys.exit(main())

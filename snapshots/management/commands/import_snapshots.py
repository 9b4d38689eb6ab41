"""Import snapshot histories (or account lists) from CSV files, as the upload page does.

    manage.py import_snapshots history-2024.csv history-2025.csv
    manage.py import_snapshots - < history.csv            # '-' reads standard input
    manage.py import_snapshots --dry-run history.csv      # check and count, write nothing

The files are read as the upload reads them (`snapshots.csv_import`): snapshots
(Platform,Handle,Date,Followers[,Following,Posts,Likes,Comments,Shares,Views]) or accounts
(Platform,Handle,Organization[,URL]), in UTF-8, or UTF-16 with a byte order mark. Each file is one
transaction: a file that cannot be read writes nothing; a wrong line is skipped and listed with its
line, column and reason, and the file's other lines are imported. Importing a file again writes
nothing new.

Output: each file's counts (verbosity 1, the default; nothing at 0), every wrong line (on stderr,
whatever the verbosity) and, on a terminal, a progress bar. Exit status: 0 when every line of every
file was imported; 1 when a file could not be read or a line was refused; 2 on bad arguments; 130
when interrupted (the file being imported then writes nothing).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from snapshots.csv_import import CsvFileError, CsvImportReport, csv_import, csv_text

STDIN = "-"
#: Standard input is copied to a temporary file (checked whole before anything is written); it stays
#: in memory up to this size.
_STDIN_IN_MEMORY = 16 * 1024 * 1024


class Command(BaseCommand):
    help = (
        "Import CSV files of snapshots (Platform,Handle,Date,Followers,...) or accounts "
        "(Platform,Handle,Organization[,URL]), as the upload page does."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="+", metavar="FILE", help=f"CSV files to import ('{STDIN}' reads standard input)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and count every line, then write nothing."
        )

    def handle(self, *args, files: list[str], dry_run: bool, verbosity: int, **options):
        self.verbosity = verbosity
        if files.count(STDIN) > 1:
            raise CommandError(f"'{STDIN}' (standard input) can be named only once.", returncode=2)
        # Every file must be there before any is imported: a typo does not leave half a list imported.
        for name in files:
            if name != STDIN and (problem := _unreadable_path(Path(name))):
                self._fail(f"{name}: {problem}")

        refused_files, refused_lines, files_with_refusals = 0, 0, 0
        for name in files:
            try:
                report = self._import(name, dry_run=dry_run)
            except (CsvFileError, OSError) as exc:
                self.stderr.write(f"import_snapshots: {name}: {_reason(exc)}")
                refused_files += 1
                continue
            except KeyboardInterrupt:
                self._fail(f"interrupted while importing {name}: nothing of it was written.", status=130)
            self._show(name, report, dry_run=dry_run)
            if report.skipped:
                refused_lines += report.skipped
                files_with_refusals += 1

        if refused_files and not refused_lines and len(files) == 1:
            sys.exit(1)  # its one line said why
        if refused_files or refused_lines:
            problems = []
            if refused_files:
                problems.append(f"{refused_files} of {len(files)} file(s) could not be read")
            if refused_lines:
                problems.append(f"{refused_lines} line(s) refused in {files_with_refusals} file(s)")
            self._fail(
                "; ".join(problems) + ". Everything else was " + ("checked." if dry_run else "imported.")
            )

    def _import(self, name: str, *, dry_run: bool) -> CsvImportReport:
        with ExitStack() as stack:
            file = stack.enter_context(_open(name))
            size = file.seek(0, os.SEEK_END)
            if self.verbosity > 0 and self.stdout.isatty():
                file, bar = self._with_bar(
                    stack, file, label="stdin" if name == STDIN else Path(name).name, size=size
                )
            else:
                bar = None
            text = stack.enter_context(csv_text(file=file))  # the whole file checked: it can be read
            if bar is not None:
                bar.update(bar.task_ids[0], description="importing", refresh=True)
            with transaction.atomic():  # a dry run is the upload's preview: run in full, rolled back
                return csv_import(lines=text, max_listed_errors=None, dry_run=dry_run)

    def _with_bar(self, stack: ExitStack, file: BinaryIO, *, label: str, size: int):
        """The file read through a progress bar (bytes read, speed, time left), shown while it is
        checked and imported and gone once it is."""
        from rich.console import Console  # rich only where it draws (a quiet cron run never loads it)
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        bar = stack.enter_context(
            Progress(
                TextColumn(f"[bold]{label}"),
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stdout._out),
                transient=True,
            )
        )
        task = bar.add_task("checking", total=size)
        return bar.wrap_file(file, total=size, task_id=task), bar

    def _show(self, name: str, report: CsvImportReport, *, dry_run: bool) -> None:
        for error in report.errors:
            where = f"line {error.line}" + (f", {error.column}" if error.column else "")
            self.stderr.write(f"{name}, {where}: {error.message}")
        if self.verbosity < 1:
            return
        for account in report.new_accounts:
            if account.suggestions:
                meant = " or ".join(f"{platform}/{handle}" for platform, handle in account.suggestions)
                self.stdout.write(
                    f"{name}, line {account.line}: new account {account.platform}/{account.handle}; "
                    f"did you mean {meant}?"
                )
        summary = f"{name}: {report.message}"  # a dry run's message says nothing was written
        self.stdout.write(self.style.WARNING(summary) if report.skipped else self.style.SUCCESS(summary))

    def _fail(self, message: str, *, status: int = 1) -> None:
        self.stderr.write(f"import_snapshots: {message}")
        sys.exit(status)


def _unreadable_path(path: Path) -> str | None:
    if not path.exists():
        return "no such file."
    if path.is_dir():
        return "is a directory, not a CSV file."
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)."
    return None


def _open(name: str):
    if name != STDIN:
        return open(name, "rb")  # closed by the caller's ExitStack
    # Standard input cannot be read twice: it is kept, so it can be checked whole before any write.
    spool = tempfile.SpooledTemporaryFile(max_size=_STDIN_IN_MEMORY)  # noqa: SIM115
    shutil.copyfileobj(sys.stdin.buffer, spool)
    return spool


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, CsvFileError):
        return f"cannot be read ({exc.strerror or exc})."
    return str(exc)

"""Import tracked accounts from the lists teams already keep.

    manage.py import_accounts accounts.json     # [{"organization", "platform", "url"}, ...]
    manage.py import_accounts accounts.csv      # Platform,Handle,Organization[,URL]

Re-running the same file creates nothing new. Bad entries are reported with their position and
reason (on stderr, whatever the verbosity); the rest are imported. The admin's "Import accounts"
page imports the same files the same way (`accounts.account_lists`), and its export actions write
them.

Output: the counts (verbosity 1, the default; nothing at 0), a progress bar on a terminal. Exit
status: 0 when every entry was imported; 1 when the file could not be read or an entry was
rejected (the others are imported, and a last line says so); 2 on bad arguments.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.account_lists import account_list_import
from accounts.services import ImportFileError
from socialmetrics.command_progress import command_progress


class Command(BaseCommand):
    help = (
        "Import accounts from a JSON list ({organization, platform, url}) "
        "or a CSV (Platform, Handle, Organization[, URL])."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a .json or .csv file ('-' reads JSON or CSV from stdin).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count, then roll everything back."
        )

    def handle(self, *args, file: str, dry_run: bool, verbosity: int, **options):
        name, text = self._read(file)
        try:
            with command_progress(self, verbosity=verbosity, description=f"importing {name}") as progress:
                report, entries = account_list_import(name=name, text=text, dry_run=dry_run)
                progress(entries, total=entries)
        except ImportFileError as exc:
            raise CommandError(f"{file}: {exc}") from exc

        for rejection in report.rejected:
            self.stderr.write(self.style.WARNING(f"rejected {rejection}"))
        if verbosity >= 1:
            summary = (
                f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
                f"{len(report.rejected)} rejected"
            )
            if dry_run:
                summary += " (dry run: nothing was written)"
            self.stdout.write(self.style.WARNING(summary) if report.rejected else self.style.SUCCESS(summary))
        if report.rejected:
            kept = entries - len(report.rejected)
            done = "would be imported (dry run)" if dry_run else "were imported"
            self.stderr.write(
                f"import_accounts: {len(report.rejected)} of {entries} entries rejected; "
                f"the other {kept} {done}."
            )
            sys.exit(1)

    def _read(self, file: str) -> tuple[str, str]:
        if file == "-":
            return "stdin", sys.stdin.read()
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            return path.name, path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc

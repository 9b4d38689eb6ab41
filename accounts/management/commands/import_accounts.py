"""Import tracked accounts from the lists teams already keep.

    manage.py import_accounts accounts.json     # [{"organization", "platform", "url"}, ...]
    manage.py import_accounts accounts.csv      # Platform,Handle,Organization[,URL]

Re-running the same file creates nothing new. Bad entries are reported with their position and
reason; the rest are imported.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.services import ImportFileError, accounts_import, entries_from_file


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
        if file == "-":
            import sys

            name, text = "stdin", sys.stdin.read()
        else:
            path = Path(file)
            if not path.is_file():
                raise CommandError(f"No such file: {file}")
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError as exc:
                raise CommandError(f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
            name = path.name
        try:
            entries = entries_from_file(name=name, text=text)
        except ImportFileError as exc:
            raise CommandError(f"{file}: {exc}") from exc

        with transaction.atomic():
            report = accounts_import(entries=entries)
            if dry_run:
                transaction.set_rollback(True)

        for rejection in report.rejected:
            self.stderr.write(self.style.WARNING(f"rejected {rejection}"))
        summary = (
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.rejected)} rejected"
        )
        if dry_run:
            summary += " (dry run: nothing was written)"
        self.stdout.write(self.style.SUCCESS(summary))

"""Account lists as files: the JSON and CSV that `manage.py import_accounts` reads, written from
accounts (the admin's export) and read into accounts (the command and the admin's import page).

    JSON  [{"platform": "x", "handle": "NASA", "url": "https://x.com/NASA",
            "organization": "NASA", "display_name": "NASA"}, ...]
    CSV   Platform,Handle,Organization,URL,Display_Name

Exporting accounts and importing the file into an empty install gives the same accounts (platform,
handle, organization, profile URL, display name). The CSV is for spreadsheets: a text cell that a
spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) gets a
leading apostrophe, as the snapshot download does; the JSON keeps every value as it is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

from django.db import transaction
from django.db.models import QuerySet

from .models import Account
from .services import AccountImportReport, ImportFileError, accounts_import, entries_from_file

CSV_HEADER = ("Platform", "Handle", "Organization", "URL", "Display_Name")
#: What a spreadsheet would run as a formula (OWASP's list).
_FORMULA_START = re.compile(r"^[-=+@\t\r]")


def account_list_entries(*, accounts: QuerySet[Account]) -> Iterator[dict[str, str]]:
    """The accounts as import entries, in (platform, handle) order; one query."""
    rows = accounts.order_by("platform", "handle").values_list(
        "platform", "handle", "profile_url", "organization__name", "display_name"
    )
    for platform, handle, url, organization, display_name in rows.iterator(chunk_size=2000):
        yield {
            "platform": platform,
            "handle": handle,
            "url": url,
            "organization": organization or "",
            "display_name": display_name,
        }


def account_list_json(*, accounts: QuerySet[Account]) -> str:
    return json.dumps(list(account_list_entries(accounts=accounts)), ensure_ascii=False, indent=1) + "\n"


def account_list_csv(*, accounts: QuerySet[Account]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for entry in account_list_entries(accounts=accounts):
        writer.writerow(
            [
                entry["platform"],
                _neutralised(entry["handle"]),
                _neutralised(entry["organization"]),
                entry["url"],
                _neutralised(entry["display_name"]),
            ]
        )
    return out.getvalue()


def _neutralised(text: str) -> str:
    return f"'{text}" if _FORMULA_START.match(text) else text


def account_list_text(*, data: bytes, name: str) -> str:
    """An uploaded list's text (UTF-8, with or without a byte order mark); ImportFileError if it is
    not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc


def account_list_import(*, name: str, text: str, dry_run: bool = False) -> tuple[AccountImportReport, int]:
    """Import a JSON or CSV account list (told apart by `name`, else by its first character) in one
    transaction, rolled back for a dry run. Returns the report and the number of entries read.
    Raises ImportFileError, writing nothing, when the file as a whole cannot be read."""
    entries = entries_from_file(name=name, text=text)
    with transaction.atomic():
        report = accounts_import(entries=entries)
        if dry_run:
            transaction.set_rollback(True)
    return report, len(entries)

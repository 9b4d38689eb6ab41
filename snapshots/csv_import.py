"""CSV imports: account lists and snapshot histories, told apart by their header.

- Accounts: ``Platform,Handle,Organization[,URL]`` (URL may stand in for Handle), written through
  `accounts.services.accounts_import`.
- Snapshots: ``Platform,Handle,Date,Followers[,Following,Posts,Likes,Comments,Shares,Views]`` (any
  order, any case, spaces or underscores between words; other columns such as Organization or
  Engagement Total are read or ignored), written through `snapshot_upsert_staged`; accounts the file
  names are created if missing. Optional ``Source``, ``Precision`` and ``Collected At`` columns are
  written as given (without them, or where a cell is empty: source "csv", the precision the numbers
  show, the time of the import), so the download (`/api/download`) uploaded into an empty install
  restores every row value for value. Names the download neutralised for spreadsheets (a leading
  apostrophe before ``=``, ``+``, ``-``, ``@``...) are read back without it.

Counts are whole numbers in the digits 0-9: plain ("1234"), with one kind of thousands separator
("1,234", "1 234", "1'234"), or rounded with a K, M or B suffix ("15.5K", "3M"), stored with
precision "rounded". Everything else is refused: negatives, fractions ("1.5"), exponents ("1e3"),
"NaN", other scripts' digits ("١٢٣") and dots as thousands separators ("1.234.567", which reads as
a fraction in half the world). Followers and following are at most `PEOPLE_BOUND` (more than there
are people), the other counts at most `COUNT_BOUND`; days lie in `snapshot_date_check`'s window.

A wrong row is skipped and reported with its line, column, reason and text (`CsvImportReport.
refused_csv` is the report as a CSV file); the rest are imported. The accounts an import creates are
listed with the existing ones a person may have meant ("did you mean"). `csv_import(dry_run=True)`
runs the whole import and rolls it back: a preview whose counts are the import's own. A
file that cannot be read as a whole (its header is neither kind or names a column twice, a line is
not CSV) raises `CsvFileError`, and nothing is written. Rows are read and written in batches, so a
large file never sits in memory as objects. Importing the same file twice writes nothing the second
time. `csv_text` turns the bytes of a file (an upload, a file on disk) into the text this reads.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from operator import itemgetter
from typing import BinaryIO, TextIO

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Organization
from accounts.platforms import InvalidProfileURL, UnknownPlatform, normalize_platform, parse_profile_url
from accounts.selectors import account_ids_by_keys
from accounts.services import AccountSpec, account_spec_from_entry, accounts_import
from accounts.suggestions import similar_accounts
from socialmetrics.counts import parse_count
from socialmetrics.dates import local_today

from .models import METRIC_FIELDS, Precision, Source
from .selectors import FORMULA_START
from .services import (
    STAGED_NULL,
    SnapshotDateOutOfRange,
    StagedBatch,
    snapshot_date_check,
    snapshot_upsert_staged,
)

ACCOUNTS = "accounts"
SNAPSHOTS = "snapshots"
SNAPSHOT_REQUIRED = ("platform", "handle", "date", "followers")
ORGANIZATION_COLUMNS = ("organization", "org_name", "org")
#: Errors listed in a report; the rest are counted in `skipped` only.
MAX_LISTED_ERRORS = 1000
#: Rows a batch: three are in flight (read ahead, resolved, written), about 4 MB each at this size.
BATCH_SIZE = 10_000

#: The most followers (or followed accounts) an account can have: more than there are people.
PEOPLE_BOUND = 10_000_000_000
#: The most any other count (posts, likes, comments, shares, views) can be: far beyond any real
#: account, and far inside what the database stores (a bigint).
COUNT_BOUND = 10**15
METRIC_BOUNDS = {
    name: PEOPLE_BOUND if name in ("followers", "following") else COUNT_BOUND for name in METRIC_FIELDS
}
#: What a count may look like, as error messages tell it.
COUNT_FORMS = "digits 0-9, such as 1234, 1,234 or 1 234, or rounded as 15.5K, 2.1M or 3B"
#: A cell longer than this cannot be a count within the bounds (they have 17 characters at most).
_LONGEST_COUNT = 32


class CsvFileError(ValueError):
    """The file as a whole cannot be imported (it is not text in an accepted encoding, its header is
    neither kind or names a column twice, or a line is not CSV the csv module can read, such as a
    cell over its size limit). Nothing was written."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    message: str
    #: The refused line as CSV text (its cells as read, quoted again), cut at `_LONGEST_LINE_SHOWN`.
    text: str = ""


@dataclass(frozen=True, slots=True)
class NewAccount:
    """An account the import created (in a dry run: would create)."""

    line: int  # the first line naming it
    platform: str
    handle: str
    organization: str
    #: Existing accounts a person may have meant instead, as (platform, handle).
    suggestions: tuple[tuple[str, str], ...] = ()


#: The columns of a report of refused lines (`CsvImportReport.refused_csv`).
REFUSED_HEADER = ("Line", "Column", "Reason", "Original line")


@dataclass
class CsvImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    accounts_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    #: How many errors and new accounts the report lists (None: all of them).
    max_listed_errors: int | None = MAX_LISTED_ERRORS
    #: The accounts the import created, in the order the file names them (at most
    #: `max_listed_errors`); `new_account_count` counts them all.
    new_accounts: list[NewAccount] = field(default_factory=list)
    new_account_count: int = 0
    #: True: nothing was written (`csv_import(dry_run=True)`); the counts say what the import would do.
    dry_run: bool = False

    def reject(self, *, line: int, column: str | None, message: str, text: str = "") -> None:
        self.skipped += 1
        if self.max_listed_errors is None or len(self.errors) < self.max_listed_errors:
            self.errors.append(RowError(line=line, column=column, message=_one_line(message), text=text))

    def add_new_account(self, account: NewAccount) -> None:
        self.new_account_count += 1
        if self.max_listed_errors is None or len(self.new_accounts) < self.max_listed_errors:
            self.new_accounts.append(account)

    @property
    def message(self) -> str:
        what = "accounts" if self.kind == ACCOUNTS else "snapshots"
        text = (
            f"Imported {what}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.skipped} skipped."
        )
        if self.accounts_created:
            text += f" {self.accounts_created} new account(s) created for the snapshots."
        if self.skipped > len(self.errors):
            text += f" The first {len(self.errors)} errors are listed."
        if self.dry_run:
            text += " Dry run: nothing was written."
        return text

    @property
    def refused_csv(self) -> str | None:
        """The refused lines as a CSV file (line, column, reason, the line itself), or None when no
        line was refused. Cells a spreadsheet would run as a formula get a leading apostrophe, as in
        the download."""
        if not self.skipped:
            return None
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(REFUSED_HEADER)
        for error in self.errors:
            writer.writerow(
                [error.line, _spreadsheet_safe(error.column or ""), _spreadsheet_safe(error.message),
                 _spreadsheet_safe(error.text)]
            )  # fmt: skip
        if self.skipped > len(self.errors):
            writer.writerow(
                ["", "", f"{self.skipped - len(self.errors):,} more refused lines are not listed.", ""]
            )
        return out.getvalue()


#: What the download prefixed with an apostrophe (`snapshots.selectors.FORMULA_START`).
_FORMULA = re.compile(FORMULA_START)
#: A cell the download neutralised: the apostrophe it added, then what it protected.
_NEUTRALISED = re.compile("^'" + FORMULA_START.removeprefix("^"))


def _spreadsheet_safe(text: str) -> str:
    return f"'{text}" if _FORMULA.match(text) else text


def _unneutralised(text: str) -> str:
    """A name as it was before the download neutralised it (`'=cmd` -> `=cmd`)."""
    return text[1:] if text[:1] == "'" and _NEUTRALISED.match(text) else text


#: The longest refused line a report quotes in full.
_LONGEST_LINE_SHOWN = 10_000


def _line_text(cells: list[str]) -> str:
    """A refused line's cells as one CSV line, for the report."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    text = out.getvalue()
    if len(text) > _LONGEST_LINE_SHOWN:
        return f"{text[:_LONGEST_LINE_SHOWN]}... ({len(text):,} characters)"
    return text


#: Line breaks a message quoting a cell shows as escapes, so that it stays one line.
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def _one_line(text: str) -> str:
    return text.translate(_LINE_BREAKS)


#: What the snapshot import reads beside the counts: each row's source, precision and collection time.
ROW_DETAIL_COLUMNS = ("source", "precision", "collected_at")
#: The columns each kind reads (the others are ignored).
READ_COLUMNS = {
    SNAPSHOTS: frozenset(
        ("platform", "handle", "date", *METRIC_FIELDS, *ORGANIZATION_COLUMNS, *ROW_DETAIL_COLUMNS)
    ),
    ACCOUNTS: frozenset(("platform", "handle", "url", "display_name", "name", *ORGANIZATION_COLUMNS)),
}


def _shown(text: str, *, limit: int = 40) -> str:
    """A cell quoted for a message, cut short if long."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text):,} characters)"


def csv_kind(*, header: list[str], written: list[str] | None = None) -> str:
    """ACCOUNTS or SNAPSHOTS from the lower-cased header; CsvFileError if it is neither, or if it
    names a column the import reads twice (which of the two to import would be a guess). `written`:
    the header as the file spells it, for the message."""
    names = set(header)
    if all(n in names for n in SNAPSHOT_REQUIRED):
        kind = SNAPSHOTS
    elif "platform" in names and ({"handle", "url"} & names) and (set(ORGANIZATION_COLUMNS) & names):
        kind = ACCOUNTS
    else:
        named = [h.strip() for h in written or header if h.strip()]
        found = _one_line(", ".join(h if len(h) <= 30 else f"{h[:30]}..." for h in named[:20]))
        if len(named) > 20:
            found += f" and {len(named) - 20:,} more"
        raise CsvFileError(
            "The CSV header must be an account list (Platform,Handle,Organization[,URL]) or snapshots "
            f"(Platform,Handle,Date,Followers[,Following,Posts,Likes,Comments,Shares,Views]); "
            f"found: {found or 'nothing'}."
        )
    first: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name not in READ_COLUMNS[kind]:
            continue
        if name in first:
            raise CsvFileError(
                f"The header names the column {name!r} twice (columns {first[name]} and {position}): "
                "rename or remove one of them. Nothing was imported."
            )
        first[name] = position
    return kind


def _unreadable(line: int, exc: csv.Error) -> CsvFileError:
    if "field limit" in str(exc):
        reason = f"a cell is longer than {csv.field_size_limit():,} characters, the most a CSV cell may hold"
    else:
        reason = f"it is not CSV that can be read ({exc})"
    return CsvFileError(f"Line {line}: {reason}. Nothing was imported.")


def _undecodable(line: int, exc: UnicodeDecodeError, *, exact: bool = True) -> CsvFileError:
    """`exact`: the bytes are on that line; otherwise on it or a later one (a text file decodes a
    block of lines at a time)."""
    where = f"Line {line}" if exact else f"Line {line} or a later one"
    return CsvFileError(f"{where}: {_decode_problem(exc)} Nothing was imported.")


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, cells) for every non-empty record after the header. A line the
    csv module cannot read, or whose bytes cannot be decoded, raises CsvFileError (the import's
    transaction then writes nothing)."""
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _unreadable(line, exc) from None
        except UnicodeDecodeError as exc:
            raise _undecodable(reader.line_num + 1, exc, exact=False) from None
        if "".join(cells).strip():
            yield line, cells
        line = reader.line_num + 1


def column_name(text: str) -> str:
    """A header cell as the import names its column: "Collected At" -> "collected_at"."""
    return _SPACES.sub("_", text.strip().lower())


_SPACES = re.compile(r"[\s_]+")


def csv_import(
    *, lines: Iterable[str], max_listed_errors: int | None = MAX_LISTED_ERRORS, dry_run: bool = False
) -> CsvImportReport:
    """Import a CSV given as lines of text (`csv_text` of a file, or a StringIO opened with
    newline=""). A leading byte order mark is ignored. The report lists the first
    `max_listed_errors` wrong rows and new accounts (None: all of them) and counts them all.

    `dry_run`: the import runs in full, in a transaction that is then rolled back, so the report
    (created, updated, unchanged, refused, new accounts) is exactly what the import would do, and
    nothing is written. It holds the import's locks meanwhile, as the import would. The upload's
    preview and `manage.py import_snapshots --dry-run` both run this."""
    if dry_run:
        with transaction.atomic():
            report = csv_import(lines=lines, max_listed_errors=max_listed_errors)
            transaction.set_rollback(True)
        report.dry_run = True
        return report
    reader = csv.reader(lines)
    try:
        raw_header = next(reader, None)
    except csv.Error as exc:
        raise _unreadable(1, exc) from None
    except UnicodeDecodeError as exc:
        raise _undecodable(1, exc, exact=False) from None
    if raw_header is None:
        raise CsvFileError("The file is empty: expected a header row.")
    if raw_header:
        raw_header[0] = raw_header[0].removeprefix("\ufeff")
    header = [column_name(h or "") for h in raw_header]
    labels = {name: (raw.strip() or name) for name, raw in zip(header, raw_header, strict=True)}
    kind = csv_kind(header=header, written=raw_header)
    report = CsvImportReport(kind=kind, max_listed_errors=max_listed_errors)
    if kind == ACCOUNTS:
        _import_accounts(records=_records(reader), header=header, labels=labels, report=report)
    else:
        _import_snapshots(records=_records(reader), header=header, labels=labels, report=report)
    _suggest(report)
    return report


def _suggest(report: CsvImportReport) -> None:
    """Give each new account the report lists the existing accounts a person may have meant."""
    if not report.new_accounts:
        return
    keys = [(a.platform, a.handle.lower()) for a in report.new_accounts]
    similar = similar_accounts(keys=keys, exclude=set(keys))
    report.new_accounts = [
        replace(account, suggestions=tuple(similar.get(key, ())))
        for account, key in zip(report.new_accounts, keys, strict=True)
    ]


# --- Bytes to text ------------------------------------------------------------------------------

#: Byte order marks and the encodings they announce; a file without one must be UTF-8. UTF-32's
#: come first, as its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, None),
    (codecs.BOM_UTF32_BE, None),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16"}
_SAVE_AS = "save it as CSV UTF-8"
_CHECK_CHUNK = 1 << 16


def _decode_problem(exc: UnicodeDecodeError) -> str:
    name = _ENCODING_NAMES.get(exc.encoding.lower().replace("_", "-"), exc.encoding)
    bad = exc.object[exc.start : exc.end][:4]
    what = f"byte{'s' if len(bad) > 1 else ''} {bad.hex(' ').upper()}"
    return f"the file is not {name} text ({what} cannot be read as {name}); {_SAVE_AS}."


def _line_breaks(text: str, *, after_cr: bool) -> int:
    """Line breaks in `text` as the CSV reader counts them (\\n, \\r\\n and a lone \\r); `after_cr`:
    the text before it ended with \\r (a following \\n belongs to that break)."""
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    return breaks - 1 if after_cr and text.startswith("\n") else breaks


@contextmanager
def csv_text(*, file: BinaryIO) -> Iterator[TextIO]:
    """The text of a CSV file given as bytes (an upload, a file on disk), for `csv_import`.

    Accepted: UTF-8, with or without a byte order mark, and UTF-16 with one (as spreadsheets save
    "Unicode" CSV). Anything else (another encoding, UTF-16 without a byte order mark, NUL
    characters, which no text file holds) raises CsvFileError naming the first line that is not
    such text. The whole file is checked before it is given out, so a refused file writes nothing.
    `file` must be seekable; it is read from its start and left open.
    """
    file.seek(0)
    head = file.read(4)
    encoding, skip = "utf-8", 0
    for bom, announced in _BOMS:
        if head.startswith(bom):
            if announced is None:
                raise CsvFileError(f"The file is UTF-32 text; {_SAVE_AS}. Nothing was imported.")
            encoding, skip = announced, len(bom)
            break
    file.seek(skip)
    decoder = codecs.getincrementaldecoder(encoding)()
    line, after_cr = 1, False
    while True:
        chunk = file.read(_CHECK_CHUNK)
        failure = None
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            text, failure = exc.object[: exc.start].decode(encoding, errors="replace"), exc
        if (nul := text.find("\x00")) >= 0:  # a NUL before the undecodable bytes tells more
            line += _line_breaks(text[:nul], after_cr=after_cr)
            guess = " (it may be UTF-16 without a byte order mark)" if encoding == "utf-8" else ""
            raise CsvFileError(
                f"Line {line}: the file holds a NUL character, which CSV text never holds: it is not "
                f"a text file{guess}; {_SAVE_AS}. Nothing was imported."
            )
        line += _line_breaks(text, after_cr=after_cr)
        if failure is not None:
            raise _undecodable(line, failure)
        after_cr = text.endswith("\r") if text else after_cr
        if not chunk:
            break
    file.seek(skip)
    wrapper = io.TextIOWrapper(file, encoding=encoding, newline="")
    try:
        yield wrapper
    finally:
        wrapper.detach()


# --- Text cells ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TextLimits:
    """The longest handle, organization and display name the database stores."""

    handle: int
    organization: int
    display_name: int

    @classmethod
    def of_models(cls) -> _TextLimits:
        return cls(
            handle=Account._meta.get_field("handle").max_length,
            organization=Organization._meta.get_field("name").max_length,
            display_name=Account._meta.get_field("display_name").max_length,
        )


#: Longer platform and handle (or profile URL) cells are refused before they are parsed: no name is
#: this long, and the reason quotes the cell.
_LONGEST_PLATFORM_CELL, _LONGEST_NAME_CELL = 100, 500


def _text_problem(value: str, *, what: str, limit: int) -> str | None:
    """Why a text cell cannot be stored as it is, or None."""
    if len(value) > limit:
        return f"The {what} {_shown(value)} is too long: at most {limit} characters."
    if "\x00" in value:
        return f"The {what} {_shown(value)} holds a NUL character, which text cannot hold."
    return None


def _handle_problem(handle: str, *, limit: int) -> str | None:
    """Why a valid handle cannot be stored or matched: too long, or a capital letter outside ASCII,
    which the database's case-insensitive match of handles does not fold as Python does (SQLite
    folds ASCII only; PostgreSQL reads "İ" as "i")."""
    if problem := _text_problem(handle, what="handle", limit=limit):
        return problem
    if not handle.isascii():
        for char in handle:
            if not char.isascii() and char.lower() != char:
                return (
                    f"The handle {_shown(handle)} has the capital letter {char!r}: write its letters "
                    f"outside A-Z in lower case ({_shown(handle.lower())}), as accounts are matched "
                    "whatever their case."
                )
    return None


# --- Accounts -----------------------------------------------------------------------------------


def _account_error_column(exc: Exception, entry: dict, labels: dict[str, str]) -> str:
    if isinstance(exc, UnknownPlatform) or not entry.get("platform"):
        return labels.get("platform", "Platform")
    if entry.get("url"):
        return labels.get("url", "URL")
    return labels.get("handle", "Handle")


class _AccountInvalid(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


def _account_spec(entry: dict, labels: dict[str, str], limits: _TextLimits) -> AccountSpec:
    """The `AccountSpec` of an entry, or _AccountInvalid(column, reason) if `account_spec_from_entry`
    refuses it, or accepts it and the database could not store it."""
    for name, limit in (
        ("platform", _LONGEST_PLATFORM_CELL),
        ("handle", _LONGEST_NAME_CELL),
        ("url", _LONGEST_NAME_CELL),
    ):
        if len(entry.get(name, "")) > limit:
            raise _AccountInvalid(
                labels.get(name, name), f"{_shown(entry[name])} is too long to name an account."
            )
    try:
        spec = account_spec_from_entry(entry=entry, position=0)
    except (UnknownPlatform, InvalidProfileURL, ValueError) as exc:
        raise _AccountInvalid(_account_error_column(exc, entry, labels), str(exc)) from None
    if problem := _handle_problem(spec.handle, limit=limits.handle):
        raise _AccountInvalid(labels.get("url" if entry.get("url") else "handle", "Handle"), problem)
    if problem := _text_problem(spec.organization, what="organization", limit=limits.organization):
        raise _AccountInvalid(
            next((labels[c] for c in ORGANIZATION_COLUMNS if c in labels), "Organization"), problem
        )
    column = "display_name" if entry.get("display_name") else "name"
    if problem := _text_problem(spec.display_name, what="display name", limit=limits.display_name):
        raise _AccountInvalid(labels.get(column, column), problem)
    return spec


def _import_accounts(
    *, records, header: list[str], labels: dict[str, str], report: CsvImportReport
) -> CsvImportReport:
    read = READ_COLUMNS[ACCOUNTS]
    limits = _TextLimits.of_models()
    entries: list[dict] = []
    first: dict[tuple[str, str], tuple[int, AccountSpec]] = {}  # account key -> (first line, spec)
    for line, cells in records:
        entry = {
            name: _unneutralised(cell.strip())
            for name, cell in zip(header, cells, strict=False)
            if name in read
        }
        for alias in ORGANIZATION_COLUMNS[1:]:
            if alias in entry and not entry.get("organization"):
                entry["organization"] = entry.pop(alias)
        try:
            spec = _account_spec(entry, labels, limits)
        except _AccountInvalid as exc:
            report.reject(line=line, column=exc.column, message=exc.message, text=_line_text(cells))
            continue
        first.setdefault(spec.key, (line, spec))
        entries.append(entry)
    if entries:
        existing = account_ids_by_keys(keys=first)
        result = accounts_import(entries=entries)
        for key, (line, spec) in first.items():
            if key not in existing:
                report.add_new_account(
                    NewAccount(
                        line=line, platform=spec.platform, handle=spec.handle, organization=spec.organization
                    )
                )
        report.created, report.updated, report.unchanged = result.created, result.updated, result.unchanged
        for rejection in result.rejected:  # validated above, so only a race could land here
            report.reject(line=0, column=None, message=str(rejection))
    return report


# --- Snapshots ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PendingRow:
    line: int
    key: tuple[str, str]  # (platform, lower-case handle)
    handle: str
    organization: str
    date: dt.date
    values: dict[str, int | None]
    #: What follows the numbers in the row's staged text: its source, precision and collection time.
    tail: str


class _RowInvalid(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


#: Source and Precision cells the import reads: the stored value or its label, in any case.
_SOURCES = {
    **{value: value for value in Source.values},
    **{str(label).lower(): value for value, label in Source.choices},
}
_PRECISIONS = {
    **{value: value for value in Precision.values},
    **{str(label).lower(): value for value, label in Precision.choices},
}
_EXACT, _ROUNDED = str(Precision.EXACT), str(Precision.ROUNDED)
#: How many Collected At cells a file's reader remembers (a download repeats one per collection run).
_STAMPS_REMEMBERED = 100_000


class _RowDetails:
    """A row's Source, Precision and Collected At, which a file may give (the download does) or leave
    out: the staged text that follows the row's numbers. Without the columns, or where a cell is
    empty: source "csv", the precision its numbers show, and `collected_at` (the time of the import)."""

    def __init__(self, *, index: dict[str, int], collected_at: str) -> None:
        self.source, self.precision, self.stamp = (index.get(name) for name in ROW_DETAIL_COLUMNS)
        self.given = any(i is not None for i in (self.source, self.precision, self.stamp))
        self.collected_at = collected_at
        self._stamps: dict[str, str] = {}  # Collected At cell -> the time as staged (ISO, in UTC)

    def tail(self, cells: list[str], *, rounded: bool) -> str:
        """The staged text after the numbers; _RowInvalid for a cell that cannot be read."""
        count = len(cells)
        source = str(Source.CSV)
        if self.source is not None and self.source < count and (raw := cells[self.source].strip()):
            source = _SOURCES.get(raw.lower())
            if source is None:
                raise _RowInvalid(
                    "source", f"{_shown(raw)} is not a source; expected one of {', '.join(Source.values)}."
                )
        precision = _ROUNDED if rounded else _EXACT
        if self.precision is not None and self.precision < count and (raw := cells[self.precision].strip()):
            given = _PRECISIONS.get(raw.lower())
            if given is None:
                raise _RowInvalid(
                    "precision", f"{_shown(raw)} is not a precision; expected {_EXACT} or {_ROUNDED}."
                )
            precision = _ROUNDED if rounded else given  # a rounded number is rounded whatever the cell says
        stamp = self.collected_at
        if self.stamp is not None and self.stamp < count and (raw := cells[self.stamp].strip()):
            stamp = self._stamps.get(raw)
            if stamp is None:
                stamp = _read_stamp(raw)
                if len(self._stamps) >= _STAMPS_REMEMBERED:
                    self._stamps.clear()
                self._stamps[raw] = stamp
        return f"\t{source}\t{precision}\t{stamp}\n"


def _read_stamp(raw: str) -> str:
    """A Collected At cell as staged text: an ISO time with its UTC offset, in UTC."""
    expected = (
        "expected a time with its UTC offset as the download writes it, such as 2026-03-01 06:15:00+00 "
        "(an empty cell is the time of the import)"
    )
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise _RowInvalid("collected_at", f"{_shown(raw)} is not a time; {expected}.") from None
    if moment.tzinfo is None:
        raise _RowInvalid("collected_at", f"{_shown(raw)} has no UTC offset; {expected}.")
    try:
        return moment.astimezone(dt.UTC).isoformat()
    except OverflowError:
        raise _RowInvalid("collected_at", f"{_shown(raw)} is out of range; {expected}.") from None


#: Handle spellings `_SnapshotReader` remembers (then it forgets them all and starts again): a row
#: whose spelling an earlier valid row had is read with `named`, so only rows the fast path cannot
#: learn (extra or missing cells) come back to them. Unbounded, they took 16 MB at 100,000 accounts.
_HANDLES_REMEMBERED = 10_000


class _SnapshotReader:
    """Validates rows one by one; remembers the platform and (some) handle spellings it has already
    read."""

    def __init__(self, *, header: list[str], labels: dict[str, str], details: _RowDetails) -> None:
        self.details = details
        self.index = {name: i for i, name in enumerate(header) if name}
        self.labels = labels
        self.metrics = [name for name in METRIC_FIELDS if name in self.index]
        self.metric_columns = [(name, self.index[name]) for name in self.metrics]
        self._dates: dict[str, dt.date] = {}
        self.organization = next((c for c in ORGANIZATION_COLUMNS if c in self.index), None)
        self.today = local_today()
        self.limits = _TextLimits.of_models()
        self._platforms: dict[str, str] = {}
        self._handles: dict[tuple[str, str], str] = {}

    def cell(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def read(self, line: int, cells: list[str], *, named: bool = False) -> _PendingRow:
        """A valid row, or _RowInvalid(column, message). `named`: the row's platform and handle cells
        are a spelling an earlier valid row had (its account is known): they are not read again, and
        the row's `key` and `handle` are left empty."""
        platform, handle = ("", "") if named else self._account(cells)
        raw_date = self.cell(cells, "date")
        date = self._dates.get(raw_date)
        if date is None:
            date = _read_date(raw_date)
            try:
                snapshot_date_check(day=date, today=self.today)
            except SnapshotDateOutOfRange as exc:
                raise _RowInvalid("date", str(exc)) from None
            self._dates[raw_date] = date  # only days inside the window are remembered
        values: dict[str, int | None] = {}
        rounded = False
        count = len(cells)
        for name, i in self.metric_columns:
            raw = cells[i].strip() if i < count else ""
            if not raw:
                values[name] = None
                continue
            if len(raw) > _LONGEST_COUNT:
                raise _RowInvalid(name, _count_problem(name, raw, "is too long to be a count"))
            if raw.isascii() and raw.isdigit():  # most cells: plain digits
                value = int(raw)
            else:
                try:
                    parsed = parse_count(raw)
                except ValueError as exc:
                    raise _RowInvalid(name, _count_problem(name, raw, _count_reason(raw, exc))) from None
                value = parsed.value
                rounded = rounded or parsed.rounded
            if value > METRIC_BOUNDS[name]:
                raise _RowInvalid(name, _count_problem(name, raw, "is too large"))
            values[name] = value
        if all(v is None for v in values.values()):
            raise _RowInvalid(None, "The row has no numbers.")
        organization = _unneutralised(self.cell(cells, self.organization)) if self.organization else ""
        if organization and (
            problem := _text_problem(organization, what="organization", limit=self.limits.organization)
        ):
            raise _RowInvalid(self.organization, problem)
        return _PendingRow(
            line=line,
            key=(platform, handle.lower()),
            handle=handle,
            organization=organization,
            date=date,
            values=values,
            tail=self.details.tail(cells, rounded=rounded),
        )

    def _account(self, cells: list[str]) -> tuple[str, str]:
        """The row's platform and handle, or _RowInvalid(column, message)."""
        raw_platform = self.cell(cells, "platform")
        if not raw_platform:
            raise _RowInvalid("platform", "Platform is empty.")
        platform = self._platforms.get(raw_platform)
        if platform is None:
            if len(raw_platform) > _LONGEST_PLATFORM_CELL:
                raise _RowInvalid("platform", f"{_shown(raw_platform)} is too long to name a platform.")
            try:
                platform = self._platforms[raw_platform] = normalize_platform(raw_platform)
            except UnknownPlatform as exc:
                raise _RowInvalid("platform", str(exc)) from None
        raw_handle = _unneutralised(self.cell(cells, "handle"))
        if not raw_handle:
            raise _RowInvalid("handle", "Handle is empty.")
        handle = self._handles.get((platform, raw_handle))
        if handle is None:
            if len(raw_handle) > _LONGEST_NAME_CELL:
                raise _RowInvalid(
                    "handle", f"{_shown(raw_handle)} is too long to be a handle or profile URL."
                )
            try:
                handle = parse_profile_url(platform=platform, url=raw_handle).handle
            except InvalidProfileURL as exc:
                raise _RowInvalid("handle", str(exc)) from None
            if problem := _handle_problem(handle, limit=self.limits.handle):
                raise _RowInvalid("handle", problem)
            if len(self._handles) >= _HANDLES_REMEMBERED:
                self._handles.clear()
            self._handles[(platform, raw_handle)] = handle
        return platform, handle


def _read_date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        if not raw:
            raise _RowInvalid("date", "Date is empty; expected a day as YYYY-MM-DD.") from None
        reason = "" if "Invalid isoformat" in str(exc) else f" ({exc})"
        raise _RowInvalid(
            "date", f"{_shown(raw)} is not a day of the calendar{reason}; expected a date as YYYY-MM-DD."
        ) from None


def _count_reason(raw: str, exc: ValueError) -> str:
    """Why a cell `parse_count` refused is not a count, in the words of the cell's own mistake."""
    text = raw.strip().lower()
    if any(char.isdigit() and not char.isascii() for char in text):
        return "is written with digits other than 0-9"
    if text.lstrip("+-\u2212") in ("nan", "inf", "infinity"):
        return "is not a finite number"
    if text[:1] in ("-", "\u2212"):
        return "is negative"
    if text.count(".") > 1:
        return "has dots between its digits: write thousands as 1,234,567 or 1234567"
    if re.fullmatch(r"[+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)e[+-]?[0-9]+", text):
        return "is in scientific notation"
    if "decimal part" in str(exc):
        return "is not a whole number"
    if "more decimals" in str(exc):
        return "has more decimals than its suffix allows"
    return "is not a count"


def _count_problem(name: str, raw: str, reason: str) -> str:
    return (
        f"{_shown(raw)} {reason}; expected a whole number from 0 to {METRIC_BOUNDS[name]:,} in {COUNT_FORMS}."
    )


#: Numbers of at most this many digits are within every bound; up to `_FAST_DIGITS_ANY`, within
#: every bound but that of followers and following.
_FAST_DIGITS, _FAST_DIGITS_ANY = len(str(PEOPLE_BOUND)) - 1, len(str(COUNT_BOUND)) - 1


class _FastPath:
    """Rows like those the file has already shown to be valid: an account spelling and a date seen
    before and digits-only numbers become a staged line without the full check (the common case),
    their cells copied as they are. Anything else (a new spelling or date, a rounded or malformed
    number) goes to the full check."""

    def __init__(self, *, header: list[str], details: _RowDetails, organization_limit: int) -> None:
        index = {name: i for i, name in enumerate(header) if name}
        #: What follows the numbers in an exact row's text, when the file gives no source, precision
        #: or collection time (otherwise read per row by `details`).
        self.tail = None if details.given else details.tail([], rounded=False)
        self.details = details
        self.width = len(header)
        self.platform, self.handle, self.date = index["platform"], index["handle"], index["date"]
        columns = [index[name] for name in METRIC_FIELDS if name in index]
        self.numbers = itemgetter(*columns, columns[0])  # always a tuple, even of one column
        #: Where each column's number goes among METRIC_FIELDS, when the file lacks some of them.
        self.slots = [METRIC_FIELDS.index(name) for name in METRIC_FIELDS if name in index]
        #: The positions among the numbers of those with the lower bound (followers, following).
        present = [name for name in METRIC_FIELDS if name in index]
        self.people = [n for n, name in enumerate(present) if METRIC_BOUNDS[name] == PEOPLE_BOUND]
        self.complete = len(columns) == len(METRIC_FIELDS)
        #: The organization cell, which the full check refuses if it cannot be stored.
        self.organization = next((index[c] for c in ORGANIZATION_COLUMNS if c in index), None)
        self.organization_limit = organization_limit
        #: The platform and handle cells, NUL between them, -> account key. One string rather than a
        #: tuple of two: 13 MB less at 100,000 accounts. Unambiguous: a learned cell holds no NUL.
        self.keys: dict[str, int] = {}
        self.dates: dict[str, str] = {}  # date cell -> ISO day (valid and not in the future)

    def account(self, cells: list[str]) -> int | None:
        """The account key of the row's platform and handle cells, if a valid row had them."""
        if len(cells) != self.width:
            return None
        return self.keys.get(f"{cells[self.platform]}\x00{cells[self.handle]}")

    def row(self, cells: list[str]) -> tuple[int, str, str] | None:
        """(account key, ISO day, the row's staged text), or None: the row needs the full check."""
        if len(cells) != self.width:
            return None
        key = self.keys.get(f"{cells[self.platform]}\x00{cells[self.handle]}")
        day = self.dates.get(cells[self.date])
        if key is None or day is None:
            return None
        if self.organization is not None:
            organization = cells[self.organization]
            if len(organization) > self.organization_limit or "\x00" in organization:
                return None
        raw = self.numbers(cells)[:-1]
        digits = "".join(raw)
        if not (digits.isdigit() and digits.isascii()):  # only ASCII digits, and at least one number
            return None
        longest = max(map(len, raw))
        if longest > _FAST_DIGITS and (
            longest > _FAST_DIGITS_ANY or any(len(raw[n]) > _FAST_DIGITS for n in self.people)
        ):
            return None  # perhaps beyond its bound: the full check tells
        if self.complete and "" not in raw:
            numbers = "\t".join(raw)
        else:
            values = [STAGED_NULL] * len(METRIC_FIELDS)
            for slot, value in zip(self.slots, raw, strict=True):
                values[slot] = value or STAGED_NULL
            numbers = "\t".join(values)
        tail = self.tail
        if tail is None:
            try:
                tail = self.details.tail(cells, rounded=False)
            except _RowInvalid:
                return None  # the full check reports it
        return key, day, f"\t{day}\t{numbers}{tail}"

    def learn(self, cells: list[str], key: int, day: str, name: str | None) -> None:
        """Remember what a row that passed the full check showed to be valid; `name`: its account's
        name as `_read_batches` keys it, if the account is new."""
        if len(cells) == self.width:  # (extra or missing cells keep going to the full check)
            platform, handle = cells[self.platform], cells[self.handle]
            if "\x00" not in platform and "\x00" not in handle:  # (the full check refuses a NUL anyway)
                spelling = f"{platform}\x00{handle}"
                # Most files spell accounts as they are named: one string for both dicts (6 MB less at
                # 100,000 accounts).
                self.keys[name if spelling == name else spelling] = key
            self.dates[cells[self.date]] = day


def _staged_text(day: str, row: _PendingRow) -> str:
    numbers = "\t".join(
        STAGED_NULL if (value := row.values.get(name)) is None else str(value) for name in METRIC_FIELDS
    )
    return f"\t{day}\t{numbers}{row.tail}"


@dataclass
class _ReadBatch:
    """A batch of records read and checked (no database involved)."""

    #: The rows as `StagedBatch.rows` holds them: the last row of an account-day wins.
    rows: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    #: Line, column, message and the line's text.
    errors: list[tuple[int, str | None, str, str]] = field(default_factory=list)
    #: The accounts first named in this batch: account key -> the first row naming it (to find or
    #: create the account).
    first: dict[int, _PendingRow] = field(default_factory=dict)


#: The reader thread lets the writing thread run every this many rows (about half a millisecond).
#: Otherwise, each time a query returns while the reader computes, the writer waits up to the
#: interpreter's switch interval (5 ms) for the GIL: a batch makes several short round trips.
_YIELD_EVERY = 256


def _read_batches(
    *, records, header: list[str], labels: dict[str, str], collected_at: str
) -> Iterator[_ReadBatch]:
    details = _RowDetails(index={name: i for i, name in enumerate(header) if name}, collected_at=collected_at)
    reader = _SnapshotReader(header=header, labels=labels, details=details)
    fast = _FastPath(header=header, details=details, organization_limit=reader.limits.organization)
    #: Platform and lower-case handle, NUL between them (which a valid handle never holds), -> account
    #: key: one string rather than a tuple, 6 MB less at 100,000 accounts.
    account_keys: dict[str, int] = {}
    # Records stream through (no list of a batch's raw cells: 14 MB a batch, held while it waits).
    records = iter(records)
    while True:
        read = _ReadBatch()
        rows = read.rows
        n = -1
        for n, (line, cells) in enumerate(islice(records, BATCH_SIZE)):
            if not n % _YIELD_EVERY:
                time.sleep(0)  # hand the GIL over (see _YIELD_EVERY)
            hit = fast.row(cells)
            if hit is None:
                key, name = fast.account(cells), None
                try:
                    pending = reader.read(line, cells, named=key is not None)
                except _RowInvalid as exc:
                    column = labels.get(exc.column, exc.column) if exc.column else None
                    read.errors.append((line, column, exc.message, _line_text(cells)))
                    continue
                if key is None:
                    name = f"{pending.key[0]}\x00{pending.key[1]}"
                    key = account_keys.get(name)
                    if key is None:
                        key = account_keys[name] = len(account_keys)
                        read.first[key] = pending
                    else:
                        name = None  # a new spelling of an account seen before
                day = pending.date.isoformat()
                fast.learn(cells, key, day, name)
                hit = key, day, _staged_text(day, pending)
            rows[hit[0], hit[1]] = line, hit[2]
        if n < 0:
            return
        del cells  # the last record's cells would otherwise wait with the batch
        yield read


def _import_snapshots(
    *, records, header: list[str], labels: dict[str, str], report: CsvImportReport
) -> CsvImportReport:

    def batches() -> Iterator[StagedBatch]:
        """Valid rows with their accounts found or created a batch at a time; bad ones are reported.
        The file is read and checked on a helper thread meanwhile (pure Python), while this one
        writes."""
        collected_at = timezone.now().isoformat()
        with _ahead(
            _read_batches(records=records, header=header, labels=labels, collected_at=collected_at)
        ) as reads:
            for read in reads:
                for line, column, message, text in read.errors:
                    report.reject(line=line, column=column, message=message, text=text)
                accounts, count, created = _resolve_accounts(first=read.first)
                report.accounts_created += count
                for row in created:
                    report.add_new_account(
                        NewAccount(
                            line=row.line,
                            platform=row.key[0],
                            handle=row.handle,
                            organization=row.organization,
                        )
                    )
                yield StagedBatch(rows=read.rows, accounts=accounts)
                del read  # written: not kept while the next batch is awaited

    # One transaction; the latest rows are refreshed once at the end for every account touched.
    result = snapshot_upsert_staged(batches=batches())
    for line in result.unmatched:  # only if an account's creation was refused
        report.reject(line=line, column=labels["handle"], message="The account could not be created.")
    report.errors.sort(key=lambda error: error.line)
    report.created += result.created
    report.updated += result.updated
    report.unchanged += result.unchanged
    return report


_END = object()


@contextmanager
def _ahead(items: Iterator, *, depth: int = 1) -> Iterator[Iterator]:
    """Iterate `items` on a helper thread, at most `depth` items ahead of the consumer, so reading the
    file overlaps the database's work on the previous batch. The helper must not use the database
    (it would get a connection, and a transaction, of its own). Its exceptions reach the consumer;
    leaving the block stops it."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((_END, exc))

    def consume() -> Iterator:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item

    helper = threading.Thread(target=produce, name="csv-import-reader", daemon=True)
    helper.start()
    try:
        yield consume()
    finally:
        stop.set()
        helper.join()


def _resolve_accounts(*, first: dict[int, _PendingRow]) -> tuple[dict[int, int], int, list[_PendingRow]]:
    """(account key -> account id, accounts created, the first rows of the accounts that were
    missing and now exist) for the accounts a batch names first, creating the missing ones. An
    account whose creation is refused is left out."""
    if not first:
        return {}, 0, []
    by_name = {row.key: key for key, row in first.items()}
    found = account_ids_by_keys(keys=by_name)
    missing = {name: first[key] for name, key in by_name.items() if name not in found}
    count, created = 0, []
    if missing:
        count = accounts_import(
            entries=[
                {"platform": name[0], "handle": row.handle, "organization": row.organization}
                for name, row in missing.items()
            ]
        ).created
        made = account_ids_by_keys(keys=missing)
        found.update(made)
        created = [row for name, row in missing.items() if name in made]
    return {by_name[name]: account_id for name, account_id in found.items()}, count, created

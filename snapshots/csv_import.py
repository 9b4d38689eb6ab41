"""CSV imports: account lists and snapshot histories, told apart by their header.

- Accounts: ``Platform,Handle,Organization[,URL]`` (URL may stand in for Handle), written through
  `accounts.services.accounts_import`.
- Snapshots: ``Platform,Handle,Date,Followers[,Following,Posts,Likes,Comments,Shares,Views]`` (any
  order, any case; other columns such as Organization or Engagement Total are read or ignored), so
  the grid's own CSV export can be imported back. Written through `snapshot_upsert_many` with
  source "csv"; accounts the file names are created if missing.

Numbers may be written "1,234", "1.2K", "15.5k", "3M"; a rounded one is stored with precision
"rounded". A wrong row is skipped and reported with its line, column and reason; the rest are
imported. A file whose header is neither kind raises `CsvFileError` before anything is written.
Rows are read and written in batches, so a large file never sits in memory as objects.
Importing the same file twice writes nothing the second time.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from accounts.platforms import InvalidProfileURL, UnknownPlatform, normalize_platform, parse_profile_url
from accounts.selectors import account_ids_by_keys
from accounts.services import account_spec_from_entry, accounts_import
from socialmetrics.counts import parse_count
from socialmetrics.dates import local_today

from .models import METRIC_FIELDS, Precision, Source
from .services import SnapshotRow, snapshot_upsert_many

ACCOUNTS = "accounts"
SNAPSHOTS = "snapshots"
SNAPSHOT_REQUIRED = ("platform", "handle", "date", "followers")
ORGANIZATION_COLUMNS = ("organization", "org_name", "org")
#: Errors listed in a report; the rest are counted in `skipped` only.
MAX_LISTED_ERRORS = 1000
BATCH_SIZE = 2000


class CsvFileError(ValueError):
    """The file as a whole cannot be imported (its header is neither kind). Nothing was written."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str | None
    message: str


@dataclass
class CsvImportReport:
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    accounts_created: int = 0
    errors: list[RowError] = field(default_factory=list)

    def reject(self, *, line: int, column: str | None, message: str) -> None:
        self.skipped += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(RowError(line=line, column=column, message=message))

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
        return text


def csv_kind(*, header: list[str]) -> str:
    """ACCOUNTS or SNAPSHOTS from the lower-cased header; CsvFileError if it is neither."""
    names = set(header)
    if all(n in names for n in SNAPSHOT_REQUIRED):
        return SNAPSHOTS
    if "platform" in names and ({"handle", "url"} & names) and (set(ORGANIZATION_COLUMNS) & names):
        return ACCOUNTS
    found = ", ".join(h for h in header if h) or "nothing"
    raise CsvFileError(
        "The CSV header must be an account list (Platform,Handle,Organization[,URL]) or snapshots "
        f"(Platform,Handle,Date,Followers[,Following,Posts,Likes,Comments,Shares,Views]); found: {found}."
    )


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, cells) for every non-empty record after the header."""
    line = reader.line_num + 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield line, cells
        line = reader.line_num + 1


def csv_import(*, lines: Iterable[str]) -> CsvImportReport:
    """Import a CSV given as lines of text (a text file opened with newline="", or a StringIO).
    A leading byte order mark is ignored."""
    reader = csv.reader(lines)
    raw_header = next(reader, None)
    if raw_header is None:
        raise CsvFileError("The file is empty: expected a header row.")
    if raw_header:
        raw_header[0] = raw_header[0].removeprefix("\ufeff")
    header = [(h or "").strip().lower() for h in raw_header]
    labels = {name: (raw.strip() or name) for name, raw in zip(header, raw_header, strict=True)}
    kind = csv_kind(header=header)
    if kind == ACCOUNTS:
        return _import_accounts(records=_records(reader), header=header, labels=labels)
    return _import_snapshots(records=_records(reader), header=header, labels=labels)


# --- Accounts -----------------------------------------------------------------------------------


def _account_error_column(exc: Exception, entry: dict, labels: dict[str, str]) -> str:
    if isinstance(exc, UnknownPlatform) or not entry.get("platform"):
        return labels.get("platform", "Platform")
    if entry.get("url"):
        return labels.get("url", "URL")
    return labels.get("handle", "Handle")


def _import_accounts(*, records, header: list[str], labels: dict[str, str]) -> CsvImportReport:
    report = CsvImportReport(kind=ACCOUNTS)
    entries: list[dict] = []
    for line, cells in records:
        entry = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
        for alias in ORGANIZATION_COLUMNS[1:]:
            if alias in entry and not entry.get("organization"):
                entry["organization"] = entry.pop(alias)
        try:
            account_spec_from_entry(entry=entry, position=line)
        except (UnknownPlatform, InvalidProfileURL, ValueError) as exc:
            report.reject(line=line, column=_account_error_column(exc, entry, labels), message=str(exc))
            continue
        entries.append(entry)
    if entries:
        result = accounts_import(entries=entries)
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
    rounded: bool


class _RowInvalid(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


class _SnapshotReader:
    """Validates rows one by one; remembers the platform and handle spellings it has already read."""

    def __init__(self, *, header: list[str], labels: dict[str, str]) -> None:
        self.index = {name: i for i, name in enumerate(header) if name}
        self.labels = labels
        self.metrics = [name for name in METRIC_FIELDS if name in self.index]
        self.metric_columns = [(name, self.index[name]) for name in self.metrics]
        self._dates: dict[str, dt.date] = {}
        self.organization = next((c for c in ORGANIZATION_COLUMNS if c in self.index), None)
        self.today = local_today()
        self._platforms: dict[str, str] = {}
        self._handles: dict[tuple[str, str], str] = {}

    def cell(self, cells: list[str], name: str) -> str:
        i = self.index.get(name)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    def read(self, line: int, cells: list[str]) -> _PendingRow:
        """A valid row, or _RowInvalid(column, message)."""
        raw_platform = self.cell(cells, "platform")
        if not raw_platform:
            raise _RowInvalid("platform", "Platform is empty.")
        platform = self._platforms.get(raw_platform)
        if platform is None:
            try:
                platform = self._platforms[raw_platform] = normalize_platform(raw_platform)
            except UnknownPlatform as exc:
                raise _RowInvalid("platform", str(exc)) from None
        raw_handle = self.cell(cells, "handle")
        if not raw_handle:
            raise _RowInvalid("handle", "Handle is empty.")
        handle = self._handles.get((platform, raw_handle))
        if handle is None:
            try:
                handle = parse_profile_url(platform=platform, url=raw_handle).handle
            except InvalidProfileURL as exc:
                raise _RowInvalid("handle", str(exc)) from None
            self._handles[(platform, raw_handle)] = handle
        raw_date = self.cell(cells, "date")
        date = self._dates.get(raw_date)
        if date is None:
            try:
                date = dt.date.fromisoformat(raw_date)
            except ValueError:
                raise _RowInvalid("date", f"Expected a date as YYYY-MM-DD, got {raw_date!r}.") from None
            self._dates[raw_date] = date
        if date > self.today:
            raise _RowInvalid(
                "date", f"{date.isoformat()} is in the future (today is {self.today.isoformat()})."
            )
        values: dict[str, int | None] = {}
        rounded = False
        count = len(cells)
        for name, i in self.metric_columns:
            raw = cells[i].strip() if i < count else ""
            if not raw:
                values[name] = None
            elif raw.isascii() and raw.isdigit():  # most cells: plain digits
                values[name] = int(raw)
            else:
                try:
                    parsed = parse_count(raw)
                except ValueError as exc:
                    raise _RowInvalid(name, str(exc)) from None
                values[name] = parsed.value
                rounded = rounded or parsed.rounded
        if all(v is None for v in values.values()):
            raise _RowInvalid(None, "The row has no numbers.")
        return _PendingRow(
            line=line,
            key=(platform, handle.lower()),
            handle=handle,
            organization=self.cell(cells, self.organization) if self.organization else "",
            date=date,
            values=values,
            rounded=rounded,
        )


def _import_snapshots(*, records, header: list[str], labels: dict[str, str]) -> CsvImportReport:
    report = CsvImportReport(kind=SNAPSHOTS)
    reader = _SnapshotReader(header=header, labels=labels)
    known: dict[tuple[str, str], int] = {}

    def rows() -> Iterator[SnapshotRow]:
        """Valid rows, read and resolved to accounts a batch at a time; bad ones are reported."""
        while batch := list(islice(records, BATCH_SIZE)):
            pending: list[_PendingRow] = []
            for line, cells in batch:
                try:
                    pending.append(reader.read(line, cells))
                except _RowInvalid as exc:
                    column = labels.get(exc.column, exc.column) if exc.column else None
                    report.reject(line=line, column=column, message=exc.message)
            report.accounts_created += _resolve_accounts(pending=pending, known=known)
            for row in pending:
                if row.key not in known:  # only if its creation was refused
                    report.reject(
                        line=row.line, column=labels["handle"], message="The account could not be created."
                    )
                    continue
                yield SnapshotRow(
                    account_id=known[row.key],
                    date=row.date,
                    source=Source.CSV,
                    precision=Precision.ROUNDED if row.rounded else Precision.EXACT,
                    **row.values,
                )

    # One transaction; the latest rows are refreshed once at the end for every account touched.
    result = snapshot_upsert_many(rows=rows(), batch_size=BATCH_SIZE, per_batch=False)
    report.created += result.created
    report.updated += result.updated
    report.unchanged += result.unchanged
    return report


def _resolve_accounts(*, pending: list[_PendingRow], known: dict[tuple[str, str], int]) -> int:
    """Fill `known` with the ids of the batch's accounts, creating the missing ones; returns how
    many were created."""
    unknown = {row.key for row in pending} - known.keys()
    if not unknown:
        return 0
    known.update(account_ids_by_keys(keys=unknown))
    missing: dict[tuple[str, str], _PendingRow] = {}
    for row in pending:
        if row.key not in known:
            missing.setdefault(row.key, row)
    if not missing:
        return 0
    result = accounts_import(
        entries=[
            {"platform": key[0], "handle": row.handle, "organization": row.organization}
            for key, row in missing.items()
        ]
    )
    known.update(account_ids_by_keys(keys=missing))
    return result.created

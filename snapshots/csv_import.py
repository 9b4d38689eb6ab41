"""CSV imports: account lists and snapshot histories, told apart by their header.

- Accounts: ``Platform,Handle,Organization[,URL]`` (URL may stand in for Handle), written through
  `accounts.services.accounts_import`.
- Snapshots: ``Platform,Handle,Date,Followers[,Following,Posts,Likes,Comments,Shares,Views]`` (any
  order, any case; other columns such as Organization or Engagement Total are read or ignored), so
  the grid's own CSV export can be imported back. Written through `snapshot_upsert_staged` with
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
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter

from django.utils import timezone

from accounts.platforms import InvalidProfileURL, UnknownPlatform, normalize_platform, parse_profile_url
from accounts.selectors import account_ids_by_keys
from accounts.services import account_spec_from_entry, accounts_import
from socialmetrics.counts import parse_count
from socialmetrics.dates import local_today

from .models import METRIC_FIELDS, Precision, Source
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
BATCH_SIZE = 20_000
#: The largest count the database stores (bigint).
MAX_COUNT = 2**63 - 1


class CsvFileError(ValueError):
    """The file as a whole cannot be imported (its header is neither kind, or a line is not CSV the
    csv module can read, such as a cell over its size limit). Nothing was written."""


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


def _unreadable(line: int, exc: csv.Error) -> CsvFileError:
    if "field limit" in str(exc):
        reason = f"a cell is longer than {csv.field_size_limit():,} characters, the most a CSV cell may hold"
    else:
        reason = f"it is not CSV that can be read ({exc})"
    return CsvFileError(f"Line {line}: {reason}. Nothing was imported.")


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, cells) for every non-empty record after the header. A line the
    csv module cannot read raises CsvFileError (the import's transaction then writes nothing)."""
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _unreadable(line, exc) from None
        if "".join(cells).strip():
            yield line, cells
        line = reader.line_num + 1


def csv_import(*, lines: Iterable[str]) -> CsvImportReport:
    """Import a CSV given as lines of text (a text file opened with newline="", or a StringIO).
    A leading byte order mark is ignored."""
    reader = csv.reader(lines)
    try:
        raw_header = next(reader, None)
    except csv.Error as exc:
        raise _unreadable(1, exc) from None
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
            elif raw.isascii() and raw.isdigit():  # most cells: plain digits
                values[name] = int(raw)
            else:
                try:
                    parsed = parse_count(raw)
                except ValueError as exc:
                    raise _RowInvalid(name, str(exc)) from None
                values[name] = parsed.value
                rounded = rounded or parsed.rounded
            if values[name] is not None and values[name] > MAX_COUNT:
                raise _RowInvalid(name, f"{raw!r} is too large (at most {MAX_COUNT:,}).")
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


_FAST_DIGITS = 18  # a number this long fits in a bigint
_EXACT, _ROUNDED = str(Precision.EXACT), str(Precision.ROUNDED)


class _FastPath:
    """Rows like those the file has already shown to be valid: an account spelling and a date seen
    before and digits-only numbers become a staged line without the full check (the common case),
    their cells copied as they are. Anything else (a new spelling or date, a rounded or malformed
    number) goes to the full check."""

    def __init__(self, *, header: list[str], tail: str) -> None:
        index = {name: i for i, name in enumerate(header) if name}
        self.tail = tail  # what follows the numbers in an exact row's text
        self.width = len(header)
        self.platform, self.handle, self.date = index["platform"], index["handle"], index["date"]
        columns = [index[name] for name in METRIC_FIELDS if name in index]
        self.numbers = itemgetter(*columns, columns[0])  # always a tuple, even of one column
        #: Where each column's number goes among METRIC_FIELDS, when the file lacks some of them.
        self.slots = [METRIC_FIELDS.index(name) for name in METRIC_FIELDS if name in index]
        self.complete = len(columns) == len(METRIC_FIELDS)
        self.keys: dict[tuple[str, str], int] = {}  # (platform, handle) cells -> account key
        self.dates: dict[str, str] = {}  # date cell -> ISO day (valid and not in the future)

    def row(self, cells: list[str]) -> tuple[int, str, str] | None:
        """(account key, ISO day, the row's staged text), or None: the row needs the full check."""
        if len(cells) != self.width:
            return None
        key = self.keys.get((cells[self.platform], cells[self.handle]))
        day = self.dates.get(cells[self.date])
        if key is None or day is None:
            return None
        raw = self.numbers(cells)[:-1]
        digits = "".join(raw)
        if not (digits.isdigit() and digits.isascii()):  # only ASCII digits, and at least one number
            return None
        if max(map(len, raw)) > _FAST_DIGITS:
            return None
        if self.complete and "" not in raw:
            numbers = "\t".join(raw)
        else:
            values = [STAGED_NULL] * len(METRIC_FIELDS)
            for slot, value in zip(self.slots, raw, strict=True):
                values[slot] = value or STAGED_NULL
            numbers = "\t".join(values)
        return key, day, f"\t{day}\t{numbers}{self.tail}"

    def learn(self, cells: list[str], key: int, day: str) -> None:
        """Remember what a row that passed the full check showed to be valid."""
        if len(cells) == self.width:  # (extra or missing cells keep going to the full check)
            self.keys[(cells[self.platform], cells[self.handle])] = key
            self.dates[cells[self.date]] = day


def _staged_text(day: str, row: _PendingRow, *, collected_at: str) -> str:
    numbers = "\t".join(
        STAGED_NULL if (value := row.values.get(name)) is None else str(value) for name in METRIC_FIELDS
    )
    return f"\t{day}\t{numbers}\t{Source.CSV}\t{_ROUNDED if row.rounded else _EXACT}\t{collected_at}\n"


@dataclass
class _ReadBatch:
    """A batch of records read and checked (no database involved)."""

    #: The rows as `StagedBatch.rows` holds them: the last row of an account-day wins.
    rows: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)  # line, column, message
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
    reader = _SnapshotReader(header=header, labels=labels)
    fast = _FastPath(header=header, tail=f"\t{Source.CSV}\t{_EXACT}\t{collected_at}\n")
    account_keys: dict[tuple[str, str], int] = {}  # (platform, lower-case handle) -> account key
    while batch := list(islice(records, BATCH_SIZE)):
        read = _ReadBatch()
        rows = read.rows
        for n, (line, cells) in enumerate(batch):
            if not n % _YIELD_EVERY:
                time.sleep(0)  # hand the GIL over (see _YIELD_EVERY)
            hit = fast.row(cells)
            if hit is None:
                try:
                    pending = reader.read(line, cells)
                except _RowInvalid as exc:
                    column = labels.get(exc.column, exc.column) if exc.column else None
                    read.errors.append((line, column, exc.message))
                    continue
                key = account_keys.get(pending.key)
                if key is None:
                    key = account_keys[pending.key] = len(account_keys)
                    read.first[key] = pending
                day = pending.date.isoformat()
                fast.learn(cells, key, day)
                hit = key, day, _staged_text(day, pending, collected_at=collected_at)
            rows[hit[0], hit[1]] = line, hit[2]
        yield read


def _import_snapshots(*, records, header: list[str], labels: dict[str, str]) -> CsvImportReport:
    report = CsvImportReport(kind=SNAPSHOTS)

    def batches() -> Iterator[StagedBatch]:
        """Valid rows with their accounts found or created a batch at a time; bad ones are reported.
        The file is read and checked on a helper thread meanwhile (pure Python), while this one
        writes."""
        collected_at = timezone.now().isoformat()
        with _ahead(
            _read_batches(records=records, header=header, labels=labels, collected_at=collected_at)
        ) as reads:
            for read in reads:
                for line, column, message in read.errors:
                    report.reject(line=line, column=column, message=message)
                accounts, created = _resolve_accounts(first=read.first)
                report.accounts_created += created
                yield StagedBatch(rows=read.rows, accounts=accounts)

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


def _resolve_accounts(*, first: dict[int, _PendingRow]) -> tuple[dict[int, int], int]:
    """(account key -> account id, accounts created) for the accounts a batch names first, creating
    the missing ones. An account whose creation is refused is left out."""
    if not first:
        return {}, 0
    by_name = {row.key: key for key, row in first.items()}
    found = account_ids_by_keys(keys=by_name)
    missing = {name: first[key] for name, key in by_name.items() if name not in found}
    created = 0
    if missing:
        created = accounts_import(
            entries=[
                {"platform": name[0], "handle": row.handle, "organization": row.organization}
                for name, row in missing.items()
            ]
        ).created
        found.update(account_ids_by_keys(keys=missing))
    return {by_name[name]: account_id for name, account_id in found.items()}, created

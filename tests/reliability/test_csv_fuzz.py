"""CSV input fuzzed with hypothesis on every import path: ``POST /upload`` (staff by session, with the
CSRF token), ``POST /api/upload-bulk`` (staff by token) and ``manage.py import_snapshots``.

For every input the outcome is one of two. Either the file is refused whole with a clear answer (a
4xx with a one-line JSON error; on the command a non-zero exit and one line) and nothing is written;
or a report lists exactly the wrong lines (by line number and column, as the generator made them)
and every other line is written, value for value. Never a 500, a traceback or half a row. Each
check compares the database (snapshots and accounts, with their values) before and after.

Examples are few and drawn from a fixed seed, so the module stays fast. A long run draws at random:

    CSV_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -p no:cacheprovider tests/reliability/test_csv_fuzz.py

The 100,000-line file (a tenth of its lines wrong, from a fixed seed) runs once per path.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Account
from snapshots.csv_import import COUNT_BOUND, PEOPLE_BOUND
from snapshots.models import METRIC_FIELDS, Precision, Snapshot, Source
from snapshots.services import EARLIEST_DAY
from socialmetrics.dates import local_today

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("CSV_FUZZ_EXAMPLES", "12"))
LONG_RUN = "CSV_FUZZ_EXAMPLES" in os.environ
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not LONG_RUN,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
TODAY = local_today()
BOUNDS = {name: PEOPLE_BOUND if name in ("followers", "following") else COUNT_BOUND for name in METRIC_FIELDS}


# --- The three ways in -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a path answered: the reason the file was refused whole, or its report."""

    refused: str | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    accounts_created: int = 0
    errors: list[tuple[int, str | None, str]] = field(default_factory=list)  # line, column, message

    @property
    def bad_lines(self) -> dict[int, str | None]:
        return {line: column for line, column, _ in self.errors}


def _http_outcome(response) -> Outcome:
    assert response.status_code < 500, response.content[:2000]
    assert response["Content-Type"].startswith("application/json"), response.content[:500]
    body = response.json()
    if response.status_code == 200:
        return Outcome(
            created=body["created"],
            updated=body["updated"],
            unchanged=body["unchanged"],
            skipped=body["skipped"],
            accounts_created=body["accounts_created"],
            errors=[(e["line"], e["column"], e["message"]) for e in body["errors"]],
        )
    assert response.status_code in (400, 413), (response.status_code, body)
    assert isinstance(body["error"], str), body
    return Outcome(refused=body["error"])


class UploadPath:
    """The upload page's form: a staff member signed in by session, sending the CSRF token."""

    name = "upload"

    def __init__(self, staff) -> None:
        self.client = APIClient(enforce_csrf_checks=True)
        self.client.force_login(staff)
        assert self.client.get("/upload").status_code == 200  # the page sets the CSRF cookie
        self.token = self.client.cookies["csrftoken"].value

    def run(self, data: bytes, text: str | None = None) -> Outcome:
        upload = SimpleUploadedFile("history.csv", data, content_type="text/csv")
        response = self.client.post(
            "/upload", {"file": upload}, format="multipart", HTTP_X_CSRFTOKEN=self.token
        )
        return _http_outcome(response)


class BulkPath:
    """The JSON API, staff by token. It takes text: bytes that are not UTF-8 arrive as a client that
    read them wrong would send them (with the undecodable bytes as lone surrogates)."""

    name = "bulk"

    def __init__(self, staff) -> None:
        self.client = APIClient()
        self.client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")

    def run(self, data: bytes, text: str | None = None) -> Outcome:
        if text is None:
            text = data.decode("utf-8", errors="surrogateescape")
        body = json.dumps({"csv_data": text})  # ASCII: lone surrogates travel as \\udcxx escapes
        return _http_outcome(self.client.post("/api/upload-bulk", body, content_type="application/json"))


class CommandPath:
    """``manage.py import_snapshots FILE``, its output read back into a report."""

    name = "command"
    _SUMMARY = re.compile(
        r"Imported (?:snapshots|accounts): (\d+) created, (\d+) updated, (\d+) unchanged, (\d+) skipped\."
        r"(?: (\d+) new account)?"
    )

    def __init__(self, directory) -> None:
        self.file = directory / "history.csv"

    def run(self, data: bytes, text: str | None = None) -> Outcome:
        self.file.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command("import_snapshots", str(self.file), stdout=out, stderr=err)
            status = 0
        except SystemExit as exc:
            status = exc.code
        lines = err.getvalue().splitlines()
        refused = f"import_snapshots: {self.file}: "
        if any(line.startswith(refused) for line in lines):
            assert status == 1, (status, lines)
            assert len(lines) == 1, lines  # one clear line
            return Outcome(refused=lines[0].removeprefix(refused))
        summary = self._SUMMARY.search(out.getvalue())
        assert summary, (out.getvalue(), err.getvalue())
        created, updated, unchanged, skipped, accounts = summary.groups()
        errors = []
        pattern = re.compile(rf"^{re.escape(str(self.file))}, line (\d+)(?:, ([^:]+))?: (.+)$")
        for line in lines[:-1] if int(skipped) else lines:
            match = pattern.match(line)
            assert match, (line, lines)
            errors.append((int(match[1]), match[2], match[3]))
        if int(skipped):
            assert status == 1, (status, lines)
            assert lines[-1].startswith("import_snapshots: "), lines
            assert "line(s) refused" in lines[-1], lines
        else:
            assert status == 0, (status, lines)
        return Outcome(
            created=int(created),
            updated=int(updated),
            unchanged=int(unchanged),
            skipped=int(skipped),
            accounts_created=int(accounts or 0),
            errors=errors,
        )


@pytest.fixture(params=["upload", "bulk", "command"])
def path(request, staff, tmp_path):
    if request.param == "upload":
        return UploadPath(staff)
    if request.param == "bulk":
        return BulkPath(staff)
    return CommandPath(tmp_path)


# --- The database before and after ----------------------------------------------------------------


def stored_snapshots() -> dict[tuple[str, str, dt.date], tuple]:
    rows = Snapshot.objects.values_list(
        "account__platform", "account__handle", "date", *METRIC_FIELDS, "precision", "source"
    )
    return {(p, h.lower(), d): tuple(values) for p, h, d, *values in rows}


def stored_accounts() -> dict[tuple[str, str], tuple[str, str | None]]:
    rows = Account.objects.values_list("platform", "handle", "organization__name")
    return {(p, h.lower()): (h, org.lower() if org else None) for p, h, org in rows}


@contextmanager
def isolated() -> Iterator[None]:
    """One example: whatever it writes is rolled back, so the next starts from the same database."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def check_refusal(outcome: Outcome, before) -> None:
    """A file refused whole: one clear line, and nothing written."""
    message = outcome.refused
    assert message, outcome
    assert "\n" not in message, message
    assert len(message) < 1000, message
    assert "Traceback" not in message
    assert (stored_snapshots(), stored_accounts()) == before


def check_messages(outcome: Outcome) -> None:
    for line, _, message in outcome.errors:
        assert line >= 2, outcome.errors
        assert message, outcome.errors
        assert "\n" not in message, message
        assert len(message) < 1000, message
        assert "Traceback" not in message


# --- Generated files whose every line is known ----------------------------------------------------


@dataclass
class Case:
    """A CSV file and what importing it must do."""

    text: str
    data: bytes  # the text in `encoding`
    encoding: str
    #: Line -> the column (as the header spells it) of each wrong line; None: the row as a whole.
    bad: dict[int, str | None]
    #: (platform, lower-case handle, day) -> (metric values..., precision, source) of each good line.
    snapshots: dict[tuple[str, str, dt.date], tuple]
    #: (platform, lower-case handle) -> (handle as first written, lower-case organization or None).
    accounts: dict[tuple[str, str], tuple[str, str | None]]

    @property
    def readable(self) -> bool:
        """Whether a file of these bytes is read (else it is refused whole as not UTF-8/UTF-16)."""
        if self.encoding in ("utf-8", "utf-8-sig", "utf-16"):
            return True
        if self.encoding == "utf-16-le":
            return False  # no byte order mark: NUL bytes everywhere
        try:
            return self.data.decode("utf-8") == self.text  # Latin-1 of ASCII text is UTF-8
        except UnicodeDecodeError:
            return False


PLATFORM_SPELLINGS = {"x": ["X", "x", "Twitter", " x "], "instagram": ["Instagram", "instagram", "INSTAGRAM"]}
PROFILE_URLS = {"x": "https://x.com/{}", "instagram": "https://www.instagram.com/{}/"}
HANDLE_STEMS = ["nasa", "esa", "jaxa", "café", "straße", "acc", "ørsted"]
#: No name with a capital letter outside A-Z ("Österreichischer Rundfunk"): the account import
#: does not link such organizations yet (see test_csv_import.py's organization test).
ORGANIZATIONS = [
    "",
    "Space Agency",
    "space agency",
    "Café du Monde",
    "ørsted fonden",
    'Quote "Inc", Ltd',
    "Multi\nLine Org",
    "  Padded  ",
]
COLUMN_SPELLINGS = {
    "platform": ["Platform", "platform", "PLATFORM", " Platform "],
    "handle": ["Handle", "handle", "HANDLE"],
    "date": ["Date", "date", " DATE"],
    "organization": ["Organization", "organization"],
    **{name: [name.title(), name, name.upper(), f" {name.title()} "] for name in METRIC_FIELDS},
}
EXTRA_COLUMNS = ["Notes", "Engagement Total", "Org Id", ""]

BAD_PLATFORMS = ["", "Myspace", "Friendster", "Twitter X Y", "p" * 600]
BAD_HANDLES = ["", "bad handle!", "@@", "a" * 300, "ÉRIC", "https://facebook.com/nasa", "h" * 1500]
BAD_DATES = [
    "2025-02-30",
    "2023-02-29",
    "0001-01-01",
    "9999-12-31",
    "2003-12-31",
    (TODAY + dt.timedelta(days=1)).isoformat(),
    "31/12/2025",
    "2025-13-01",
    "2025-1-1",
    "",
    "yesterday",
    "\uff12\uff10\uff12\uff15-01-01",  # full-width digits
]
BAD_COUNTS = [
    "-5",
    "\u22125",
    "-0",
    "1.5",
    "0.5",
    "15.5",
    "1e309",
    "1E3",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
    "\uff11\uff12\uff13",  # full-width digits
    "\u00b2",
    "\u00bd",
    "1.234.567",
    "+5",
    "0x1F",
    "12abc",
    "1,23",
    "1,2345",
    "1.2345K",
    "5 5 5",
    "1_000",
    "9" * 25,
    "9" * 5000,
    "99999999999999999999999K",
]


def universal_breaks(text: str) -> int:
    """Line breaks as the CSV reader counts them: \\n, \\r\\n and a lone \\r."""
    return len(re.findall(r"\r\n|\r|\n", text))


def ascii_upper(text: str) -> str:
    return "".join(c.upper() if c.isascii() else c for c in text)


@st.composite
def good_counts(draw, name: str) -> tuple[str, int | None, bool]:
    """(cell, value, rounded) of a count written in one of the accepted forms, within its bound."""
    bound = BOUNDS[name]
    kind = draw(
        st.sampled_from(
            [
                "plain",
                "plain",
                "plain",
                "zeros",
                "comma",
                "space",
                "apostrophe",
                "padded",
                "rounded",
                "bound",
                "empty",
            ]
        )
    )
    if kind == "empty":
        return "", None, False
    if kind == "bound":
        return str(bound), bound, False
    if kind == "rounded":
        tenths, suffix = draw(st.integers(0, 9999)), draw(st.sampled_from(["K", "k", "M", "B"]))
        exponent = {"k": 3, "K": 3, "M": 6, "B": 9}[suffix]
        value = tenths * 10 ** (exponent - 1)
        if value > bound:
            suffix, value = "K", tenths * 100
        whole, tenth = divmod(tenths, 10)
        return (f"{whole}.{tenth}{suffix}" if tenth else f"{whole}{suffix}"), value, True
    value = draw(st.integers(0, bound) | st.integers(0, 10_000_000))
    if kind == "zeros":
        return f"00{value}", value, False
    if kind == "comma":
        return f"{value:,}", value, False
    if kind == "space":
        return f"{value:,}".replace(",", " "), value, False
    if kind == "apostrophe":
        return f"{value:,}".replace(",", "'"), value, False
    if kind == "padded":
        return f" {value} ", value, False
    return str(value), value, False


@st.composite
def snapshot_cases(draw) -> Case:
    metrics = ["followers", *draw(st.lists(st.sampled_from(METRIC_FIELDS[1:]), unique=True))]
    with_org = draw(st.booleans())
    extra = draw(st.lists(st.sampled_from(EXTRA_COLUMNS), unique=True, max_size=2))
    columns = draw(
        st.permutations(["platform", "handle", "date", *metrics, *(["organization"] if with_org else [])])
    )
    spelled = {name: draw(st.sampled_from(COLUMN_SPELLINGS[name])) for name in columns}
    header = [spelled[name] for name in columns] + extra
    width = len(header)
    label = {name: spelled[name].strip() for name in columns}

    pool = {}
    for _ in range(draw(st.integers(1, 4))):
        platform = draw(st.sampled_from(sorted(PLATFORM_SPELLINGS)))
        handle = draw(st.sampled_from(HANDLE_STEMS)) + draw(st.from_regex(r"[a-z0-9_]{0,6}", fullmatch=True))
        pool[(platform, handle.lower())] = (platform, handle)
    accounts = list(pool.values())

    line_ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_ending)
    writer.writerow(header)
    bad: dict[int, str | None] = {}
    snapshots: dict[tuple[str, str, dt.date], tuple] = {}
    created: dict[tuple[str, str], tuple[str, str | None]] = {}
    used_days: set[tuple[str, str, dt.date]] = set()

    for _ in range(draw(st.integers(0, 25))):
        line = universal_breaks(out.getvalue()) + 1
        kind = draw(st.sampled_from(["good", "good", "good", "bad", "bad", "blank"]))
        if kind == "blank":
            out.write(draw(st.sampled_from(["", ",,,", "  ", ", ,"])) + line_ending)
            continue
        platform, handle = draw(st.sampled_from(accounts))
        key = (platform, handle.lower())
        day = draw(st.dates(EARLIEST_DAY, TODAY))
        handle_cell, stored = draw(
            st.sampled_from(
                [
                    (handle, handle),
                    (f"@{handle}", handle),
                    (ascii_upper(handle), ascii_upper(handle)),
                    (PROFILE_URLS[platform].format(handle), handle),
                ]
            )
        )
        cells = {
            "platform": draw(st.sampled_from(PLATFORM_SPELLINGS[platform])),
            "handle": handle_cell,
            "date": draw(st.sampled_from([day.isoformat(), f" {day.isoformat()} "])),
            "organization": draw(st.sampled_from(ORGANIZATIONS)),
        }
        values: dict[str, int | None] = dict.fromkeys(METRIC_FIELDS)
        rounded = False
        for name in metrics:
            cells[name], values[name], was_rounded = draw(good_counts(name))
            rounded = rounded or was_rounded
        if all(values[name] is None for name in metrics):
            cells["followers"], values["followers"] = "7", 7

        problem = None
        if kind == "bad":
            problems = ["platform", "handle", "date", "count", "count", "no numbers"]
            problem = draw(st.sampled_from(problems + (["organization"] if with_org else [])))
            if problem == "platform":
                cells["platform"] = draw(st.sampled_from(BAD_PLATFORMS))
            elif problem == "handle":
                cells["handle"] = draw(st.sampled_from(BAD_HANDLES))
            elif problem == "date":
                cells["date"] = draw(st.sampled_from(BAD_DATES))
            elif problem == "count":
                problem = draw(st.sampled_from(metrics))
                cells[problem] = draw(
                    st.sampled_from([*BAD_COUNTS, str(BOUNDS[problem] + 1), f"{BOUNDS[problem] + 1:,}"])
                )
            elif problem == "no numbers":
                for name in metrics:
                    cells[name] = draw(st.sampled_from(["", " "]))
            else:
                cells["organization"] = "O" * 201
        elif (key[0], key[1], day) in used_days:
            continue  # one good line per account and day (the last of several would win)

        row = [cells[name] for name in columns] + [draw(st.sampled_from(["", "note", "a,b"])) for _ in extra]
        if draw(st.integers(0, 9)) == 0:
            row.append("an extra cell")  # beyond the header: ignored
        assert len(row) >= width
        writer.writerow(row)
        if kind == "bad":
            bad[line] = None if problem == "no numbers" else label[problem]
            continue
        used_days.add((key[0], key[1], day))
        snapshots[(key[0], key[1], day)] = (
            *(values[name] for name in METRIC_FIELDS),
            Precision.ROUNDED if rounded else Precision.EXACT,
            Source.CSV,
        )
        if key not in created:
            organization = cells["organization"].strip() if with_org else ""
            created[key] = (stored, organization.lower() or None)

    text = out.getvalue()
    if not draw(st.booleans()):
        text = text.removesuffix(line_ending)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1"]))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        encoding, data = "utf-8", text.encode()
    return Case(text=text, data=data, encoding=encoding, bad=bad, snapshots=snapshots, accounts=created)


def check_case(path, case: Case, outcome: Outcome, before) -> None:
    """The outcome is the one the case calls for, and the database holds exactly what it should."""
    if path.name != "bulk" and not case.readable:
        assert outcome.refused, (case.encoding, outcome)
        check_refusal(outcome, before)
        return
    assert outcome.refused is None, (outcome.refused, case.text[:500])
    check_messages(outcome)
    assert outcome.bad_lines == case.bad, (outcome.errors, case.text)
    assert outcome.skipped == len(case.bad)
    assert (outcome.created, outcome.updated, outcome.unchanged) == (len(case.snapshots), 0, 0)
    assert outcome.accounts_created == len(case.accounts)
    snapshots, accounts = before
    assert stored_snapshots() == {**snapshots, **case.snapshots}
    assert stored_accounts() == {**accounts, **case.accounts}


@FUZZ
@given(case=snapshot_cases())
def test_generated_files_import_exactly_their_good_lines(path, case):
    with isolated():
        before = stored_snapshots(), stored_accounts()
        check_case(path, case, path.run(case.data, case.text), before)


@FUZZ
@given(case=snapshot_cases())
def test_importing_the_same_file_again_writes_nothing(path, case):
    with isolated():
        first = path.run(case.data, case.text)
        if first.refused:
            return
        after = stored_snapshots(), stored_accounts()
        stamps = set(Snapshot.objects.values_list("pk", "collected_at"))
        again = path.run(case.data, case.text)
        assert (again.created, again.updated, again.accounts_created) == (0, 0, 0)
        assert again.unchanged == first.created
        assert again.bad_lines == first.bad_lines
        assert (stored_snapshots(), stored_accounts()) == after
        assert set(Snapshot.objects.values_list("pk", "collected_at")) == stamps


@st.composite
def account_lists(draw) -> tuple[str, dict[int, str | None], dict]:
    """(text, line -> column of each wrong line, the accounts it must create) of an account list."""
    with_url, with_name = draw(st.booleans()), draw(st.booleans())
    columns = draw(
        st.permutations(
            [
                "Platform",
                "Handle",
                "Organization",
                *(["URL"] if with_url else []),
                *(["Name"] if with_name else []),
            ]
        )
    )
    line_ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_ending)
    writer.writerow(columns)
    bad, created = {}, {}
    for _ in range(draw(st.integers(0, 15))):
        line = universal_breaks(out.getvalue()) + 1
        platform = draw(st.sampled_from(sorted(PLATFORM_SPELLINGS)))
        handle = draw(st.sampled_from(HANDLE_STEMS)) + draw(st.from_regex(r"[a-z0-9]{0,4}", fullmatch=True))
        cells = {
            "Platform": draw(st.sampled_from(PLATFORM_SPELLINGS[platform])),
            "Handle": draw(st.sampled_from([handle, f"@{handle}", ascii_upper(handle)])),
            "Organization": draw(st.sampled_from(ORGANIZATIONS)),
            "URL": "",
            "Name": draw(st.sampled_from(["", "The Name", "Ünïcödé name"])),
        }
        if with_url and draw(st.booleans()):
            cells["Handle"], cells["URL"] = "", PROFILE_URLS[platform].format(handle)
        problem = draw(st.sampled_from([None, None, "Platform", "Handle", "Organization", "Name"]))
        if problem == "Platform":
            cells["Platform"] = draw(st.sampled_from(["", "Myspace", "p" * 200]))
        elif problem == "Handle":
            cells["Handle"] = draw(st.sampled_from(["bad handle!", "ÉRIC", "a" * 300]))
            cells["URL"] = ""
        elif problem == "Organization":
            cells["Organization"] = "O" * 201
        elif problem == "Name" and with_name:
            cells["Name"] = "n" * 256
        elif problem == "Name":
            problem = None
        writer.writerow([cells[name] for name in columns])
        if problem:
            bad[line] = problem
            continue
        written = cells["Handle"] or cells["URL"]
        key = (platform, handle.lower())
        if key not in created:
            stored = ascii_upper(handle) if written == ascii_upper(handle) and written != handle else handle
            created[key] = (stored, cells["Organization"].strip().lower() or None)
    return out.getvalue(), bad, created


@FUZZ
@given(generated=account_lists())
def test_generated_account_lists(path, generated):
    text, bad, created = generated
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        assert outcome.refused is None, outcome.refused
        check_messages(outcome)
        assert outcome.bad_lines == bad, (outcome.errors, text)
        assert outcome.created == len(created)
        assert stored_accounts() == {**before[1], **created}
        assert stored_snapshots() == before[0]


# --- Anything at all -------------------------------------------------------------------------------

HEADERS = [
    b"",
    b"Platform,Handle,Date,Followers\n",
    b"\xef\xbb\xbfPlatform,Handle,Date,Followers,Following,Posts,Likes,Comments,Shares,Views\r\n",
    b"Platform,Handle,Organization,URL\n",
]


def check_any(outcome: Outcome, before) -> None:
    """Whatever came in: refused with nothing written, or a report that agrees with the database."""
    if outcome.refused is not None:
        check_refusal(outcome, before)
        return
    check_messages(outcome)
    assert len(outcome.errors) == outcome.skipped
    assert len(outcome.bad_lines) == len(outcome.errors)  # one error per line
    snapshots, accounts = before
    now_snapshots, now_accounts = stored_snapshots(), stored_accounts()
    assert now_snapshots.items() >= {k: v for k, v in snapshots.items() if k not in now_snapshots}.items()
    assert len(now_snapshots) - len(snapshots) == outcome.created
    assert len(now_accounts) - len(accounts) >= outcome.accounts_created


@FUZZ
@given(head=st.sampled_from(HEADERS), body=st.binary(max_size=3000))
def test_random_bytes(path, head, body):
    with isolated():
        before = stored_snapshots(), stored_accounts()
        check_any(path.run(head + body), before)


ROW_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(',"\r\n0123456789-.:'),
    max_size=200,
)


@FUZZ
@given(head=st.sampled_from(HEADERS[1:]), lines=st.lists(ROW_TEXT, max_size=20))
def test_random_text_after_a_good_header(path, head, lines):
    text = head.decode("utf-8") + "\n".join(lines)
    with isolated():
        before = stored_snapshots(), stored_accounts()
        check_any(path.run(text.encode(), text), before)


@FUZZ
@given(
    cells=st.lists(
        st.tuples(
            st.sampled_from(["x", "instagram", "X", "Twitter", "bogus", ""]),
            st.text(max_size=30) | st.sampled_from(["nasa", "@NASA", "ÉRIC", "straße", "a" * 300]),
            st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)).map(dt.date.isoformat) | st.text(max_size=12),
            st.text(max_size=12) | st.integers(-(10**20), 10**20).map(str) | st.sampled_from(BAD_COUNTS),
            st.text(max_size=30),
        ),
        max_size=15,
    )
)
def test_rows_of_random_cells(path, cells):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Platform", "Handle", "Date", "Followers", "Organization"])
    writer.writerows(cells)
    text = out.getvalue()
    with isolated():
        before = stored_snapshots(), stored_accounts()
        check_any(path.run(text.encode(), text), before)


# --- Inputs named in the issue, each on every path ---------------------------------------------------


def check_expected(outcome: Outcome, *, bad: dict[int, str | None], written: dict, before) -> None:
    assert outcome.refused is None, outcome.refused
    check_messages(outcome)
    assert outcome.bad_lines == bad, outcome.errors
    assert outcome.skipped == len(bad)
    assert outcome.created == len(written)
    snapshots, _ = before
    assert stored_snapshots() == {**snapshots, **written}


def snapshot(followers=None, *, rounded=False, **values) -> tuple:
    values["followers"] = followers
    return (
        *(values.get(name) for name in METRIC_FIELDS),
        Precision.ROUNDED if rounded else Precision.EXACT,
        Source.CSV,
    )


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


ACCEPTED_COUNTS = [
    ("0", 0, False),
    ("1234", 1234, False),
    ("001234", 1234, False),
    ("1,234", 1234, False),
    ("1 234 567", 1234567, False),
    ("1\u00a0234", 1234, False),
    ("1'234", 1234, False),
    (" 42 ", 42, False),
    ("15.5K", 15500, True),
    ("15.5k", 15500, True),
    ("2.1M", 2100000, True),
    ("3B", 3000000000, True),
    (str(PEOPLE_BOUND), PEOPLE_BOUND, False),
    (f"{PEOPLE_BOUND:,}", PEOPLE_BOUND, False),
    ("10B", PEOPLE_BOUND, True),
]


def test_every_count_spelling(path):
    """Each accepted spelling is read as the number it means; each other one is refused on its line."""
    rows, bad, written = [], {}, {}
    for n, (cell, value, rounded) in enumerate(ACCEPTED_COUNTS):
        rows.append(["x", "counts", days_ago(n).isoformat(), cell])
        written[("x", "counts", days_ago(n))] = snapshot(value, rounded=rounded)
    refused = [*BAD_COUNTS, str(PEOPLE_BOUND + 1), f"{PEOPLE_BOUND + 1:,}", "10.1B", "-1,234"]
    for cell in refused:
        rows.append(["x", "counts", days_ago(0).isoformat(), cell])
        bad[len(rows) + 1] = "Followers"
    text = "Platform,Handle,Date,Followers\n" + "".join(_csv_line(row) for row in rows)
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        check_expected(outcome, bad=bad, written=written, before=before)
        reasons = {line: message for line, _, message in outcome.errors}
    first_bad = len(ACCEPTED_COUNTS) + 2
    for offset, fragment in [
        (0, "is negative"),
        (3, "is not a whole number"),
        (6, "is in scientific notation"),
        (8, "is not a finite number"),
        (13, "digits other than 0-9"),
        (17, "dots between its digits"),
        (26, "is too large"),
        (27, "too long to be a count"),
        (29, "is too large"),
    ]:
        assert fragment in reasons[first_bad + offset], reasons[first_bad + offset]
        assert "expected a whole number from 0 to 10,000,000,000 in digits 0-9" in reasons[first_bad + offset]


def test_bounds_of_every_count(path):
    header = "Platform,Handle,Date,Followers,Following,Posts,Likes,Comments,Shares,Views\n"
    rows = [
        ["x", "bounds", days_ago(1).isoformat(), *[str(PEOPLE_BOUND)] * 2, *[str(COUNT_BOUND)] * 5],
        ["x", "bounds", days_ago(2).isoformat(), "1", str(PEOPLE_BOUND + 1), "1", "1", "1", "1", "1"],
        ["x", "bounds", days_ago(3).isoformat(), "1", "1", "1", "1", "1", "1", str(COUNT_BOUND + 1)],
        ["x", "bounds", days_ago(4).isoformat(), "1", "1", "1", "1", "1", "1", "9" * 19],
    ]
    text = header + "".join(_csv_line(row) for row in rows)
    written = {
        ("x", "bounds", days_ago(1)): (
            *[PEOPLE_BOUND] * 2,
            *[COUNT_BOUND] * 5,
            Precision.EXACT,
            Source.CSV,
        )
    }
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        check_expected(outcome, bad={3: "Following", 4: "Views", 5: "Views"}, written=written, before=before)
        assert "from 0 to 10,000,000,000 " in outcome.errors[0][2]
        assert "from 0 to 1,000,000,000,000,000 " in outcome.errors[1][2]


def test_every_date_spelling(path):
    good = [days_ago(0), days_ago(1), dt.date(2004, 1, 1)]
    rows = [["x", "dates", day.isoformat(), "5"] for day in good]
    rows += [["x", "dates", cell, "5"] for cell in BAD_DATES]
    text = "Platform,Handle,Date,Followers\n" + "".join(_csv_line(row) for row in rows)
    bad = {n + 2: "Date" for n in range(len(good), len(rows))}
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        check_expected(
            outcome, bad=bad, written={("x", "dates", day): snapshot(5) for day in good}, before=before
        )
        reasons = [message for _, _, message in outcome.errors]
    assert "day is out of range for month" in reasons[0]  # 2025-02-30
    assert "before 2004-01-01" in reasons[2]  # year 1
    assert "in the future" in reasons[3]  # year 9999
    assert all("YYYY-MM-DD" in reasons[n] for n in (0, 6, 9, 10))


def _csv_line(row: list[str], line_ending: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_ending).writerow(row)
    return out.getvalue()


THREE_ROWS = (
    "Platform,Handle,Date,Followers,Organization\n"
    f"x,enc,{days_ago(2).isoformat()},1,Café du Monde\n"
    f"x,enc,{days_ago(1).isoformat()},2,\n"
    f"x,enc,{days_ago(0).isoformat()},3,\n"
)
THREE_WRITTEN = {("x", "enc", days_ago(n)): snapshot(3 - n) for n in range(3)}


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (THREE_ROWS.encode("utf-8-sig"), None),
        (THREE_ROWS.encode("utf-16"), None),  # with a byte order mark
        ("\ufeff".encode("utf-16-be") + THREE_ROWS.encode("utf-16-be"), None),
        (THREE_ROWS.replace("\n", "\r\n").encode(), None),
        (THREE_ROWS.replace("\n", "\r").encode(), None),
        (THREE_ROWS.encode("utf-16-le"), "Line 1: the file holds a NUL character"),
        (THREE_ROWS.encode("latin-1"), "Line 2: the file is not UTF-8 text (byte E9"),
        (THREE_ROWS.replace("\n", "\r").encode("latin-1"), "Line 2: the file is not UTF-8 text (byte E9"),
        (THREE_ROWS.encode("utf-32"), "The file is UTF-32 text"),
        (b"\xff\xfe" + b"P\x00\x00", "Line 1: the file is not UTF-16 text"),  # an odd number of bytes
    ],
    ids=[
        "utf-8-bom",
        "utf-16-le-bom",
        "utf-16-be-bom",
        "crlf",
        "cr",
        "utf-16-no-bom",
        "latin-1",
        "latin-1-cr",
        "utf-32",
        "utf-16-truncated",
    ],
)
@pytest.mark.parametrize("path", ["upload", "command"], indirect=True)  # the JSON API takes text, not bytes
def test_encodings_and_line_endings(path, data, refusal):
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(data)
        if refusal is None:
            check_expected(outcome, bad={}, written=THREE_WRITTEN, before=before)
            assert stored_accounts()[("x", "enc")] == ("enc", "café du monde")
        else:
            check_refusal(outcome, before)
            assert refusal in outcome.refused


def test_quoted_line_breaks_keep_the_line_numbers(path):
    text = (
        "Platform,Handle,Date,Followers,Organization\r\n"  # 1
        f'x,quoted,{days_ago(3).isoformat()},1,"Two\r\nLines"\r\n'  # 2-3
        f'x,quoted,{days_ago(2).isoformat()},-1,"One\nmore\rthree"\r\n'  # 4-6: bad
        f"x,quoted,{days_ago(1).isoformat()},2,\r\n"  # 7
        f'x,quoted,2003-01-01,2,"a\n\nb"\r\n'  # 8-10: bad
        f"x,quoted,{days_ago(0).isoformat()},x,\r\n"  # 11: bad
    )
    written = {("x", "quoted", days_ago(3)): snapshot(1), ("x", "quoted", days_ago(1)): snapshot(2)}
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        check_expected(
            outcome, bad={4: "Followers", 8: "Date", 11: "Followers"}, written=written, before=before
        )
        assert stored_accounts()[("x", "quoted")] == ("quoted", "two\r\nlines")


MEGABYTE = 1024 * 1024


@pytest.mark.parametrize("column", ["handle", "followers", "notes", "header"])
def test_a_one_megabyte_cell_refuses_the_file_naming_its_line(path, column):
    cells = {"handle": "big", "followers": "5", "notes": ""}
    header = "Platform,Handle,Date,Followers,Notes"
    if column == "header":
        header += "," + "h" * MEGABYTE
    else:
        cells[column] = "9" * MEGABYTE
    text = (
        f"{header}\n"
        f"x,small,{days_ago(1).isoformat()},1,\n"
        f"x,{cells['handle']},{days_ago(0).isoformat()},{cells['followers']},{cells['notes']}\n"
    )
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        check_refusal(outcome, before)
        line = 1 if column == "header" else 3
        assert outcome.refused.startswith(f"Line {line}: a cell is longer than 131,072 characters")


@pytest.mark.parametrize("column", ["Handle", "Followers", "Organization", "Notes"])
def test_a_long_cell_within_the_csv_limit_is_a_line_error_or_ignored(path, column):
    cells = {"Handle": "long", "Followers": "5", "Organization": "", "Notes": ""}
    cells[column] = "7" * 100_000
    text = "Platform,Handle,Date,Followers,Organization,Notes\n" + _csv_line(
        [
            "x",
            cells["Handle"],
            days_ago(0).isoformat(),
            cells["Followers"],
            cells["Organization"],
            cells["Notes"],
        ]
    )
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        if column == "Notes":  # a column the import does not read
            check_expected(outcome, bad={}, written={("x", "long", days_ago(0)): snapshot(5)}, before=before)
        else:
            check_expected(outcome, bad={2: column}, written={}, before=before)
            assert "100,000 characters" in outcome.errors[0][2]


def test_ten_thousand_columns(path):
    extra = [f"Column {n}" for n in range(9_996)]
    header = ["Platform", "Handle", "Date", "Followers", *extra]
    rows = [["x", "wide", days_ago(n).isoformat(), str(n), *(str(i) for i in range(9_996))] for n in range(3)]
    rows.append(["x", "wide", days_ago(5).isoformat(), "-1", *([""] * 9_996)])
    text = "".join(_csv_line(row) for row in [header, *rows])
    written = {("x", "wide", days_ago(n)): snapshot(n) for n in range(3)}
    with isolated():
        before = stored_snapshots(), stored_accounts()
        check_expected(path.run(text.encode(), text), bad={5: "Followers"}, written=written, before=before)


def test_ten_thousand_unknown_columns_are_refused_in_a_short_message(path):
    text = ",".join(f"Column {n}" for n in range(10_000)) + "\n1,2\n"
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        check_refusal(outcome, before)
        assert "Column 0, Column 1" in outcome.refused
        assert "and 9,980 more" in outcome.refused


@pytest.mark.parametrize(
    ("header", "refusal"),
    [
        ("Platform,Handle,Date,Followers,Followers", "names the column 'followers' twice (columns 4 and 5)"),
        ("Platform,Handle,date,Followers, DATE ", "names the column 'date' twice (columns 3 and 5)"),
        ("Platform,Handle,Date,Followers,Likes,likes", "names the column 'likes' twice"),
        ("Platform,Handle,Handle,Date,Followers", "names the column 'handle' twice"),
        ("Platform,Handle,Date,Followers,Notes,Notes,,", None),  # columns the import ignores
    ],
)
def test_duplicated_headers(path, header, refusal):
    width = header.count(",") + 1
    row = ["x", "dup", days_ago(0).isoformat(), "5", "6", "7", "8"][:width]
    if header.startswith("Platform,Handle,Handle"):
        row = ["x", "dup", "dup", days_ago(0).isoformat(), "5"]
    text = header + "\n" + _csv_line(row)
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        if refusal is None:
            check_expected(outcome, bad={}, written={("x", "dup", days_ago(0)): snapshot(5)}, before=before)
        else:
            check_refusal(outcome, before)
            assert refusal in outcome.refused


def hundred_thousand_lines(seed: int = 2026) -> tuple[str, dict[int, str | None], dict]:
    """100,000 lines after the header (500 accounts x 200 days), a random tenth of them wrong."""
    rng = random.Random(seed)
    header = "Platform,Handle,Date,Followers,Likes,Views\n"
    wrong = set(rng.sample(range(100_000), 10_000))
    lines, bad, written = [header], {}, {}
    problems = [
        ("Platform", lambda cells: cells.__setitem__(0, rng.choice(BAD_PLATFORMS))),
        ("Handle", lambda cells: cells.__setitem__(1, rng.choice(BAD_HANDLES))),
        ("Date", lambda cells: cells.__setitem__(2, rng.choice(BAD_DATES))),
        ("Followers", lambda cells: cells.__setitem__(3, rng.choice(BAD_COUNTS))),
        ("Views", lambda cells: cells.__setitem__(5, str(COUNT_BOUND + rng.randint(1, 10)))),
        (None, lambda cells: cells.__setitem__(slice(3, 6), ["", "", ""])),
    ]
    for n in range(100_000):
        account, age = divmod(n, 200)
        day = days_ago(age)
        followers, likes, views = 1000 + n, rng.randint(0, 500), rng.randint(0, 10**9)
        cells = [
            rng.choice(["x", "X", "Twitter"]),
            f"big{account}",
            day.isoformat(),
            str(followers),
            str(likes),
            str(views),
        ]
        if n in wrong:
            column, spoil = rng.choice(problems)
            spoil(cells)
            bad[n + 2] = column
        else:
            written[("x", f"big{account}", day)] = snapshot(followers, likes=likes, views=views)
        lines.append(_csv_line(cells))
    return "".join(lines), bad, written


@pytest.fixture(scope="module")
def big_file():
    return hundred_thousand_lines()


def test_a_hundred_thousand_lines_a_tenth_of_them_wrong(path, big_file):
    text, bad, written = big_file
    with isolated():
        before = stored_snapshots(), stored_accounts()
        outcome = path.run(text.encode(), text)
        assert outcome.refused is None, outcome.refused
        check_messages(outcome)
        assert outcome.skipped == len(bad) == 10_000
        assert outcome.created == len(written) == 90_000
        if path.name == "command":  # every wrong line
            assert outcome.bad_lines == bad
        else:  # the first 1,000, in order
            assert list(outcome.bad_lines.items()) == sorted(bad.items())[:1000]
        assert stored_snapshots() == {**before[0], **written}
        assert len(stored_accounts()) - len(before[1]) == outcome.accounts_created == 500

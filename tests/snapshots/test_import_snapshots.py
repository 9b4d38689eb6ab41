"""``manage.py import_snapshots``: CSV files (or standard input) imported as the upload imports them,
with the report on the terminal and an exit status scripts can trust."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Account
from snapshots.models import Snapshot
from socialmetrics.dates import local_today
from tests.scraping.runs import process_env

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent.parent
TODAY = local_today()
HEADER = "Platform,Handle,Date,Followers,Likes\n"


def day(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


GOOD = HEADER + f"x,nasa,{day(2)},100,1\nx,nasa,{day(1)},110,2\ninstagram,esa,{day(1)},7,\n"
WITH_BAD = (
    HEADER
    + f"x,nasa,{day(2)},100,1\n"  # line 2
    + f"x,nasa,{day(1)},-5,2\n"  # line 3: negative
    + f"myspace,tom,{day(1)},5,\n"  # line 4: unknown platform
    + "\n"  # line 5: blank
    + f"x,nasa,{day(0)},,\n"  # line 6: no numbers
    + "x,esa,2025-02-30,5,\n"  # line 7: no such day
    + f"x,esa,{day(0)},1.5,\n"  # line 8: a fraction
    + f"x,esa,{day(0)},12,3\n"  # line 9
)


class Run:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err


def run(*args: str, stdout: io.StringIO | None = None) -> Run:
    out, err = stdout or io.StringIO(), io.StringIO()
    try:
        call_command("import_snapshots", *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return Run(status, out.getvalue(), err.getvalue())


def write(tmp_path: Path, name: str, content: str | bytes) -> str:
    file = tmp_path / name
    file.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(file)


def test_a_file_is_imported_and_reported(tmp_path):
    file = write(tmp_path, "history.csv", GOOD)
    result = run(file)
    assert result.status == 0, result.err
    assert result.err == ""
    assert f"{file}: Imported snapshots: 3 created, 0 updated, 0 unchanged, 0 skipped." in result.out
    assert "2 new account(s)" in result.out
    assert Snapshot.objects.count() == 3
    assert Snapshot.objects.get(account__handle="nasa", date=day(1)).likes == 2


def test_running_it_again_writes_nothing(tmp_path):
    file = write(tmp_path, "history.csv", GOOD)
    assert run(file).status == 0
    stamps = set(Snapshot.objects.values_list("pk", "collected_at"))
    accounts = set(Account.objects.values_list("pk", "updated_at"))
    again = run(file)
    assert again.status == 0
    assert "0 created, 0 updated, 3 unchanged, 0 skipped." in again.out
    assert set(Snapshot.objects.values_list("pk", "collected_at")) == stamps
    assert set(Account.objects.values_list("pk", "updated_at")) == accounts


def test_every_bad_line_is_listed_with_its_column_and_reason_and_the_rest_imported(tmp_path):
    file = write(tmp_path, "history.csv", WITH_BAD)
    result = run(file)
    assert result.status == 1
    lines = result.err.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        f"{file}, line 3, Followers",
        f"{file}, line 4, Platform",
        f"{file}, line 6",
        f"{file}, line 7, Date",
        f"{file}, line 8, Followers",
    ]
    assert "is negative" in lines[0]
    assert "myspace" in lines[1].lower()
    assert "no numbers" in lines[2]
    assert "day is out of range for month" in lines[3]
    assert "is not a whole number" in lines[4]
    assert lines[-1] == "import_snapshots: 5 line(s) refused in 1 file(s). Everything else was imported."
    assert "2 created, 0 updated, 0 unchanged, 5 skipped." in result.out
    assert sorted(Snapshot.objects.values_list("account__handle", "followers")) == [
        ("esa", 12),
        ("nasa", 100),
    ]


def test_every_bad_line_is_listed_however_many(tmp_path):
    """The upload lists the first 1,000; the command lists them all."""
    rows = "".join(f"x,nasa,{day(0)},-{n},\n" for n in range(1500))
    result = run(write(tmp_path, "history.csv", HEADER + rows))
    assert result.status == 1
    assert len(result.err.splitlines()) == 1501
    assert "The first" not in result.out


def test_quiet_on_success_but_never_about_refused_lines(tmp_path):
    result = run(write(tmp_path, "good.csv", GOOD), "-v", "0")
    assert (result.status, result.out, result.err) == (0, "", "")
    result = run(write(tmp_path, "bad.csv", WITH_BAD), "-v", "0")
    assert result.status == 1
    assert result.out == ""
    assert len(result.err.splitlines()) == 6


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "The file is empty"),
        (b"Name,Email\nbob,bob@example.org\n", "The CSV header must be"),
        (HEADER.encode() + b"x,caf\xe9,2026-01-01,1,\n", "Line 2: the file is not UTF-8 text (byte E9"),
        ("Platform,Handle,Date,Followers\n".encode("utf-16-le"), "Line 1: the file holds a NUL character"),
        (b"Platform,Handle,Date,Followers,followers\n", "names the column 'followers' twice"),
    ],
)
def test_a_file_that_cannot_be_read_exits_1_with_one_line_and_writes_nothing(tmp_path, content, fragment):
    file = write(tmp_path, "history.csv", content)
    result = run(file)
    assert result.status == 1
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith(f"import_snapshots: {file}: ")
    assert fragment in result.err
    assert not Snapshot.objects.exists()
    assert not Account.objects.exists()


def test_utf16_with_a_byte_order_mark_is_read(tmp_path):
    file = write(tmp_path, "unicode.csv", GOOD.replace("\n", "\r\n").encode("utf-16"))
    assert run(file).status == 0
    assert Snapshot.objects.count() == 3


def test_a_missing_file_stops_everything_before_anything_is_imported(tmp_path):
    good = write(tmp_path, "good.csv", GOOD)
    result = run(good, str(tmp_path / "missing.csv"))
    assert result.status == 1
    assert result.err == f"import_snapshots: {tmp_path / 'missing.csv'}: no such file.\n"
    assert not Snapshot.objects.exists()
    result = run(str(tmp_path))
    assert result.status == 1
    assert "is a directory" in result.err


def test_several_files_one_unreadable_the_others_are_imported(tmp_path):
    good = write(tmp_path, "good.csv", GOOD)
    latin = write(tmp_path, "latin.csv", HEADER.encode() + b"x,caf\xe9,2026-01-01,1,\n")
    result = run(latin, good)
    assert result.status == 1
    assert result.err.splitlines() == [
        f"import_snapshots: {latin}: Line 2: the file is not UTF-8 text (byte E9 cannot be read as UTF-8); "
        "save it as CSV UTF-8. Nothing was imported.",
        "import_snapshots: 1 of 2 file(s) could not be read. Everything else was imported.",
    ]
    assert Snapshot.objects.count() == 3


def test_dry_run_checks_and_counts_and_writes_nothing(tmp_path):
    file = write(tmp_path, "history.csv", WITH_BAD)
    result = run(file, "--dry-run")
    assert result.status == 1
    assert result.out.endswith(
        "2 created, 0 updated, 0 unchanged, 5 skipped. 2 new account(s) created for the snapshots. "
        "Dry run: nothing was written.\n"
    )
    assert (
        result.err.splitlines()[-1]
        == "import_snapshots: 5 line(s) refused in 1 file(s). Everything else was checked."
    )
    assert not Snapshot.objects.exists()
    assert not Account.objects.exists()
    assert run(file).status == 1
    assert Snapshot.objects.count() == 2


def test_standard_input_can_be_named_once(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GOOD.encode("utf-8-sig"))))
    result = run("-")
    assert result.status == 0, result.err
    assert "-: Imported snapshots: 3 created" in result.out
    with pytest.raises(CommandError, match="only once"):
        call_command("import_snapshots", "-", "-")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_on_a_terminal_only(tmp_path):
    file = write(tmp_path, "history.csv", GOOD)
    on_terminal = run(file, stdout=Terminal())
    assert on_terminal.status == 0
    assert "importing" in on_terminal.out  # the bar, drawn as the import starts
    assert "Imported snapshots: 3 created" in on_terminal.out
    assert "importing" not in run(file).out
    assert "importing" not in run(file, "-v", "0", stdout=Terminal()).out


@pytest.mark.django_db(transaction=True)  # the command's own process must see what this one wrote
def test_as_a_program_reading_standard_input():
    process = subprocess.run(
        [sys.executable, "manage.py", "import_snapshots", "-"],
        input=WITH_BAD.encode(),
        capture_output=True,
        cwd=ROOT,
        env=process_env(REDIS_URL=""),
        timeout=120,
    )
    err = process.stderr.decode()
    assert process.returncode == 1, err
    assert "Traceback" not in err
    assert err.splitlines()[0].startswith("-, line 3, Followers: '-5' is negative")
    assert (
        err.splitlines()[-1]
        == "import_snapshots: 5 line(s) refused in 1 file(s). Everything else was imported."
    )
    assert "2 created" in process.stdout.decode()
    assert Snapshot.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_as_a_program_bad_arguments_exit_2_and_a_missing_file_1(tmp_path):
    env = process_env(REDIS_URL="")
    none = subprocess.run(
        [sys.executable, "manage.py", "import_snapshots"], capture_output=True, cwd=ROOT, env=env, timeout=120
    )
    assert none.returncode == 2
    assert "FILE" in none.stderr.decode()
    missing = subprocess.run(
        [sys.executable, "manage.py", "import_snapshots", str(tmp_path / "nope.csv")],
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert missing.returncode == 1
    assert missing.stderr.decode() == f"import_snapshots: {tmp_path / 'nope.csv'}: no such file.\n"

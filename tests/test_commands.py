"""Every management command as a small program: -v 0 prints nothing but errors, a refusal exits
non-zero and says so, and long work shows its progress on a terminal (or at -v 2)."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import Account
from snapshots.models import AccountLatest
from snapshots.services import SnapshotRow, snapshot_upsert_many
from socialmetrics.dates import local_today
from tests.factories import AccountFactory
from tests.scraping.runs import process_env

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    """Standard output as a terminal: where the progress bars draw."""

    def isatty(self) -> bool:
        return True


class Result:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err


def run(name: str, *args: str, stdout: io.StringIO | None = None) -> Result:
    out, err = stdout if stdout is not None else io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exc:
        status = exc.code
    return Result(status, out.getvalue(), err.getvalue())


@pytest.fixture
def history():
    """Two accounts with a week of history."""
    today = local_today()
    accounts = AccountFactory.create_batch(2)
    snapshot_upsert_many(
        rows=[
            SnapshotRow(account_id=a.pk, date=today - dt.timedelta(days=d), followers=1000 - d)
            for a in accounts
            for d in range(7)
        ]
    )
    return accounts


@pytest.fixture
def accounts_file(tmp_path) -> Path:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"platform": "x", "url": "https://x.com/nasa", "organization": "NASA"}]))
    return path


@pytest.fixture
def snapshots_file(tmp_path) -> Path:
    path = tmp_path / "history.csv"
    path.write_text(f"Platform,Handle,Date,Followers\nx,nasa,{local_today().isoformat()},100\n")
    return path


def quiet_commands(accounts_file: Path, snapshots_file: Path) -> list[tuple[str, ...]]:
    return [
        ("import_accounts", str(accounts_file)),
        ("import_accounts", str(accounts_file), "--dry-run"),
        ("import_snapshots", str(snapshots_file)),
        ("seed_demo", "--accounts", "3", "--days", "2"),
        ("rebuild_latest",),
        ("rebuild_anomalies",),
        ("rebuild_anomalies", "--dry-run"),
        ("rebuild_grid_counts",),
        ("rebuild_grid_counts", "--dry-run"),
        ("collect_metrics", "--sequential"),
        ("find_gaps", "--days", "1"),
    ]


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_every_command_at_verbosity_0_prints_nothing(history, accounts_file, snapshots_file, terminal):
    for command in quiet_commands(accounts_file, snapshots_file):
        result = run(*command, "-v", "0", stdout=Terminal() if terminal else None)
        assert result.status == 0, (command, result.err)
        assert result.out == "", command
        assert result.err == "", command
    # and each of them has work it reports at the default verbosity
    for command in quiet_commands(accounts_file, snapshots_file):
        assert run(*command).out, command


def test_ensure_admin_at_verbosity_0_prints_only_the_new_password():
    result = run("ensure_admin", "-v", "0")
    password = result.out.strip()
    assert result.out == password + "\n"
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert run("ensure_admin", "-v", "0").out == ""  # it exists: nothing to say
    assert "already exists" in run("ensure_admin").out


# --- Exit status ---------------------------------------------------------------------------------------


def test_import_accounts_with_rejected_entries_imports_the_others_and_exits_1(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("Platform,Handle,Organization\nX,nasa,NASA\nMyspace,tom,Friends\nBluesky,,ESA\n")
    result = run("import_accounts", str(path))
    assert result.status == 1
    assert "1 created, 0 updated, 0 unchanged, 2 rejected" in result.out
    assert "rejected entry 2: " in result.err
    assert "rejected entry 3: " in result.err
    assert (
        result.err.splitlines()[-1] == "import_accounts: 2 of 3 entries rejected; the other 1 were imported."
    )
    assert list(Account.objects.values_list("handle", flat=True)) == ["nasa"]

    quiet = run("import_accounts", str(path), "-v", "0")
    assert quiet.status == 1
    assert quiet.out == ""  # the errors still go to stderr
    assert "rejected entry 2" in quiet.err

    dry = run("import_accounts", str(path), "--dry-run")
    assert dry.status == 1
    assert dry.err.splitlines()[-1].endswith("the other 1 would be imported (dry run).")


@pytest.mark.django_db(transaction=True)  # the command's own process must see what this one wrote
def test_import_accounts_as_a_program_exits_1_on_a_rejected_entry_and_0_otherwise(tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("Platform,Handle,Organization\nX,nasa,NASA\nMyspace,tom,Friends\n")
    env = process_env(REDIS_URL="")

    def program(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "import_accounts", *args],
            capture_output=True,
            cwd=ROOT,
            env=env,
            timeout=120,
            text=True,
        )

    refused = program(str(path), "-v", "0")
    assert refused.returncode == 1, refused.stderr
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    assert refused.stderr.splitlines()[-1] == (
        "import_accounts: 1 of 2 entries rejected; the other 1 were imported."
    )
    path.write_text("Platform,Handle,Organization\nX,nasa,NASA\n")
    fine = program(str(path), "-v", "0")
    assert (fine.returncode, fine.stdout, fine.stderr) == (0, "", "")
    assert Account.objects.filter(handle="nasa").count() == 1


# --- Progress -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (("seed_demo", "--accounts", "3", "--days", "3"), "writing snapshots"),
        (("rebuild_latest",), "rebuilding latest values"),
        (("rebuild_anomalies",), "checking days"),
        (("import_accounts", "ACCOUNTS"), "importing accounts.json"),
        (("rebuild_grid_counts",), "counting snapshots per date"),
    ],
)
def test_long_work_shows_a_progress_bar_on_a_terminal_only(history, accounts_file, command, shown):
    command = tuple(str(accounts_file) if arg == "ACCOUNTS" else arg for arg in command)
    on_terminal = run(*command, stdout=Terminal())
    assert on_terminal.status == 0, on_terminal.err
    assert shown in on_terminal.out
    assert shown not in run(*command).out  # cron, a pipe: the summary alone
    assert run(*command, "-v", "0", stdout=Terminal()).out == ""


def test_seed_demo_progress_at_verbosity_2_off_a_terminal_is_plain_lines():
    out = run("seed_demo", "--accounts", "4", "--days", "3", "-v", "2").out
    lines = out.splitlines()
    assert "writing snapshots (accounts): 4 of 4" in lines
    assert "writing posts (days): 3 of 3" in lines
    assert lines[-1].startswith("Demo data: 4 accounts (4 new), 3 days;")
    assert "\x1b" not in out  # no terminal codes in a log


def test_rebuild_latest_progress_counts_every_account(history):
    AccountLatest.objects.all().delete()
    out = run("rebuild_latest", "--chunk-size", "1", "-v", "2").out
    assert "rebuilding latest values: 2 of 2 accounts" in out.splitlines()
    assert out.splitlines()[-1].startswith("Rebuilt the latest values of 2 accounts in ")
    assert AccountLatest.objects.count() == 2


def test_a_bad_chunk_size_is_refused():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--chunk-size must be at least 1"):
        call_command("rebuild_latest", "--chunk-size", "0")

"""Servers and processes of a test's own, for the reliability tests (not a test module).

`PrivatePostgres`: a PostgreSQL cluster the test can stop and start again (test_outages.py,
test_kills.py). `process_env` and `Child`: a `manage.py`-like process on the test's database whose
output the test reads line by line as it comes, to act at a chosen point of its work.
"""

from __future__ import annotations

import contextlib
import glob
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found[-1]:
        pytest.fail(f"{name} not found (PostgreSQL's server binaries, /usr/lib/postgresql/*/bin)")
    return found[-1]


class PrivatePostgres:
    """A PostgreSQL server of the test's own (trust authentication, 127.0.0.1, a free port)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        # initdb refuses to run as root: the server runs as the postgres user then.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(directory, user="postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self.as_user, *command], capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        if not self.data.exists():
            initdb = postgres_bin("initdb")
            self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.directory / "log"), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop_if_running(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()


def manage(
    *command: str, env: dict[str, str], timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess:
    """`manage.py COMMAND` in a process of its own; fails the test when it fails (with `check`)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *command],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check and done.returncode:
        pytest.fail(f"manage.py {' '.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


class Child:
    """A Python process (`python -m MODULE ARGS`) whose output (stdout and stderr together) is read
    on a thread as it comes, so the test can wait for a line, then act (kill it, stop a server)."""

    def __init__(self, module: str, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )  # fmt: skip
        self.lines: list[str] = []
        self._new: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)
        self._new.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, *, timeout: float) -> str:
        """The first line (from now on, or already read) containing `text`; fails the test when the
        process ends or `timeout` seconds pass first."""
        seen = next((line for line in self.lines if text in line), None)
        deadline = time.monotonic() + timeout
        while seen is None:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no line with {text!r} within {timeout:g} s; output:\n{self.output}")
            if line is None:
                code = self.process.wait()
                pytest.fail(f"the process ended ({code}) before {text!r}; output:\n{self.output}")
            if text in line:
                seen = line.rstrip("\n")
        return seen

    def kill(self) -> None:
        """SIGKILL: nothing of the process runs again, as when the machine loses power."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)

    def wait(self, *, timeout: float) -> int:
        """Its exit status; fails the test (and kills it) when it runs longer than `timeout`."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the process did not end within {timeout:g} s; output:\n{self.output}")
        self._reader.join(timeout=10)
        return code

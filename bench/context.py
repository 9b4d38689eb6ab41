"""The run's shared state, handed to every section: the options, the figures and baselines the
sections add, each section's raw figures (the JSON), the data set's description, and the child
processes and gunicorn servers the sections start (every one stopped before the run exits).

Also the environment every benchmark process runs in (`configure_environment`) and the protocol of
the child processes: `bench/run.py --child NAME --spec JSON` prints its result on one line after
`RESULT_MARK`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from contextlib import AbstractContextManager
from pathlib import Path

from bench.report import Baseline, Figure
from bench.server import Server, gunicorn, stop_process

ROOT = Path(__file__).resolve().parent.parent
#: The script child processes run (`--child NAME --spec JSON`).
ENTRY_POINT = ROOT / "bench" / "run.py"
RESULT_MARK = "BENCH-RESULT "


def configure_environment() -> None:
    """What the production settings insist on, for processes that only ever listen on 127.0.0.1."""
    # whitenoise warns that STATIC_ROOT was never collected; the benchmark serves no static file.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("SECRET_KEY", "bench-only-insecure-key-for-loopback-processes-0123456789")
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ["DEBUG"] = "false"
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def read_result(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise RuntimeError("the child process printed no result")


def child_command(name: str, spec: dict) -> list[str]:
    return [sys.executable, str(ENTRY_POINT), "--child", name, "--spec", json.dumps(spec)]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.figures: list[Figure] = []
        self.baselines: dict[str, Baseline] = {}
        self.sections: dict[str, dict] = {}
        self.data: dict = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="socialmetrics-bench-"))
        self.processes: list[tuple[subprocess.Popen, bool]] = []
        #: The HTTP load generator ("wrk" or "python") and its connections, chosen by the run.
        self.loadgen = "python"
        self.connections = 1

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def raw(self, section: str) -> dict:
        return self.sections.setdefault(section, {}).setdefault("raw", {})

    def run_child(self, name: str, spec: dict, *, timeout: float) -> dict:
        done = subprocess.run(
            child_command(name, spec), capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
        )
        if done.returncode:
            raise RuntimeError(f"child {name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return read_result(done.stdout)

    def start_child(self, name: str, spec: dict) -> subprocess.Popen:
        process = subprocess.Popen(
            child_command(name, spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.processes.append((process, False))
        return process

    def server(self, *, minimal: bool = False) -> AbstractContextManager[Server]:
        """gunicorn serving the product (or, with `minimal`, bench/minimal.py) with the run's
        workers and threads (see `bench.server.gunicorn`)."""
        return gunicorn(
            workers=self.args.workers,
            threads=self.args.threads,
            tmp=self.tmp,
            minimal=minimal,
            started=lambda process: self.processes.append((process, True)),
        )

    def stop_all(self) -> None:
        for process, group in self.processes:
            stop_process(process, group=group, grace=5)

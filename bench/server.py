"""gunicorn on a free 127.0.0.1 port, and stopping what the benchmark started.

`gunicorn()` serves the product (`socialmetrics.wsgi`, with the baseline view of bench/urls.py under
bench/settings.py) or, with `minimal`, the minimal Django app of bench/minimal.py, with the
production gunicorn.conf.py and the workers and threads the run was given; it is stopped with its
whole process group when the block ends, even on errors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.measure import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen, *, group: bool = False, grace: float = 15.0) -> None:
    """Stop a process this run started (and, for gunicorn, the process group it leads)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=10)


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def worker_peaks_mb(self) -> list[float]:
        return [peak_rss_mb(pid) for pid in child_pids(self.process.pid)]


@contextlib.contextmanager
def gunicorn(
    *,
    workers: int,
    threads: int,
    tmp: Path,
    started: Callable[[subprocess.Popen], None],
    minimal: bool = False,
) -> Iterator[Server]:
    """gunicorn serving the product (plus the baseline view) on a free loopback port; or, with
    `minimal`, the minimal Django app of bench/minimal.py the same way. `started` is told the
    process as soon as it exists (the run stops every process it was told of before it exits)."""
    import httpx

    port = free_port()
    log = tmp / f"gunicorn-{port}.log"
    app = "django.core.wsgi:get_wsgi_application()" if minimal else "socialmetrics.wsgi:application"
    ready = "/bench/minimal" if minimal else "/health/live"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.minimal"} if minimal else None
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "gunicorn.conf.py"),  # as in production: access log, metrics in multiprocess mode
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--timeout",
        "300",
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
        "--chdir",
        str(ROOT),
    ]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    started(process)
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}{ready}", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer {ready}: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        stop_process(process, group=True)

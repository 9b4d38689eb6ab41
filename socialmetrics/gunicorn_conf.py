"""gunicorn settings: `gunicorn -c python:socialmetrics.gunicorn_conf socialmetrics.wsgi [options]`.

Puts prometheus_client in multiprocess mode so /metrics adds up every worker: each worker writes its
figures to a file in PROMETHEUS_MULTIPROC_DIR. The variable is set here, before any worker imports
the app. A directory it names is created if missing and emptied (an earlier server's figures would
otherwise be added in); unset, a temporary directory is made and removed when gunicorn exits.
Command-line options (--workers, --threads, --bind, ...) apply as usual.
"""

import os
import shutil
import tempfile
from pathlib import Path

_named = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _named:
    _directory = Path(_named)
    _directory.mkdir(parents=True, exist_ok=True)
    for stale in _directory.glob("*.db"):
        stale.unlink()
else:
    _directory = Path(tempfile.mkdtemp(prefix="socialmetrics-prometheus-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_directory)


def child_exit(server, worker) -> None:
    """A worker ended: prometheus_client's bookkeeping for its files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if not _named:
        shutil.rmtree(_directory, ignore_errors=True)

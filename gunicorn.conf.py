"""gunicorn's settings for socialmetrics, read from this directory by `gunicorn socialmetrics.wsgi`
(or named with `-c gunicorn.conf.py`); command-line options and GUNICORN_* variables override them.

Workers and threads: 2 workers x 8 threads for 2 cores (`GUNICORN_WORKERS`, `GUNICORN_THREADS`),
chosen by `make bench-serving` (bench/serving.py) on the 10,000 x 365 benchmark data, wrk -t2 -c16:
against 2x1, 2x4, 3x2, 3x4, 4x1 and 4x4 it served cached reads within the rounds' noise of the best
(1,243 and 1,248 requests/s in two runs; 3x2 1,550 and 1,149), uncached reads within 10 % of the
best (254 and 219/s; 3x2 263 and 232), and the most cached reads beside a streaming download (761
and 825/s; 2x4 505 and 400, 3x2 545 and 634) in 200 MB, where three workers take 285 MB. Requests
mostly wait on PostgreSQL and Redis, so threads keep both cores busy; two processes keep serving
when one is in a long response. With threads gunicorn runs its gthread worker: a long download does
not count against `timeout`, which only ends a worker that stops answering gunicorn's heartbeat.

Also: each worker's one-time work done as it starts, not by its first request (`post_worker_init`,
socialmetrics.warmup), graceful restarts (`graceful_timeout`), keep-alive for a proxy in front, the
access log as named fields with the request id (socialmetrics.logs.AccessLogger; JSON in
production), and prometheus_client in multiprocess mode so /metrics adds up every worker: each
worker writes its figures to a file in PROMETHEUS_MULTIPROC_DIR, set here before any worker imports
the app. A directory it names is created if missing and emptied (an earlier server's figures would
otherwise be added in); unset, a temporary directory is made and removed when gunicorn exits.
"""

import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A worker silent this long is restarted; a request that takes longer goes on (gthread worker).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM or a reload, requests under way get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Workers are replaced now and then, a little apart, so memory a worker grew is given back.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
logger_class = "socialmetrics.logs.AccessLogger"
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"

_named = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _named:
    _directory = Path(_named)
    _directory.mkdir(parents=True, exist_ok=True)
    for stale in _directory.glob("*.db"):
        stale.unlink()
else:
    _directory = Path(tempfile.mkdtemp(prefix="socialmetrics-prometheus-"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_directory)


def post_worker_init(worker) -> None:
    """A worker has loaded the app: do its one-time work (imports, URL patterns, the database pool
    and each of its connections, Redis, the handles of each serving thread) now, so its first
    request costs what any other does (socialmetrics.warmup)."""
    from socialmetrics.warmup import warm_up

    # The gthread worker's pool of serving threads exists by now (a sync worker has none).
    done = warm_up(executor=getattr(worker, "tpool", None), threads=worker.cfg.threads)
    worker.log.debug("warm-up: %s", done)


def child_exit(server, worker) -> None:
    """A worker ended: prometheus_client's bookkeeping for its files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if not _named:
        shutil.rmtree(_directory, ignore_errors=True)

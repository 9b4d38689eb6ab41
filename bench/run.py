"""Benchmark socialmetrics on a chosen backend: one command prints a table and writes a JSON file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialmetrics_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/run.py [--generate] [--accounts N --days D] [--only SECTION,...] \\
            [--json bench/results/latest.json] [--duration 10]

The backend is whatever DATABASE_URL / REDIS_URL say (the embedded SQLite + local memory when they
are unset). Sections, in this order (`--only` picks some):

  seed       only with --generate, which rewrites the benchmark data set first: bench/generate.py's
             snapshots/s against psql COPY of the same rows
  endpoints  every read endpoint in-process (django.test.Client, the full middleware stack):
             p50/p95 uncached (the cache generations bumped before each call, as a write does) and
             cached; the bare baseline view measured the same way
  http       requests/s of every cached read endpoint through gunicorn under wrk (or a small asyncio
             client) on 127.0.0.1, against the bare baseline view through the same server, measured
             before and after the endpoints; the whole CSV download once over HTTP
  export     /api/download streamed in-process: rows/s and memory, against psql COPY TO of the same rows
  import     the CSV import service on new rows for the bench accounts, against psql COPY FROM
  collect    `manage.py collect_metrics --mode simulated` in a subprocess: accounts/s, outcomes recorded
  freshness  writer processes write through the snapshot services and read back over HTTP at once,
             while reader processes keep every cache warm: the number of stale reads

Every figure is printed with its ratio to the baseline measured in the same run (the machine is
shared and absolute times drift) and, where the issue sets one, its target and PASS/MISS.

Writes land on reserved days and are deleted again, so a run can be repeated and leaves the data
set as it found it: the import on 2004-01-01 onwards, the collections on the day after the data
set's newest (the daily run) and 1999-12-31 (a past day), the freshness writers on 2099-12-31.
Run it on a database made for benchmarks (bench/generate.py), never on real data. Every process it
starts (gunicorn, children) is stopped before it exits, even on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECTIONS = ("seed", "endpoints", "http", "export", "import", "collect", "freshness")
BENCH_PREFIX = "bench"
#: Reserved days: nothing of the generated data set lies on them. The sections that write delete
#: what they wrote there, and every run starts by deleting what an interrupted run left on them.
#: A backfilled day, far behind every account's latest (nothing to refresh).
COLLECT_PAST_DATE = dt.date(1999, 12, 31)
IMPORT_FIRST_DATE = dt.date(2004, 1, 1)  # the earliest day an import accepts
RESERVED_PAST = (dt.date(1999, 1, 1), dt.date(2004, 12, 31))
FRESH_DATE = dt.date(2099, 12, 31)
GRID_PER_PAGE = 50
GRID_DEEP_PAGE = 10_000
RESULT_MARK = "BENCH-RESULT "
COPY_COLUMNS = (
    "account_id", "date", "followers", "following", "posts", "likes", "comments", "shares", "views",
    "source", "precision", "collected_at",
)  # fmt: skip

# --- Targets from the issue --------------------------------------------------------------------------

UNCACHED_P50_MS = {
    "summary": 50,
    "summary totals": 100,
    "history (1 account, 1 year)": 10,
    "grid page 1": 30,
    f"grid page {GRID_DEEP_PAGE:,}": 100,
    f"grid cursor at page {GRID_DEEP_PAGE:,}": 30,
    "accounts page 1": 30,
}
CACHED_RPS_RATIO = 0.6
EXPORT_ROWS_PER_S = 150_000
EXPORT_MAX_GROWTH_MB = 64  # "flat memory": a 3.65 M-row export (about 250 MB of CSV) may not hold it
IMPORT_ROWS_PER_S = 50_000
COLLECT_ACCOUNTS_PER_S = 5_000
SEED_COPY_RATIO = 0.3


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


# --- Figures -------------------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    #: Key of the baseline in `Bench.baselines` this figure is compared with.
    baseline: str = ""
    ratio: float | None = None
    target: float | None = None
    #: "max": value (or ratio) must be at most the target; "min": at least.
    target_kind: str = "min"
    target_on: str = "value"
    peak_mb: float | None = None
    detail: str = ""

    @property
    def result(self) -> str:
        if self.target is None:
            return ""
        observed = self.ratio if self.target_on == "ratio" else self.value
        if observed is None:
            return "n/a"
        ok = observed <= self.target if self.target_kind == "max" else observed >= self.target
        return "PASS" if ok else "MISS"


@dataclass
class Baseline:
    name: str
    value: float | None
    unit: str
    detail: str = ""


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit in ("", "reads"):
        return f"{value:,.0f}" + (f" {unit}" if unit else "")
    return f"{value:,.0f} {unit}"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.4999) - 1))
    return ordered[index]


# --- Memory ----------------------------------------------------------------------------------------------


def _status_kb(name: str, pid: int | str = "self") -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def rss_mb(pid: int | str = "self") -> float | None:
    kb = _status_kb("VmRSS", pid)
    return round(kb / 1024, 1) if kb is not None else None


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory (Linux VmHWM; elsewhere the process's lifetime maximum)."""
    kb = _status_kb("VmHWM", pid)
    if kb is None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kb = maxrss // 1024 if sys.platform == "darwin" else maxrss
    return round(kb / 1024, 1)


class PeakRSS:
    """The peak resident memory of this process over a block: Linux lets a process reset its
    high-water mark (`/proc/self/clear_refs`), so each block's peak is its own."""

    def __enter__(self) -> PeakRSS:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False
        self.start_mb = rss_mb() or peak_rss_mb()
        self.peak_mb: float | None = None
        return self

    def __exit__(self, *exc) -> None:
        self.peak_mb = peak_rss_mb()

    @property
    def growth_mb(self) -> float | None:
        return round(self.peak_mb - self.start_mb, 1) if self.reset and self.peak_mb is not None else None


# --- Processes -------------------------------------------------------------------------------------------


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


def read_result(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise RuntimeError("the child process printed no result")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def worker_peaks_mb(self) -> list[float]:
        return [peak_rss_mb(pid) for pid in child_pids(self.process.pid)]


# --- Load generation -------------------------------------------------------------------------------------

_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _WRK_UNITS[unit]


def wrk_load(url: str, *, duration: float, connections: int) -> dict:
    """wrk for `duration` seconds (whole seconds, at least 1), one thread, on loopback."""
    seconds = max(1, round(duration))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        "Accept-Encoding: gzip",
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    found = {
        "seconds": _wrk_ms(re.search(r"requests in ([\d.]+(?:us|ms|s|m)),", out).group(1)) / 1000,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": sum(map(int, m.groups()))
        if (m := re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out))
        else 0,
        "generator": "wrk",
    }
    for q in ("50", "90", "99"):
        if m := re.search(rf"^\s+{q}%\s+([\d.]+(?:us|ms|s|m))$", out, re.MULTILINE):
            found[f"p{q}_ms"] = round(_wrk_ms(m.group(1)), 3)
    return found


def python_load(url: str, *, duration: float, connections: int, max_requests: int = 2_000_000) -> dict:
    """A small asyncio + httpx load generator (when wrk is not installed): `connections` clients in
    a loop for `duration` seconds (and at most `max_requests` requests)."""
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def client_loop(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) < max_requests:
            started = time.perf_counter()
            try:
                response = await client.get(url)
                await response.aread()
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async def main() -> float:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        headers = {"Accept-Encoding": "gzip"}
        async with httpx.AsyncClient(limits=limits, headers=headers, timeout=10) as client:
            started = time.perf_counter()
            deadline = started + duration
            await asyncio.gather(*(client_loop(client, deadline) for _ in range(connections)))
            return time.perf_counter() - started

    elapsed = asyncio.run(main())
    return {
        "seconds": elapsed,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "requests": len(latencies),
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 400),
        "socket_errors": errors,
        "p50_ms": percentile(latencies, 0.5),
        "p90_ms": percentile(latencies, 0.9),
        "p99_ms": percentile(latencies, 0.99),
        "generator": "python (asyncio + httpx)",
    }


# --- psql: the COPY ceilings -----------------------------------------------------------------------------


def psql_command() -> list[str] | None:
    from django.db import connection

    if connection.vendor != "postgresql" or not shutil.which("psql"):
        return None
    s = connection.settings_dict
    command = ["psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", s["NAME"]]
    if s.get("HOST"):
        command += ["-h", s["HOST"]]
    if s.get("PORT"):
        command += ["-p", str(s["PORT"])]
    if s.get("USER"):
        command += ["-U", s["USER"]]
    return command


def psql(script: str, *, tmp: Path, timeout: float = 1800) -> str:
    from django.db import connection

    command = psql_command()
    if command is None:
        raise RuntimeError("psql is not available")
    path = tmp / "script.sql"
    path.write_text(script)
    env = {**os.environ}
    if connection.settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = connection.settings_dict["PASSWORD"]
    done = subprocess.run(
        [*command, "-f", str(path)], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if done.returncode:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout


def _timed_ms(output: str) -> float:
    return float(re.search(r"^Time: ([\d.]+) ms", output, re.MULTILINE).group(1))


def copy_in_ceiling(*, path: Path, tmp: Path) -> float:
    """Seconds psql's \\copy takes to load the CSV file into a scratch table shaped like the
    snapshot table (LIKE ... INCLUDING ALL: same columns, defaults, indexes)."""
    output = psql(
        "DROP TABLE IF EXISTS bench_copy_ceiling;\n"
        "CREATE TABLE bench_copy_ceiling (LIKE snapshots_snapshot INCLUDING ALL);\n"
        "\\timing on\n"
        f"\\copy bench_copy_ceiling ({', '.join(COPY_COLUMNS)}) FROM '{path}' WITH (FORMAT csv)\n"
        "\\timing off\n"
        "DROP TABLE bench_copy_ceiling;\n",
        tmp=tmp,
    )
    return _timed_ms(output) / 1000


def copy_out_ceiling(*, sql: str, tmp: Path, to: str = "/dev/null") -> tuple[float, int]:
    """(seconds, rows) psql's \\copy takes to write a query's rows as CSV."""
    sql = " ".join(sql.split())
    output = psql(f"\\timing on\n\\copy ({sql}) TO '{to}' WITH (FORMAT csv)\n", tmp=tmp)
    rows = psql_rows(output)
    return _timed_ms(output) / 1000, rows


def psql_rows(output: str) -> int:
    found = re.search(r"^COPY (\d+)", output, re.MULTILINE)
    return int(found.group(1)) if found else -1


# --- Reads shared by the sections ------------------------------------------------------------------------


@dataclass
class Endpoint:
    name: str
    path: str


def overall_rps(runs: list[dict]) -> float:
    """Requests per second over several load runs together."""
    return sum(r["requests"] for r in runs) / sum(r["seconds"] for r in runs)


def redis_traffic(request: Callable[[], object]) -> dict | None:
    """Redis round trips and commands `request` makes through the process's Redis connections (None
    without Redis)."""
    from socialmetrics import redis_policy

    if not redis_policy.enabled():
        return None
    counts = {"round_trips": 0, "commands": 0}
    connection = redis_policy.Connection
    send, one, many = connection.send_packed_command, connection.send_command, connection.pack_commands

    def counted_send(self, command, *args, **kwargs):  # every round trip: a command or a pipeline
        counts["round_trips"] += 1
        return send(self, command, *args, **kwargs)

    def counted_one(self, *args, **kwargs):
        counts["commands"] += 1
        return one(self, *args, **kwargs)

    def counted_many(self, commands):
        counts["commands"] += len(commands)
        return many(self, commands)

    connection.send_packed_command, connection.send_command = counted_send, counted_one
    connection.pack_commands = counted_many
    try:
        request()
    finally:
        connection.send_packed_command, connection.send_command, connection.pack_commands = send, one, many
    return counts


def _server_timing(response) -> tuple[int | None, float | None]:
    header = response.headers.get("Server-Timing", "")
    found = re.search(r'db;desc="(\d+) queries";dur=([\d.]+)', header)
    return (int(found.group(1)), float(found.group(2))) if found else (None, None)


def observe(get: Callable[[str], object], account: dict) -> dict[str, tuple]:
    """What every read endpoint says now about one account: (date, followers) of its latest row,
    and for the history, what it holds on the reserved day."""
    p, h, day = account["platform"], account["handle"], FRESH_DATE.isoformat()
    seen: dict[str, tuple] = {}
    history = get(f"/api/history/{p}/{h}?from={day}&to={day}")
    seen["history"] = (history["dates"][0], history["followers"][0]) if history["dates"] else (None, None)
    summary = get(f"/api/summary?{urlencode({'platform': p, 'organization': account['org'] or ''})}")
    row = next((r for r in summary if r["handle"] == h), None)
    seen["summary"] = (row["date"], row["followers"]) if row else (None, None)
    accounts = get(f"/api/accounts?search={quote(h)}")
    row = next((r for r in accounts["data"] if r["handle"] == h), None)
    latest = (row or {}).get("latest") or {}
    seen["accounts"] = (latest.get("date"), latest.get("followers"))
    grid = get(f"/api/grid?handle={quote(h)}&per_page=1")
    seen["grid"] = (grid["data"][0][3], grid["data"][0][4]) if grid["data"] else (None, None)
    return seen


def freshness_writer(spec: dict, get: Callable[[str], object]) -> dict:
    """Write through the services, then read back at once: every read must show the write.

    Four writes in five upsert a new follower count on the reserved day (so it becomes the
    account's latest); the fifth deletes that day again (so the previous latest is back)."""
    from snapshots.models import Snapshot
    from snapshots.services import SnapshotRow, snapshot_delete_many, snapshot_upsert_many

    checks = stale = writes = 0
    examples: list[dict] = []
    for i in range(spec["writes"]):
        for account in spec["accounts"]:
            if i % 5 == 4:
                snapshot_delete_many(
                    snapshots=Snapshot.objects.filter(account_id=account["id"], date=FRESH_DATE)
                )
                latest = (account["date"], account["followers"])
                history = (None, None)
            else:
                value = 7_000_000 + account["id"] * 1000 + i
                snapshot_upsert_many(
                    rows=[
                        SnapshotRow(
                            account_id=account["id"], date=FRESH_DATE, followers=value, source="manual"
                        )
                    ]
                )
                latest = history = (FRESH_DATE.isoformat(), value)
            writes += 1
            for endpoint, seen in observe(get, account).items():
                expected = history if endpoint == "history" else latest
                checks += 1
                if tuple(seen) != tuple(expected):
                    stale += 1
                    if len(examples) < 10:
                        examples.append(
                            {
                                "endpoint": endpoint,
                                "handle": account["handle"],
                                "write": i,
                                "expected": expected,
                                "seen": seen,
                            }
                        )
    return {"writes": writes, "checks": checks, "stale": stale, "examples": examples}


def freshness_reader(spec: dict, get: Callable[[str], object], stop: Callable[[], bool]) -> dict:
    """Keep every cached entry the writers read warm, so a stale one would be there to be served."""
    reads = 0
    deadline = time.monotonic() + spec["max_seconds"]
    while not stop() and time.monotonic() < deadline:
        for account in spec["accounts"]:
            observe(get, account)
            reads += 4
    return {"reads": reads}


# --- Child processes ----------------------------------------------------------------------------------------


def _http_get(base_url: str):
    import httpx

    client = httpx.Client(base_url=base_url, timeout=30, headers={"Accept-Encoding": "gzip"})

    def get(path: str):
        response = client.get(path)
        response.raise_for_status()
        return response.json()

    return get


def child_collect(spec: dict) -> dict:
    from django.core.management import call_command

    from scraping.models import CollectionRun

    started = time.perf_counter()
    with contextlib.suppress(SystemExit):  # a failed run exits non-zero: its record says why
        call_command("collect_metrics", "--mode", "simulated", "--date", spec["date"], verbosity=0)
    seconds = time.perf_counter() - started
    run = CollectionRun.objects.filter(date=spec["date"]).order_by("-pk").first()
    return {
        "seconds": seconds,
        "status": run.status if run else None,
        "accounts_total": run.accounts_total if run else 0,
        "accounts_done": run.accounts_done if run else 0,
        "accounts_succeeded": run.accounts_succeeded if run else 0,
        "outcomes_recorded": run.outcomes.count() if run else 0,
        "runner_seconds": run.duration_seconds if run else None,
        "workers": (run.options or {}).get("workers") if run else None,
    }


def child_generate(spec: dict) -> dict:
    from bench.generate import generate
    from socialmetrics.dates import local_today

    return generate(accounts=spec["accounts"], days=spec["days"], end=local_today())


def child_fresh_writer(spec: dict) -> dict:
    return freshness_writer(spec, _http_get(spec["url"]))


def child_fresh_reader(spec: dict) -> dict:
    stop_file = Path(spec["stop_file"])
    return freshness_reader(spec, _http_get(spec["url"]), stop_file.exists)


CHILDREN = {
    "collect": child_collect,
    "generate": child_generate,
    "fresh-writer": child_fresh_writer,
    "fresh-reader": child_fresh_reader,
}


def child_main(name: str, spec: dict) -> int:
    configure_environment()
    import django

    django.setup()
    result = CHILDREN[name](spec)
    result["peak_rss_mb"] = peak_rss_mb()
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


# --- The benchmark --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.figures: list[Figure] = []
        self.baselines: dict[str, Baseline] = {}
        self.sections: dict[str, dict] = {}
        self.data: dict = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="socialmetrics-bench-"))
        self.processes: list[tuple[subprocess.Popen, bool]] = []

    # --- plumbing

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def raw(self, section: str) -> dict:
        return self.sections.setdefault(section, {}).setdefault("raw", {})

    def run_child(self, name: str, spec: dict, *, timeout: float) -> dict:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--spec", json.dumps(spec)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
        if done.returncode:
            raise RuntimeError(f"child {name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return read_result(done.stdout)

    def start_child(self, name: str, spec: dict) -> subprocess.Popen:
        command = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--spec", json.dumps(spec)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.processes.append((process, False))
        return process

    @contextlib.contextmanager
    def server(self, *, minimal: bool = False) -> Iterator[Server]:
        """gunicorn serving the product (plus the baseline view) on a free loopback port; or, with
        `minimal`, the minimal Django app of bench/minimal.py the same way."""
        import httpx

        port = free_port()
        log = self.tmp / f"gunicorn-{port}.log"
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
            str(self.args.workers),
            "--threads",
            str(self.args.threads),
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
        self.processes.append((process, True))
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

    def stop_all(self) -> None:
        for process, group in self.processes:
            stop_process(process, group=group, grace=5)

    # --- data set

    def describe_data(self) -> None:
        from django.db import connection
        from django.db.models import Count, Max, Min

        from accounts.models import Account
        from snapshots.api.views import encode_cursor
        from snapshots.models import Snapshot

        bench = Account.objects.filter(handle__startswith=BENCH_PREFIX)
        accounts = bench.count()
        if not accounts:
            raise SystemExit(
                "No benchmark accounts in this database: run with --generate (or bench/generate.py) first."
            )
        span = Snapshot.objects.aggregate(rows=Count("pk"), first=Min("date"), last=Max("date"))
        middle = bench.order_by("pk").values("pk", "platform", "handle")[accounts // 2]
        history_days = Snapshot.objects.filter(account_id=middle["pk"]).count()
        # The cursor of the row just before page GRID_DEEP_PAGE (the grid's default order); on a
        # small data set, the cursor after its last row (an empty page).
        in_grid_order = Snapshot.objects.order_by("-date", "account__platform", "account__handle")
        offset = min((GRID_DEEP_PAGE - 1) * GRID_PER_PAGE, span["rows"]) - 1
        before = list(
            in_grid_order.values_list(
                "account__platform", "account__handle", "account__organization__name", "date"
            )[max(0, offset) : max(0, offset) + 1]
        )
        self.data = {
            "backend": connection.vendor,
            "database": connection.settings_dict["NAME"] if connection.vendor == "postgresql" else "sqlite",
            "accounts": Account.objects.count(),
            "bench_accounts": accounts,
            "snapshots": span["rows"],
            "first_date": span["first"].isoformat() if span["first"] else None,
            "last_date": span["last"].isoformat() if span["last"] else None,
            "history_account": {**middle, "days": history_days},
            "search": middle["handle"][:-1],
            "deep_cursor": encode_cursor(before[0]) if before else "",
        }

    def endpoints(self) -> list[Endpoint]:
        account = self.data["history_account"]
        return [
            Endpoint("summary", "/api/summary"),
            Endpoint("summary totals", "/api/summary/totals"),
            Endpoint(
                "history (1 account, 1 year)", f"/api/history/{account['platform']}/{account['handle']}"
            ),
            Endpoint("grid page 1", "/api/grid?page=1"),
            Endpoint(f"grid page {GRID_DEEP_PAGE:,}", f"/api/grid?page={GRID_DEEP_PAGE}"),
            Endpoint(
                f"grid cursor at page {GRID_DEEP_PAGE:,}", f"/api/grid?cursor={self.data['deep_cursor']}"
            ),
            Endpoint("accounts page 1", "/api/accounts?page=1"),
            Endpoint("accounts search", f"/api/accounts?search={self.data['search']}"),
        ]

    def bench_accounts(self) -> list[dict]:
        from accounts.models import Account

        return list(
            Account.objects.filter(handle__startswith=BENCH_PREFIX)
            .order_by("pk")
            .values("pk", "platform", "handle", "organization__name")
        )

    def delete_snapshots(self, *conditions, **filters) -> int:
        """Delete through the write service (it keeps the latest rows and the caches right)."""
        from snapshots.models import Snapshot
        from snapshots.services import snapshot_delete_many

        queryset = Snapshot.objects.filter(*conditions, **filters)
        return snapshot_delete_many(snapshots=queryset) if queryset.exists() else 0

    def heal(self) -> None:
        """Delete what an interrupted run left on the reserved days, before anything is measured
        (a left-over day would stretch every history and the grid)."""
        from django.db.models import Q

        from scraping.models import CollectionRun

        # Every collection run in a benchmark database is the benchmark's own (the generator records
        # none): the day each one wrote goes, the daily run's next day included.
        collected = list(CollectionRun.objects.values_list("date", flat=True).distinct())
        self.delete_snapshots(Q(date__range=RESERVED_PAST) | Q(date__in=[FRESH_DATE, *collected]))
        CollectionRun.objects.all().delete()

    def vacuum(self) -> None:
        """On PostgreSQL, measure the tables as autovacuum keeps them in steady state: a freshly
        bulk-loaded table has no visibility map (no index-only scans) and earlier runs' deletes
        leave dead rows, both of which would make one run's figures depend on the last."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) snapshots_snapshot, snapshots_accountlatest, accounts_account")
        self.data["vacuum_seconds"] = round(time.perf_counter() - started, 1)

    # --- seed

    def section_seed(self) -> None:
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        spec = {"accounts": self.args.accounts, "days": self.args.days}
        result = self.run_child("generate", spec, timeout=3600)
        connection.close()  # the data set was replaced by another process
        self.raw("seed")["generate"] = result
        rows = result["snapshots"]
        ceiling = None
        if psql_command():
            path = self.tmp / "seed-copy.csv"
            columns = ", ".join(f"s.{c}" for c in COPY_COLUMNS)
            _, copied = copy_out_ceiling(
                sql=(
                    f"SELECT {columns} FROM snapshots_snapshot s JOIN accounts_account a "
                    f"ON a.id = s.account_id WHERE a.handle LIKE '{BENCH_PREFIX}%'"
                ),
                tmp=self.tmp,
                to=str(path),
            )
            seconds = copy_in_ceiling(path=path, tmp=self.tmp)
            path.unlink()
            ceiling = copied / seconds
            self.raw("seed")["copy"] = {"rows": copied, "seconds": seconds}
        self.baselines["copy_seed"] = Baseline(
            "psql COPY of the same rows",
            ceiling,
            "rows/s",
            "" if ceiling else "no psql ceiling on this backend",
        )
        overall = rows / result["seconds"] if result["seconds"] else None
        self.add(
            Figure(
                "seed",
                f"generate {self.args.accounts:,} x {self.args.days} (whole run)",
                overall,
                "snapshots/s",
                baseline="copy_seed",
                target=SEED_COPY_RATIO,
                target_on="ratio",
                peak_mb=result["peak_rss_mb"],
                detail=f"{rows:,} snapshots in {result['seconds']} s "
                f"(latest rows {result['latest_seconds']} s)",
            )
        )
        self.add(
            Figure(
                "seed",
                "generate: the snapshot write alone",
                result["rows_per_second"],
                "rows/s",
                baseline="copy_seed",
                detail=f"{result['write_seconds']} s",
            )
        )

    # --- endpoints (in-process)

    def section_endpoints(self) -> None:
        from django.test import Client

        from socialmetrics import cache as generations
        from socialmetrics.cache import API_GROUP

        client = Client(headers={"Accept-Encoding": "gzip"})
        n_uncached, n_cached = self.args.uncached, self.args.cached
        raw = self.raw("endpoints")

        def timed(path: str) -> tuple[float, object]:
            started = time.perf_counter()
            response = client.get(path)
            seconds = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {response.content[:300]!r}")
            return seconds, response

        with PeakRSS() as mem:
            timed("/bench/baseline")
            bare = [timed("/bench/baseline")[0] for _ in range(n_cached)]
        bare_p50 = percentile(bare, 0.5)
        self.baselines["bare_inprocess"] = Baseline("bare view in-process p50", bare_p50, "ms")
        raw["bare view"] = {"p50_ms": bare_p50, "p95_ms": percentile(bare, 0.95), "n": len(bare)}
        self.add(
            Figure(
                "endpoints",
                "bare baseline view",
                bare_p50,
                "ms",
                peak_mb=mem.peak_mb,
                detail=f"p95 {percentile(bare, 0.95):.2f} ms (the ratio column's reference)",
            )
        )

        account_id = self.data["history_account"]["pk"]
        groups = [*generations.DATA_GROUPS, generations.history_group(account_id), API_GROUP]

        def measure(endpoint: Endpoint) -> None:
            uncached, queries, db_ms, states = [], [], [], set()
            with PeakRSS() as mem:
                for _ in range(n_uncached):
                    generations.bump(groups)  # what any write does: every cached read rebuilds
                    seconds, response = timed(endpoint.path)
                    uncached.append(seconds)
                    count, db = _server_timing(response)
                    queries.append(count)
                    db_ms.append(db)
                    states.add(response.headers.get("X-Cache"))
                size = len(response.content)
                timed(endpoint.path)
                cached, cached_states = [], set()
                for _ in range(n_cached):
                    seconds, response = timed(endpoint.path)
                    cached.append(seconds)
                    cached_states.add(response.headers.get("X-Cache"))
            traffic = redis_traffic(lambda: timed(endpoint.path))
            if states != {"MISS"} or cached_states != {"HIT"}:
                raise RuntimeError(
                    f"X-Cache uncached {states}, cached {cached_states} "
                    "(did another process write to this database during the run?)"
                )
            entry = {
                "path": endpoint.path,
                "uncached": {
                    "p50_ms": percentile(uncached, 0.5),
                    "p95_ms": percentile(uncached, 0.95),
                    "min_ms": min(uncached),
                    "n": len(uncached),
                },
                "cached": {
                    "p50_ms": percentile(cached, 0.5),
                    "p95_ms": percentile(cached, 0.95),
                    "min_ms": min(cached),
                    "n": len(cached),
                },
                "queries": max(q for q in queries if q is not None) if any(queries) else None,
                "db_p50_ms": percentile([d for d in db_ms if d is not None], 0.5),
                "body_bytes_gzip": size,
                "peak_rss_mb": mem.peak_mb,
                "cached_redis": traffic,
            }
            raw[endpoint.name] = entry
            self.add(
                Figure(
                    "endpoints",
                    f"{endpoint.name}: uncached p50",
                    entry["uncached"]["p50_ms"],
                    "ms",
                    baseline="bare_inprocess",
                    target=UNCACHED_P50_MS.get(endpoint.name),
                    target_kind="max",
                    peak_mb=mem.peak_mb,
                    detail=f"p95 {entry['uncached']['p95_ms']:.1f}, "
                    f"min {entry['uncached']['min_ms']:.1f} ms; {entry['queries']} queries, "
                    f"db p50 {entry['db_p50_ms'] or 0:.1f} ms; {size:,} B gzip",
                )
            )
            self.add(
                Figure(
                    "endpoints",
                    f"{endpoint.name}: cached p50",
                    entry["cached"]["p50_ms"],
                    "ms",
                    baseline="bare_inprocess",
                    detail=f"p95 {entry['cached']['p95_ms']:.2f} ms; "
                    + (
                        f"Redis: {traffic['round_trips']} round trip(s), {traffic['commands']} commands"
                        if traffic
                        else "no Redis"
                    ),
                )
            )

        live = redis_traffic(lambda: timed("/health/live"))
        raw["health/live"] = {"redis": live}
        if live is not None:
            self.add(
                Figure(
                    "endpoints",
                    "health/live: Redis round trips",
                    live["round_trips"],
                    "round trips",
                    detail=f"{live['commands']} commands",
                )
            )
        errors = []
        for endpoint in self.endpoints():
            try:
                measure(endpoint)
            except Exception as exc:  # the other endpoints still get their figures
                errors.append(f"{endpoint.name}: {exc}")
                raw[endpoint.name] = {"path": endpoint.path, "error": str(exc)}
        if errors:
            raise RuntimeError("; ".join(errors))

    # --- http (gunicorn under a load generator)

    def load(self, url: str, *, duration: float) -> dict:
        if self.loadgen == "wrk":
            return wrk_load(url, duration=duration, connections=self.connections)
        return python_load(url, duration=duration, connections=self.connections)

    def section_http(self) -> None:
        """Each endpoint is loaded in rounds that alternate with the bare view (bare, endpoint, bare,
        endpoint...), and its ratio is the median of the rounds' ratios: on a shared machine the
        ceiling drifts within seconds, so only figures measured side by side are compared."""
        import httpx

        raw = self.raw("http")
        rounds = max(1, self.args.rounds)
        slice_s = self.args.duration / rounds
        raw["generator"] = self.loadgen
        raw["server"] = {
            "workers": self.args.workers,
            "threads": self.args.threads,
            "connections": self.connections,
            "duration_s": self.args.duration,
            "rounds": rounds,
        }
        bare_url = "/bench/baseline"
        results: dict[str, dict] = {}
        bare_runs: list[dict] = []
        minimal_runs: list[dict] = []
        endpoints = [*self.endpoints(), Endpoint("health/live (not cached)", "/health/live")]
        with self.server() as server, self.server(minimal=True) as minimal:
            for endpoint in endpoints:
                url = f"{server.url}{endpoint.path}"
                cached = endpoint.path.startswith("/api/")
                with httpx.Client(headers={"Accept-Encoding": "gzip"}, timeout=60) as client:
                    for _ in range(2 * self.args.workers):  # every worker builds or reads it once
                        warm = client.get(url)
                    if warm.status_code != 200 or (cached and warm.headers.get("X-Cache") != "HIT"):
                        raise RuntimeError(f"{endpoint.name}: warm-up {warm.status_code} {warm.headers}")
                runs, bares, minimals = [], [], []
                for _ in range(rounds):
                    minimals.append(self.load(f"{minimal.url}/bench/minimal", duration=slice_s))
                    bares.append(self.load(f"{server.url}{bare_url}", duration=slice_s))
                    runs.append(self.load(url, duration=slice_s))
                bare_runs += bares
                minimal_runs += minimals
                results[endpoint.name] = {
                    "rps": overall_rps(runs),
                    "bare_rps": overall_rps(bares),
                    "minimal_rps": overall_rps(minimals),
                    "ratio": statistics.median(
                        r["rps"] / b["rps"] for r, b in zip(runs, bares, strict=True) if b["rps"]
                    ),
                    "minimal_ratio": statistics.median(
                        r["rps"] / m["rps"] for r, m in zip(runs, minimals, strict=True) if m["rps"]
                    ),
                    "p50_ms": statistics.median(r.get("p50_ms") or 0 for r in runs),
                    "p99_ms": max(r.get("p99_ms") or 0 for r in runs),
                    "rounds": runs,
                    "bare_rounds": bares,
                    "minimal_rounds": minimals,
                }
            download = self.http_download(server) if self.args.http_download else None
            peaks = server.worker_peaks_mb()
        for result in [*bare_runs, *minimal_runs, *(r for e in results.values() for r in e["rounds"])]:
            if result["non_2xx"] or result["socket_errors"]:
                raise RuntimeError(f"{result['non_2xx']} non-2xx, {result['socket_errors']} socket errors")
        rates = [b["rps"] for b in bare_runs]
        mean = overall_rps(bare_runs)
        self.baselines["bare_http"] = Baseline(
            "bare view req/s through gunicorn",
            mean,
            "req/s",
            f"{len(rates)} runs alternating with the endpoints' runs",
        )
        minimal_mean = overall_rps(minimal_runs)
        self.baselines["minimal_http"] = Baseline(
            "minimal Django view (no middleware, one view) req/s through gunicorn",
            minimal_mean,
            "req/s",
            f"{len(minimal_runs)} runs alternating with the endpoints' runs",
        )
        raw.update({"endpoints": results, "download": download, "worker_peak_rss_mb": peaks})
        peak = max(peaks) if peaks else None
        self.add(
            Figure(
                "http",
                "minimal Django view",
                minimal_mean,
                "req/s",
                detail=f"{len(minimal_runs)} runs: {min(m['rps'] for m in minimal_runs):,.0f}"
                f"..{max(m['rps'] for m in minimal_runs):,.0f} req/s",
            )
        )
        self.add(
            Figure(
                "http",
                "bare baseline view",
                mean,
                "req/s",
                peak_mb=peak,
                detail=f"{len(rates)} runs: {min(rates):,.0f}..{max(rates):,.0f} req/s; "
                f"p50 {statistics.median(b.get('p50_ms') or 0 for b in bare_runs):.2f} ms",
            )
        )
        for name, result in results.items():
            cached = not name.startswith("health")
            self.add(
                Figure(
                    "http",
                    f"{name}: cached" if cached else name,
                    result["rps"],
                    "req/s",
                    baseline="bare_http",
                    ratio=result["ratio"],
                    target=CACHED_RPS_RATIO if cached else None,
                    target_on="ratio",
                    peak_mb=peak,
                    detail=f"bare view in its rounds {result['bare_rps']:,.0f} req/s; "
                    f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.1f} ms",
                )
            )
            self.add(
                Figure(
                    "http",
                    f"{name}: x minimal Django view",
                    result["rps"],
                    "req/s",
                    baseline="minimal_http",
                    ratio=result["minimal_ratio"],
                    detail=f"minimal view in its rounds {result['minimal_rps']:,.0f} req/s",
                )
            )
        if download is not None:
            self.add(
                Figure(
                    "http",
                    "download over HTTP (1 stream)",
                    download["rows_per_s"],
                    "rows/s",
                    baseline="copy_out",
                    peak_mb=peak,
                    detail=f"{download['rows']:,} rows, {download['bytes'] / 1e6:,.0f} MB "
                    f"in {download['seconds']:.1f} s",
                )
            )

    def http_download(self, server: Server) -> dict:
        import httpx

        started = time.perf_counter()
        lines = size = 0
        headers = {"Accept-Encoding": "identity"}
        with httpx.stream("GET", f"{server.url}/api/download", headers=headers, timeout=600) as response:
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 16):
                lines += chunk.count(b"\n")
                size += len(chunk)
        seconds = time.perf_counter() - started
        rows = max(0, lines - 1)
        return {
            "rows": rows,
            "bytes": size,
            "seconds": seconds,
            "rows_per_s": rows / seconds if seconds else None,
        }

    # --- export (in-process)

    def section_export(self) -> None:
        from django.db import connection
        from django.test import Client

        from snapshots.selectors import GRID_COLUMNS, grid_queryset

        raw = self.raw("export")
        client = Client()
        expected = self.data["snapshots"]
        step = max(1, expected // 10)
        samples: list[tuple[int, float | None]] = []
        with PeakRSS() as mem:
            started = time.perf_counter()
            response = client.get("/api/download")
            if response.status_code != 200:
                raise RuntimeError(f"/api/download answered {response.status_code}")
            lines, first_row, next_sample = 0, None, step
            for chunk in response.streaming_content:
                lines += chunk.count(b"\n")
                if first_row is None and lines >= 2:
                    first_row = time.perf_counter() - started
                if lines >= next_sample:
                    samples.append((lines, rss_mb()))
                    next_sample += step
            seconds = time.perf_counter() - started
            response.close()
        rows = max(0, lines - 1)
        if rows != expected:
            raise RuntimeError(
                f"the export has {rows:,} rows; the table had {expected:,} "
                "(did another process write to this database during the run?)"
            )
        raw.update(
            {
                "rows": rows,
                "seconds": seconds,
                "first_row_s": first_row,
                "rss_samples_mb": samples,
                "rss_start_mb": mem.start_mb,
                "peak_rss_mb": mem.peak_mb,
                "growth_mb": mem.growth_mb,
            }
        )

        ceiling = None
        if psql_command():
            compiler = grid_queryset().values_list(*GRID_COLUMNS).query.get_compiler(connection=connection)
            sql, params = compiler.as_sql()
            copy_seconds, copied = copy_out_ceiling(sql=connection.ops.compose_sql(sql, params), tmp=self.tmp)
            ceiling = copied / copy_seconds
            raw["copy"] = {"rows": copied, "seconds": copy_seconds}
        self.baselines["copy_out"] = Baseline(
            "psql COPY (grid query) TO, CSV",
            ceiling,
            "rows/s",
            "" if ceiling else "no psql ceiling on this backend",
        )
        self.add(
            Figure(
                "export",
                f"CSV download of {rows:,} rows (in-process)",
                rows / seconds,
                "rows/s",
                baseline="copy_out",
                target=EXPORT_ROWS_PER_S,
                peak_mb=mem.peak_mb,
                detail=f"{seconds:.1f} s; first row after {(first_row or 0) * 1000:.0f} ms",
            )
        )
        self.add(
            Figure(
                "export",
                "download: time to its first row",
                (first_row or 0) * 1000,
                "ms",
                baseline="bare_inprocess",
                detail="the download is streamed, never cached",
            )
        )
        growth = mem.growth_mb
        rss = [mb for _, mb in samples if mb is not None]
        self.add(
            Figure(
                "export",
                "memory: peak RSS growth over the export",
                growth,
                "MB",
                target=EXPORT_MAX_GROWTH_MB,
                target_kind="max",
                peak_mb=mem.peak_mb,
                detail=(f"RSS {min(rss):.0f}..{max(rss):.0f} MB over the 10 samples" if rss else ""),
            )
        )

    # --- import

    def section_import(self) -> None:
        from accounts.platforms import InvalidProfileURL, parse_profile_url
        from snapshots.csv_import import csv_import

        raw = self.raw("import")
        accounts, refused = [], 0
        for account in self.bench_accounts():
            # Only handles the importer reads back as themselves: bench/generate.py gives Bluesky and
            # Mastodon accounts bare handles ("bench00005") that those platforms' rules refuse.
            try:
                same = parse_profile_url(platform=account["platform"], url=account["handle"]).handle
            except InvalidProfileURL:
                same = None
            if same is not None and same.lower() == account["handle"].lower():
                accounts.append(account)
            else:
                refused += 1
        raw["accounts"] = len(accounts)
        raw["accounts_left_out"] = refused
        days = [IMPORT_FIRST_DATE + dt.timedelta(days=n) for n in range(self.args.import_days)]
        self.delete_snapshots(account__handle__startswith=BENCH_PREFIX, date__range=RESERVED_PAST)
        product, copy_file = self.tmp / "import.csv", self.tmp / "import-copy.csv"
        now = dt.datetime.now(dt.UTC).isoformat()
        rows = 0
        with product.open("w", newline="") as a, copy_file.open("w", newline="") as b:
            mine, theirs = csv.writer(a), csv.writer(b)
            mine.writerow(
                [
                    "Platform",
                    "Handle",
                    "Date",
                    "Followers",
                    "Following",
                    "Posts",
                    "Likes",
                    "Comments",
                    "Shares",
                    "Views",
                ]
            )
            for index, account in enumerate(accounts):
                base = 1000 + (index * 7919) % 2_000_000
                for n, day in enumerate(days):
                    values = [
                        base + n * 13,
                        100 + index % 900,
                        500 + n,
                        40 + n,
                        4 + n % 3,
                        2 + n % 5,
                        900 + n * 11,
                    ]
                    mine.writerow([account["platform"], account["handle"], day.isoformat(), *values])
                    theirs.writerow([account["pk"], day.isoformat(), *values, "csv", "exact", now])
                    rows += 1
        raw["rows"] = rows
        raw["file_mb"] = round(product.stat().st_size / 1e6, 1)

        ceiling = None
        if psql_command():
            seconds = copy_in_ceiling(path=copy_file, tmp=self.tmp)
            ceiling = rows / seconds
            raw["copy"] = {"rows": rows, "seconds": seconds}
        self.baselines["copy_in"] = Baseline(
            "psql COPY of the same rows into a LIKE table",
            ceiling,
            "rows/s",
            "" if ceiling else "no psql ceiling on this backend (SQLite)",
        )
        try:
            results = []
            for label in ("new rows", "the same file again (unchanged)"):
                with PeakRSS() as mem, product.open(newline="") as lines:
                    started = time.perf_counter()
                    report = csv_import(lines=lines)
                    seconds = time.perf_counter() - started
                done = report.created + report.updated + report.unchanged
                if report.skipped or done != rows:
                    raise RuntimeError(f"import of {rows} rows: {report.message} {report.errors[:3]}")
                results.append(
                    {
                        "label": label,
                        "seconds": seconds,
                        "created": report.created,
                        "updated": report.updated,
                        "unchanged": report.unchanged,
                        "peak_rss_mb": mem.peak_mb,
                    }
                )
                self.add(
                    Figure(
                        "import",
                        f"CSV import, {label}",
                        rows / seconds,
                        "rows/s",
                        baseline="copy_in",
                        target=IMPORT_ROWS_PER_S if label == "new rows" else None,
                        peak_mb=mem.peak_mb,
                        detail=f"{rows:,} rows ({len(accounts):,} accounts x {len(days)} days) "
                        f"in {seconds:.1f} s"
                        + (
                            f"; {refused:,} accounts with handles the importer refuses left out"
                            if refused
                            else ""
                        ),
                    )
                )
            raw["runs"] = results
        finally:
            self.delete_snapshots(account__handle__startswith=BENCH_PREFIX, date__range=RESERVED_PAST)

    # --- collect

    def section_collect(self) -> None:
        raw = self.raw("collect")
        # The daily run: the day after the data set's newest, so it becomes every account's latest
        # and the maintained latest rows and growth are refreshed, as by the cron run each morning.
        next_day = dt.date.fromisoformat(self.data["last_date"]) + dt.timedelta(days=1)
        for date, what, target in (
            (next_day, "the next day (daily run)", COLLECT_ACCOUNTS_PER_S),
            (COLLECT_PAST_DATE, "a past day", None),
        ):
            result, ceiling = self.collect_once(date)
            raw[date.isoformat()] = result
            baseline = f"copy_collect_{date.isoformat()}"
            self.baselines[baseline] = Baseline(
                f"psql COPY of the rows the run wrote on {date.isoformat()} (per account)",
                ceiling,
                "accounts/s",
                "" if ceiling else "no psql ceiling on this backend",
            )
            total = result["accounts_total"]
            self.add(
                Figure(
                    "collect",
                    f"collect_metrics --mode simulated, {total:,} accounts, {what}",
                    total / result["seconds"],
                    "accounts/s",
                    baseline=baseline,
                    target=target,
                    peak_mb=result["peak_rss_mb"],
                    detail=f"--date {date.isoformat()}: {result['seconds']:.2f} s "
                    f"({result['runner_seconds']} s in the runner), "
                    f"{result['outcomes_recorded']:,} outcomes recorded, {result['workers']} workers",
                )
            )

    def collect_once(self, date: dt.date) -> tuple[dict, float | None]:
        """One `collect_metrics --mode simulated --date DATE` in a subprocess, and the COPY ceiling
        of the rows it wrote; the day is deleted again (through the services) afterwards."""
        from scraping.models import CollectionRun

        def clean() -> None:
            self.delete_snapshots(date=date)
            CollectionRun.objects.filter(date=date).delete()

        clean()
        try:
            result = self.run_child("collect", {"date": date.isoformat()}, timeout=1800)
            ceiling = None
            if psql_command():  # COPY of the very rows the run wrote
                path = self.tmp / "collect-copy.csv"
                columns = ", ".join(COPY_COLUMNS)
                _, copied = copy_out_ceiling(
                    sql=f"SELECT {columns} FROM snapshots_snapshot WHERE date = '{date.isoformat()}'",
                    tmp=self.tmp,
                    to=str(path),
                )
                seconds = copy_in_ceiling(path=path, tmp=self.tmp)
                ceiling = result["accounts_total"] / seconds if seconds else None
                result["copy"] = {"rows": copied, "seconds": seconds}
        finally:
            clean()
        if result["status"] != "completed" or result["outcomes_recorded"] != result["accounts_total"]:
            raise RuntimeError(f"collection run on {date}: {result}")
        return result, ceiling

    # --- freshness

    def section_freshness(self) -> None:
        from django.conf import settings
        from django.db.models import F

        from snapshots.models import AccountLatest

        raw = self.raw("freshness")
        writers, per_writer = self.args.fresh_writers, 2
        picked = list(
            AccountLatest.objects.filter(account__handle__startswith=BENCH_PREFIX)
            .order_by("account_id")
            .values(
                "account_id",
                "date",
                "followers",
                platform=F("account__platform"),
                handle=F("account__handle"),
                org=F("account__organization__name"),
            )[: writers * per_writer]
        )
        accounts = [
            {
                "id": a["account_id"],
                "platform": a["platform"],
                "handle": a["handle"],
                "org": a["org"],
                "date": a["date"].isoformat(),
                "followers": a["followers"],
            }
            for a in picked
        ]
        if len(accounts) < writers * per_writer:
            raise RuntimeError("not enough benchmark accounts with snapshots for the freshness writers")
        self.delete_snapshots(account__handle__startswith=BENCH_PREFIX, date=FRESH_DATE)
        shares = [accounts[i * per_writer : (i + 1) * per_writer] for i in range(writers)]
        try:
            if settings.REDIS_URL:
                result = self.freshness_processes(shares, accounts)
            else:
                result = self.freshness_threads(shares, accounts)
        finally:
            self.delete_snapshots(account__handle__startswith=BENCH_PREFIX, date=FRESH_DATE)
        raw.update(result)
        self.add(
            Figure(
                "freshness",
                "stale reads right after a write",
                result["stale"],
                "reads",
                target=0,
                target_kind="max",
                peak_mb=result.get("peak_rss_mb"),
                detail=f"{result['checks']:,} reads after {result['writes']:,} writes "
                f"({result['mode']}); {result['background_reads']:,} reads by the readers meanwhile",
            )
        )

    def freshness_processes(self, shares: list[list[dict]], accounts: list[dict]) -> dict:
        """Writers and readers in separate processes, reading over HTTP from gunicorn's workers."""
        stop_file = self.tmp / "fresh-stop"
        stop_file.unlink(missing_ok=True)
        with self.server() as server:
            readers = [
                self.start_child(
                    "fresh-reader",
                    {
                        "url": server.url,
                        "accounts": accounts,
                        "stop_file": str(stop_file),
                        "max_seconds": 600,
                    },
                )
                for _ in range(self.args.fresh_readers)
            ]
            time.sleep(0.5)
            writers = [
                self.start_child(
                    "fresh-writer", {"url": server.url, "accounts": share, "writes": self.args.fresh_writes}
                )
                for share in shares
            ]
            results = []
            try:
                for process in writers:
                    out, err = process.communicate(timeout=900)
                    if process.returncode:
                        raise RuntimeError(f"freshness writer failed: {err.strip()[-2000:]}")
                    results.append(read_result(out))
            finally:
                stop_file.touch()
            background = []
            for process in readers:
                out, err = process.communicate(timeout=120)
                if process.returncode:
                    raise RuntimeError(f"freshness reader failed: {err.strip()[-2000:]}")
                background.append(read_result(out))
            peaks = server.worker_peaks_mb()
        return {
            "mode": f"{len(writers)} writer and {len(readers)} reader processes over HTTP, "
            f"{self.args.workers} gunicorn workers",
            "writes": sum(r["writes"] for r in results),
            "checks": sum(r["checks"] for r in results),
            "stale": sum(r["stale"] for r in results),
            "examples": [e for r in results for e in r["examples"]][:10],
            "background_reads": sum(r["reads"] for r in background),
            "peak_rss_mb": max([r["peak_rss_mb"] for r in results + background] + peaks),
        }

    def freshness_threads(self, shares: list[list[dict]], accounts: list[dict]) -> dict:
        """The embedded default caches in each process's memory, so one process's write cannot
        reach another's cache: writers and readers are threads of this process instead."""
        from django.db import connection
        from django.test import Client

        def client_get():
            client = Client()

            def get(path: str):
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: {response.status_code}")
                return response.json()

            return get

        stop = threading.Event()
        results: list[dict] = []
        background: list[dict] = []
        errors: list[BaseException] = []

        def run(target, *arguments) -> None:
            try:
                (results if target is freshness_writer else background).append(target(*arguments))
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        with PeakRSS() as mem:
            threads = [
                threading.Thread(
                    target=run,
                    args=(
                        freshness_reader,
                        {"accounts": accounts, "max_seconds": 600},
                        client_get(),
                        stop.is_set,
                    ),
                )
                for _ in range(self.args.fresh_readers)
            ]
            threads += [
                threading.Thread(
                    target=run,
                    args=(freshness_writer, {"accounts": s, "writes": self.args.fresh_writes}, client_get()),
                )
                for s in shares
            ]
            for thread in threads:
                thread.start()
            for thread in threads[self.args.fresh_readers :]:
                thread.join(timeout=900)
            stop.set()
            for thread in threads[: self.args.fresh_readers]:
                thread.join(timeout=120)
        if errors:
            raise errors[0]
        return {
            "mode": f"{len(shares)} writer and {self.args.fresh_readers} reader threads in-process "
            "(local-memory cache is per process)",
            "writes": sum(r["writes"] for r in results),
            "checks": sum(r["checks"] for r in results),
            "stale": sum(r["stale"] for r in results),
            "examples": [e for r in results for e in r["examples"]][:10],
            "background_reads": sum(r["reads"] for r in background),
            "peak_rss_mb": mem.peak_mb,
        }

    # --- the run

    def run(self) -> int:
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        started = time.time()
        load_before = [round(x, 2) for x in os.getloadavg()]
        selected = self.selected()
        self.loadgen = self.args.loadgen
        if self.loadgen == "auto":
            self.loadgen = "wrk" if shutil.which("wrk") else "python"
        self.connections = self.args.connections or self.args.workers * self.args.threads
        if "seed" in selected:
            self.run_section("seed", self.section_seed)
        self.heal()
        self.vacuum()
        vacuumed = self.data.get("vacuum_seconds")
        self.describe_data()
        if vacuumed is not None:
            self.data["vacuum_seconds"] = vacuumed
        for name in selected:
            if name != "seed":
                self.run_section(name, getattr(self, f"section_{name}"))
        from snapshots.models import Snapshot

        after = Snapshot.objects.count()
        if after != self.data["snapshots"]:
            self.data["snapshots_at_the_end"] = after
        for figure in self.figures:
            base = self.baselines.get(figure.baseline)
            if figure.ratio is None and base is not None and base.value and figure.value is not None:
                figure.ratio = figure.value / base.value
        server_version = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                server_version = cursor.fetchone()[0]
        meta = {
            "started_at": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds"),
            "seconds": round(time.time() - started, 1),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "python": platform.python_version(),
            "django": django.get_version(),
            "database": f"{connection.vendor} {server_version or ''}".strip(),
            "cache": "redis" if settings.REDIS_URL else "local memory",
            "cpus": os.cpu_count(),
            "load_average": {"start": load_before, "end": [round(x, 2) for x in os.getloadavg()]},
            "git": _git_revision(),
            "data": self.data,
            "load_generator": self.loadgen if "http" in selected else None,
        }
        self.print_table(meta)
        if self.args.json:
            path = Path(self.args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            document = {
                "meta": meta,
                "baselines": {k: asdict(v) for k, v in self.baselines.items()},
                "figures": [{**asdict(f), "result": f.result} for f in self.figures],
                "sections": self.sections,
            }
            path.write_text(json.dumps(document, indent=2, default=str) + "\n")
            print(f"\nJSON written to {path}")
        failed = [name for name, entry in self.sections.items() if entry.get("error")]
        if failed:
            print(f"\nSections that failed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0

    def selected(self) -> list[str]:
        if self.args.only:
            names = [n.strip() for n in self.args.only.split(",") if n.strip()]
            unknown = set(names) - set(SECTIONS)
            if unknown:
                raise SystemExit(
                    f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}"
                )
            if "seed" in names and not self.args.generate:
                raise SystemExit("the seed section rewrites the data set: it needs --generate")
        else:
            names = list(SECTIONS)
        if self.args.generate and "seed" not in names:
            names.insert(0, "seed")
        if not self.args.generate:
            names = [n for n in names if n != "seed"]
        return [n for n in SECTIONS if n in names]

    def run_section(self, name: str, function: Callable[[], None]) -> None:
        print(f"--- {name}", flush=True)
        started = time.perf_counter()
        entry = self.sections.setdefault(name, {})
        try:
            function()
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        entry["seconds"] = round(time.perf_counter() - started, 1)
        print(
            f"    {entry['seconds']} s" + (f"  ERROR {entry['error']}" if entry.get("error") else ""),
            flush=True,
        )

    def print_table(self, meta: dict) -> None:
        d = meta["data"]
        print()
        print(
            f"socialmetrics benchmark, {meta['started_at']}: {meta['database']} + {meta['cache']}, "
            f"{meta['cpus']} CPUs, Python {meta['python']}, Django {meta['django']}, git {meta['git'] or '?'}"
        )
        load = meta["load_average"]
        print(f"load average (1, 5, 15 min): {load['start']} at the start, {load['end']} at the end")
        print(
            f"data: {d.get('bench_accounts', 0):,} bench accounts, {d.get('snapshots', 0):,} snapshots "
            f"({d.get('first_date')} .. {d.get('last_date')}); "
            f"load generator: {meta['load_generator'] or '-'}"
            + (f"; VACUUM (ANALYZE) first: {d['vacuum_seconds']} s" if "vacuum_seconds" in d else "")
        )
        if "snapshots_at_the_end" in d:
            print(
                f"WARNING: the table held {d['snapshots']:,} snapshots at the start and "
                f"{d['snapshots_at_the_end']:,} at the end: another process wrote to this database "
                "during the run, so these figures are not of the data set named above."
            )
        for key, base in self.baselines.items():
            print(
                f"baseline {key}: {base.name} = {fmt(base.value, base.unit)}"
                + (f" ({base.detail})" if base.detail else "")
            )
        header = ("section", "figure", "value", "x baseline", "target", "result", "peak RSS", "detail")
        rows = []
        for f in self.figures:
            if f.ratio is None:
                ratio = "n/a" if f.baseline else ""
            else:
                ratio = f"{f.ratio:.2f}x" if f.ratio < 10 else f"{f.ratio:.0f}x"
            target = ""
            if f.target is not None:
                sign = "<=" if f.target_kind == "max" else ">="
                target = (
                    f"{sign} {f.target}x bare"
                    if f.target_on == "ratio"
                    else f"{sign} {fmt(f.target, f.unit)}"
                )
                if f.target_on == "ratio" and f.baseline.startswith("copy"):
                    target = f"{sign} {f.target}x COPY"
            rows.append(
                (
                    f.section,
                    f.name,
                    fmt(f.value, f.unit),
                    ratio,
                    target,
                    f.result,
                    fmt(f.peak_mb, "MB") if f.peak_mb else "",
                    f.detail,
                )
            )
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
        print()
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  " + header[-1])
        print("  ".join("-" * w for w in widths) + "  " + "-" * 6)
        for row in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
        for name, entry in self.sections.items():
            if entry.get("error"):
                print(f"{name}: ERROR {entry['error']}")
        misses = [f"{f.section}/{f.name}" for f in self.figures if f.result == "MISS"]
        passes = sum(1 for f in self.figures if f.result == "PASS")
        print(f"\ntargets: {passes} PASS, {len(misses)} MISS" + (f" ({'; '.join(misses)})" if misses else ""))


def _git_revision() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
            return done.stdout.strip() + ("+changes" if dirty else "")
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark socialmetrics on the backend DATABASE_URL / REDIS_URL name.",
        epilog=f"Sections: {', '.join(SECTIONS)} (seed only with --generate).",
    )
    parser.add_argument(
        "--generate",
        action="store_true",
        help="Rewrite the benchmark data set first (bench/generate.py) and measure it (seed).",
    )
    parser.add_argument("--accounts", type=int, default=10_000, help="With --generate: accounts (10,000).")
    parser.add_argument("--days", type=int, default=365, help="With --generate: days per account (365).")
    parser.add_argument("--only", default="", help="Comma-separated sections to run (default: all).")
    parser.add_argument(
        "--json", default="bench/results/latest.json", help="Where to write the JSON ('' for nowhere)."
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="Seconds of load per HTTP endpoint, and as many of the bare view (10).",
    )
    parser.add_argument("--uncached", type=int, default=30, help="Uncached calls per endpoint (30).")
    parser.add_argument("--cached", type=int, default=200, help="Cached calls per endpoint (200).")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2).")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (4).")
    parser.add_argument(
        "--connections", type=int, default=0, help="Load generator connections (workers x threads)."
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk when installed (auto), or the built-in asyncio client.",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=10,
        help="HTTP: rounds of bare view then endpoint, splitting --duration (10: 1 s each with wrk).",
    )
    parser.add_argument(
        "--http-download",
        action="store_true",
        help="Also stream the whole CSV download once through gunicorn (minutes on 3.65 M rows).",
    )
    parser.add_argument(
        "--import-days", type=int, default=20, help="Days of new rows per account to import (20)."
    )
    parser.add_argument("--fresh-writers", type=int, default=3, help="Freshness writer processes (3).")
    parser.add_argument("--fresh-readers", type=int, default=2, help="Freshness reader processes (2).")
    parser.add_argument("--fresh-writes", type=int, default=25, help="Writes per account per writer (25).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args.child, json.loads(args.spec))
    configure_environment()
    bench = Bench(args)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        return bench.run()
    finally:
        bench.stop_all()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

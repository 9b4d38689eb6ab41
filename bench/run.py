"""Benchmark socialmetrics on a chosen backend: one command prints a table and writes a JSON file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialmetrics_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python bench/run.py [--generate] [--accounts N --days D] [--only SECTION,...] \\
            [--json bench/results/latest.json] [--duration 10]

The backend is whatever DATABASE_URL / REDIS_URL say (the embedded SQLite + local memory when they
are unset). Sections, in this order (`--only` picks some), each in its module of bench/sections/:

  seed       only with --generate, which rewrites the benchmark data set first: bench/generate.py's
             snapshots/s against psql COPY of the same rows
  endpoints  every read endpoint in-process (django.test.Client, the full middleware stack):
             p50/p95 uncached (the cache generations bumped before each call, as a write does) and
             cached; the bare baseline view measured the same way
  cold       the first uncached request of a freshly started gunicorn worker to each paging
             endpoint, over HTTP (median of --cold-starts starts)
  http       requests/s of every cached read endpoint through gunicorn under wrk (or a small asyncio
             client) on 127.0.0.1, against the bare baseline view and the minimal Django view in
             alternating rounds; with --http-download, the whole CSV download once over HTTP
  export     /api/download streamed in-process: rows/s and memory, against psql COPY TO of the same rows
  import     the CSV import service on new rows for the bench accounts (bench/sections/import_.py),
             against psql COPY FROM
  collect    `manage.py collect_metrics --mode simulated` in a subprocess: accounts/s, outcomes recorded
  freshness  writer processes write through the snapshot services and read back over HTTP at once,
             while reader processes keep every cache warm: the number of stale reads

Shared by the sections: bench/measure.py (timings, percentiles, memory, the load generators, the
psql COPY ceilings), bench/report.py (figures, baselines, the table and the JSON), bench/server.py
(gunicorn), bench/dataset.py (the data set, its endpoints, the reserved days), bench/context.py (the
run's state and its child processes). This file parses the options and runs the sections.

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
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import dataset  # noqa: E402
from bench.context import RESULT_MARK, Bench, configure_environment  # noqa: E402
from bench.measure import peak_rss_mb, percentile  # noqa: E402
from bench.report import fill_ratios, print_table, write_json  # noqa: E402
from bench.sections import SECTIONS, collect, freshness, runner, seed  # noqa: E402
from bench.server import free_port, stop_process  # noqa: E402

#: What other tools import from here (bench/load.py, bench/pages.py, tests/reliability/test_load.py).
__all__ = ["SECTIONS", "Bench", "configure_environment", "free_port", "main", "percentile", "stop_process"]

#: The work the sections hand to child processes: `bench/run.py --child NAME --spec JSON`.
CHILDREN: dict[str, Callable[[dict], dict]] = {
    "collect": collect.child_collect,
    "generate": seed.child_generate,
    "fresh-writer": freshness.child_writer,
    "fresh-reader": freshness.child_reader,
}


def child_main(name: str, spec: dict) -> int:
    configure_environment()
    import django

    django.setup()
    result = CHILDREN[name](spec)
    result["peak_rss_mb"] = peak_rss_mb()
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


def run(bench: Bench) -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    started = time.time()
    load_before = [round(x, 2) for x in os.getloadavg()]
    selected = selected_sections(bench.args)
    bench.loadgen = bench.args.loadgen
    if bench.loadgen == "auto":
        bench.loadgen = "wrk" if shutil.which("wrk") else "python"
    bench.connections = bench.args.connections or bench.args.workers * bench.args.threads
    if "seed" in selected:
        run_section(bench, "seed")
    dataset.heal()
    vacuumed = dataset.vacuum()
    bench.data = dataset.describe()
    if vacuumed is not None:
        bench.data["vacuum_seconds"] = vacuumed
    for name in selected:
        if name != "seed":
            run_section(bench, name)
    from snapshots.models import Snapshot

    after = Snapshot.objects.count()
    if after != bench.data["snapshots"]:
        bench.data["snapshots_at_the_end"] = after
    fill_ratios(bench.figures, bench.baselines)
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
        "data": bench.data,
        "load_generator": bench.loadgen if "http" in selected else None,
    }
    report = {"figures": bench.figures, "baselines": bench.baselines, "sections": bench.sections}
    print_table(meta, **report)
    if bench.args.json:
        path = Path(bench.args.json)
        write_json(path, meta, **report)
        print(f"\nJSON written to {path}")
    failed = [name for name, entry in bench.sections.items() if entry.get("error")]
    if failed:
        print(f"\nSections that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def selected_sections(args: argparse.Namespace) -> list[str]:
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = set(names) - set(SECTIONS)
        if unknown:
            raise SystemExit(
                f"unknown section(s): {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}"
            )
        if "seed" in names and not args.generate:
            raise SystemExit("the seed section rewrites the data set: it needs --generate")
    else:
        names = list(SECTIONS)
    if args.generate and "seed" not in names:
        names.insert(0, "seed")
    if not args.generate:
        names = [n for n in names if n != "seed"]
    return [n for n in SECTIONS if n in names]


def run_section(bench: Bench, name: str) -> None:
    """A section's figures, or its error (the other sections still run)."""
    print(f"--- {name}", flush=True)
    started = time.perf_counter()
    entry = bench.sections.setdefault(name, {})
    try:
        runner(name)(bench)
    except Exception as exc:
        entry["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    entry["seconds"] = round(time.perf_counter() - started, 1)
    print(
        f"    {entry['seconds']} s" + (f"  ERROR {entry['error']}" if entry.get("error") else ""),
        flush=True,
    )


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
    parser.add_argument(
        "--cold-starts", type=int, default=3, help="Fresh gunicorns per endpoint in the cold section (3)."
    )
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
        return run(bench)
    finally:
        bench.stop_all()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

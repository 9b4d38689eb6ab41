"""How many gunicorn workers and threads: the measurement behind gunicorn.conf.py's default.

Each candidate (workers x threads) serves the benchmark database through gunicorn.conf.py, as in
production, and takes three loads in turn, wrk with 16 connections (the http section's client):

  cached       a cached read (`/api/grid?page=10`): CPU in Python, one Redis round trip;
  uncached     one account's year of history, a different account per request with Redis emptied
               first: requests wait on PostgreSQL;
  beside a     the cached read again while another client streams the whole CSV download, as a
  download     user exporting does: a worker busy with a long response must not stall the rest.

Rounds alternate the candidates (A, B, C, A, B, C...) and each figure is the median of its rounds,
so a drift of the shared machine's speed touches every candidate alike. On a machine doing other
work, run it under `nice -n -10` (as root): its processes, and the PostgreSQL backends and Redis
server it talks to, then take the CPU first.

    make bench-serving        (or: .venv/bin/python bench/serving.py --rounds 3 --duration 5)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import Bench, configure_environment  # noqa: E402

CANDIDATES = ((2, 1), (2, 4), (2, 8), (3, 2), (4, 1), (4, 4))
CACHED_PATH = "/api/grid?page=10"
CONNECTIONS = 16


def wrk(url: str, *, seconds: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    command += ["-H", "Accept-Encoding: gzip"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True)
    text = out.stdout
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)$", text, re.MULTILINE)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if bad:
        raise RuntimeError(f"{url}: {bad.group(1)} responses were not 2xx")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        "p99_ms": float(p99.group(1)) * units[p99.group(2)] if p99 else None,
    }


def history_script(directory: Path) -> Path:
    """A wrk script that asks for a different account's history on each request."""
    import django

    django.setup()
    from accounts.models import Account

    paths = [f"/api/history/{p}/{h}" for p, h in Account.objects.values_list("platform", "handle")]
    lines = ",\n".join(f'  "{path}"' for path in paths)
    script = directory / "history.lua"
    script.write_text(
        f"local paths = {{\n{lines}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = (i % #paths) + 1\n"
        "  return wrk.format('GET', paths[math.random(#paths)])\n"
        "end\n"
    )
    return script


@contextlib.contextmanager
def downloading(url: str):
    """Stream the CSV download over and over in a thread until the block ends."""
    import httpx

    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=300) as client:
            while not stop.is_set():
                with client.stream("GET", f"{url}/api/download") as response:
                    for _ in response.iter_bytes(1 << 16):
                        if stop.is_set():
                            break

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def share_priority() -> None:
    """Give this process's priority to the PostgreSQL backends of the benchmark database (the
    workers' pooled connections, open by now) and to the Redis server."""
    from django.db import connection

    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness >= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [pid for (pid,) in cursor.fetchall()]
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True, check=False)
    pids += [int(pid) for pid in found.stdout.split()]
    for pid in pids:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, niceness)


def measure(bench: Bench, workers: int, threads: int, *, seconds: int, script: Path) -> dict:
    import httpx
    from django.core.cache import cache

    bench.args.workers, bench.args.threads = workers, threads
    with bench.server() as server:
        for _ in range(2 * workers):
            httpx.get(f"{server.url}{CACHED_PATH}", timeout=60)
        share_priority()
        cached = wrk(f"{server.url}{CACHED_PATH}", seconds=seconds)
        cache.clear()
        uncached = wrk(server.url, seconds=seconds, script=script)
        with downloading(server.url):
            beside = wrk(f"{server.url}{CACHED_PATH}", seconds=seconds)
        peak_mb = sum(server.worker_peaks_mb())
    return {"cached": cached, "uncached": uncached, "beside": beside, "peak_mb": peak_mb}


def parse_candidates(text: str) -> tuple[tuple[int, int], ...]:
    """ "2x4,3x2" -> ((2, 4), (3, 2))."""
    try:
        pairs = tuple(tuple(int(n) for n in item.lower().split("x")) for item in text.split(","))
    except ValueError:
        pairs = ()
    if not pairs or any(len(p) != 2 or min(p) < 1 for p in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: expected WORKERSxTHREADS[,...], e.g. 2x4,3x2")
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="Rounds over every candidate (3).")
    parser.add_argument("--duration", type=int, default=5, help="Seconds of each load (5).")
    parser.add_argument(
        "--candidates",
        type=parse_candidates,
        default=CANDIDATES,
        help="Workers x threads to compare, e.g. 2x4,3x2 (default: "
        + ",".join(f"{w}x{t}" for w, t in CANDIDATES)
        + ").",
    )
    args = parser.parse_args(argv)
    configure_environment()
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/socialmetrics_bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")
    bench = Bench(argparse.Namespace(workers=2, threads=4))
    results: dict[tuple[int, int], list[dict]] = {c: [] for c in args.candidates}
    with tempfile.TemporaryDirectory() as tmp:
        script = history_script(Path(tmp))
        try:
            for round_ in range(args.rounds):
                for workers, threads in args.candidates:
                    found = measure(bench, workers, threads, seconds=args.duration, script=script)
                    results[(workers, threads)].append(found)
                    print(f"round {round_ + 1} {workers}x{threads}: {found}", file=sys.stderr)
        finally:
            bench.stop_all()

    def median(runs: list[dict], load: str, key: str) -> float:
        return statistics.median(r[load][key] for r in runs if r[load][key] is not None)

    print(f"gunicorn workers x threads, wrk -t2 -c{CONNECTIONS}, median of {args.rounds} rounds")
    print(
        "| workers x threads | cached req/s | uncached req/s | uncached p99 ms "
        "| cached req/s beside a download | its p99 ms | workers' peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|")
    for (workers, threads), runs in results.items():
        print(
            f"| {workers} x {threads} | {median(runs, 'cached', 'rps'):,.0f} "
            f"| {median(runs, 'uncached', 'rps'):,.0f} | {median(runs, 'uncached', 'p99_ms'):,.1f} "
            f"| {median(runs, 'beside', 'rps'):,.0f} | {median(runs, 'beside', 'p99_ms'):,.1f} "
            f"| {statistics.median(r['peak_mb'] for r in runs):,.0f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

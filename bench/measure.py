"""The shared timing and baseline helpers every section measures with.

- percentiles of timings, and a process's resident memory (now, its peak, and a block's own peak);
- the HTTP load generators: wrk (Debian's package) or a small asyncio + httpx client;
- the Redis traffic of one request (round trips and commands, counted at redis-py's connection) and
  the database time a response reports in its `Server-Timing` header;
- psql `\\copy`, the ceiling of anything that moves rows (the generator, the import, the export,
  a collection): COPY of the same rows in or out, timed by psql itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

#: The snapshot columns the generator, the COPY ceilings and the import's COPY file share.
COPY_COLUMNS = (
    "account_id", "date", "followers", "following", "posts", "likes", "comments", "shares", "views",
    "source", "precision", "collected_at",
)  # fmt: skip


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


def overall_rps(runs: list[dict]) -> float:
    """Requests per second over several load runs together."""
    return sum(r["requests"] for r in runs) / sum(r["seconds"] for r in runs)


# --- What one request costs ------------------------------------------------------------------------------


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


def server_timing(response) -> tuple[int | None, float | None]:
    """(queries, database ms) of a response, from its `Server-Timing` header."""
    header = response.headers.get("Server-Timing", "")
    found = re.search(r'db;desc="(\d+) queries";dur=([\d.]+)', header)
    return (int(found.group(1)), float(found.group(2))) if found else (None, None)


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


def copy_in_table_ceiling(*, path: Path, tmp: Path) -> float:
    """Seconds psql's \\copy takes to load the CSV file into the snapshot table itself, rolled back:
    its indexes at their full size, its foreign key to the account checked row by row (made
    immediate) and its triggers, the physical limit of any load that keeps them."""
    output = psql(
        "BEGIN;\n"
        "SET CONSTRAINTS ALL IMMEDIATE;\n"
        "\\timing on\n"
        f"\\copy snapshots_snapshot ({', '.join(COPY_COLUMNS)}) FROM '{path}' WITH (FORMAT csv)\n"
        "\\timing off\n"
        "ROLLBACK;\n",
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

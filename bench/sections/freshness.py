"""freshness: writers write two accounts' follower counts each through the snapshot services (four
upserts on 2099-12-31, then a delete, in turn) and at once read `/api/history`, `/api/summary`,
`/api/accounts` and `/api/grid` back, while readers keep the same entries cached: the number of
stale reads (must be 0).

With Redis the writers and readers are processes reading over HTTP from gunicorn; with the
local-memory cache each process caches for itself, so they are threads of this process instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from bench.context import read_result
from bench.dataset import BENCH_PREFIX, FRESH_DATE, delete_snapshots
from bench.measure import PeakRSS
from bench.report import Figure

if TYPE_CHECKING:
    from bench.context import Bench


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


def _http_get(base_url: str):
    import httpx

    client = httpx.Client(base_url=base_url, timeout=30, headers={"Accept-Encoding": "gzip"})

    def get(path: str):
        response = client.get(path)
        response.raise_for_status()
        return response.json()

    return get


def child_writer(spec: dict) -> dict:
    """In a child process: a writer reading over HTTP."""
    return freshness_writer(spec, _http_get(spec["url"]))


def child_reader(spec: dict) -> dict:
    """In a child process: a reader over HTTP, until the stop file appears."""
    stop_file = Path(spec["stop_file"])
    return freshness_reader(spec, _http_get(spec["url"]), stop_file.exists)


def run(bench: Bench) -> None:
    from django.conf import settings
    from django.db.models import F

    from snapshots.models import AccountLatest

    raw = bench.raw("freshness")
    writers, per_writer = bench.args.fresh_writers, 2
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
    delete_snapshots(account__handle__startswith=BENCH_PREFIX, date=FRESH_DATE)
    shares = [accounts[i * per_writer : (i + 1) * per_writer] for i in range(writers)]
    try:
        if settings.REDIS_URL:
            result = in_processes(bench, shares, accounts)
        else:
            result = in_threads(bench, shares, accounts)
    finally:
        delete_snapshots(account__handle__startswith=BENCH_PREFIX, date=FRESH_DATE)
    raw.update(result)
    bench.add(
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


def in_processes(bench: Bench, shares: list[list[dict]], accounts: list[dict]) -> dict:
    """Writers and readers in separate processes, reading over HTTP from gunicorn's workers."""
    stop_file = bench.tmp / "fresh-stop"
    stop_file.unlink(missing_ok=True)
    with bench.server() as server:
        readers = [
            bench.start_child(
                "fresh-reader",
                {"url": server.url, "accounts": accounts, "stop_file": str(stop_file), "max_seconds": 600},
            )
            for _ in range(bench.args.fresh_readers)
        ]
        time.sleep(0.5)
        writers = [
            bench.start_child(
                "fresh-writer", {"url": server.url, "accounts": share, "writes": bench.args.fresh_writes}
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
        f"{bench.args.workers} gunicorn workers",
        "writes": sum(r["writes"] for r in results),
        "checks": sum(r["checks"] for r in results),
        "stale": sum(r["stale"] for r in results),
        "examples": [e for r in results for e in r["examples"]][:10],
        "background_reads": sum(r["reads"] for r in background),
        "peak_rss_mb": max([r["peak_rss_mb"] for r in results + background] + peaks),
    }


def in_threads(bench: Bench, shares: list[list[dict]], accounts: list[dict]) -> dict:
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
    n_readers = bench.args.fresh_readers

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
            for _ in range(n_readers)
        ]
        threads += [
            threading.Thread(
                target=run,
                args=(freshness_writer, {"accounts": s, "writes": bench.args.fresh_writes}, client_get()),
            )
            for s in shares
        ]
        for thread in threads:
            thread.start()
        for thread in threads[n_readers:]:
            thread.join(timeout=900)
        stop.set()
        for thread in threads[:n_readers]:
            thread.join(timeout=120)
    if errors:
        raise errors[0]
    return {
        "mode": f"{len(shares)} writer and {n_readers} reader threads in-process "
        "(local-memory cache is per process)",
        "writes": sum(r["writes"] for r in results),
        "checks": sum(r["checks"] for r in results),
        "stale": sum(r["stale"] for r in results),
        "examples": [e for r in results for e in r["examples"]][:10],
        "background_reads": sum(r["reads"] for r in background),
        "peak_rss_mb": mem.peak_mb,
    }

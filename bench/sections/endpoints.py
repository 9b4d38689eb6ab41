"""endpoints: every read endpoint in-process through `django.test.Client` (the whole middleware
stack), uncached (the cache generations bumped before each call, exactly as a write does) and
cached, against the bare baseline view measured the same way; the Redis round trips and commands
of one cached read and of `/health/live`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bench.dataset import GRID_DEEP_PAGE, Endpoint, endpoints
from bench.measure import PeakRSS, percentile, redis_traffic, server_timing
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench

#: Uncached p50 in ms, in-process, at 10,000 accounts x 365 days. Paging, history and account
#: look-ups must not grow with the data; the summary (the whole list, by contract) may, by
#: SUMMARY_MS_PER_10K per 10,000 accounts (250 ms at 100,000).
UNCACHED_P50_MS = {
    "summary": 25,
    "summary totals": 100,
    "history (1 account, 1 year)": 5,
    "grid page 1": 10,
    f"grid page {GRID_DEEP_PAGE:,}": 10,
    f"grid cursor at page {GRID_DEEP_PAGE:,}": 10,
    "accounts page 1": 10,
}
SUMMARY_MS_PER_10K = 25


def run(bench: Bench) -> None:
    from django.test import Client

    from socialmetrics import cache as generations
    from socialmetrics.cache import API_GROUP

    client = Client(headers={"Accept-Encoding": "gzip"})
    n_uncached, n_cached = bench.args.uncached, bench.args.cached
    raw = bench.raw("endpoints")

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
    bench.baselines["bare_inprocess"] = Baseline("bare view in-process p50", bare_p50, "ms")
    raw["bare view"] = {"p50_ms": bare_p50, "p95_ms": percentile(bare, 0.95), "n": len(bare)}
    bench.add(
        Figure(
            "endpoints",
            "bare baseline view",
            bare_p50,
            "ms",
            peak_mb=mem.peak_mb,
            detail=f"p95 {percentile(bare, 0.95):.2f} ms (the ratio column's reference)",
        )
    )

    account_id = bench.data["history_account"]["pk"]
    groups = [*generations.DATA_GROUPS, generations.history_group(account_id), API_GROUP]
    targets = dict(UNCACHED_P50_MS)
    targets["summary"] = SUMMARY_MS_PER_10K * max(1.0, bench.data["bench_accounts"] / 10_000)

    def measure(endpoint: Endpoint) -> None:
        uncached, queries, db_ms, states = [], [], [], set()
        with PeakRSS() as mem:
            for _ in range(n_uncached):
                generations.bump(groups)  # what any write does: every cached read rebuilds
                seconds, response = timed(endpoint.path)
                uncached.append(seconds)
                count, db = server_timing(response)
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
        bench.add(
            Figure(
                "endpoints",
                f"{endpoint.name}: uncached p50",
                entry["uncached"]["p50_ms"],
                "ms",
                baseline="bare_inprocess",
                target=targets.get(endpoint.name),
                target_kind="max",
                peak_mb=mem.peak_mb,
                detail=f"p95 {entry['uncached']['p95_ms']:.1f}, "
                f"min {entry['uncached']['min_ms']:.1f} ms; {entry['queries']} queries, "
                f"db p50 {entry['db_p50_ms'] or 0:.1f} ms; {size:,} B gzip",
            )
        )
        bench.add(
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
        bench.add(
            Figure(
                "endpoints",
                "health/live: Redis round trips",
                live["round_trips"],
                "round trips",
                detail=f"{live['commands']} commands",
            )
        )
    errors = []
    for endpoint in endpoints(bench.data):
        try:
            measure(endpoint)
        except Exception as exc:  # the other endpoints still get their figures
            errors.append(f"{endpoint.name}: {exc}")
            raw[endpoint.name] = {"path": endpoint.path, "error": str(exc)}
    if errors:
        raise RuntimeError("; ".join(errors))

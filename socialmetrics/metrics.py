"""Performance figures in prometheus_client: requests, response-cache look-ups, database work, Redis.

Recording stays in the process (no network round trip). With PROMETHEUS_MULTIPROC_DIR set (gunicorn
with gunicorn.conf.py) every process writes its own file there and a scrape adds them up.
Figures kept elsewhere (collection runs, in the database) come from collectors that apps add with
`register_collector`, read at scrape time. `/metrics` shows `registry()` in the Prometheus text
format; `report()` is the JSON of /api/performance, computed from the same samples.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

#: Request and database time buckets, in seconds (0.5 ms .. 30 s).
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: prometheus_client picks multiprocess mode from this variable when it is imported; so do we.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "socialmetrics_http_requests",
    "Requests answered, by endpoint (the URL pattern's name) and status class.",
    ["endpoint", "status"],
)
LATENCY = Histogram(
    "socialmetrics_http_request_duration_seconds",
    "Time to answer a request, by endpoint.",
    ["endpoint"],
    buckets=BUCKETS,
)
CACHE_HITS = Counter("socialmetrics_cache_hits", "Response cache hits, by cached group.", ["group"])
CACHE_MISSES = Counter("socialmetrics_cache_misses", "Response cache misses, by cached group.", ["group"])
DB_TIME = Histogram(
    "socialmetrics_db_request_duration_seconds", "Database time of one request.", buckets=BUCKETS
)
DB_QUERIES = Counter("socialmetrics_db_queries", "Database queries made while answering requests.")
REDIS_FAILURES = Counter(
    "socialmetrics_redis_failures", "Redis commands that failed (refused, timed out, reset)."
)

#: Collection figures, computed from the run records by the collector the scraping app registers
#: (scraping.metrics): finished runs by status, accounts by result, run durations.
RUNS = "socialmetrics_collection_runs"
RUN_ACCOUNTS = "socialmetrics_collection_accounts"
RUN_DURATION = "socialmetrics_collection_run_duration_seconds"

_STARTED = time.time()
_BASELINE_KEY = "metrics:baseline"
_collectors: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Add figures computed at scrape time (an app's `ready()` calls this) to /metrics and the report."""
    _collectors.append(collector)


def registry() -> CollectorRegistry:
    """Everything a scrape shows: every process's figures (multiprocess mode) or this process's,
    and the registered collectors."""
    scrape = CollectorRegistry()
    if MULTIPROCESS:
        MultiProcessCollector(scrape)
    else:
        scrape.register(REGISTRY)  # a registry collects like any collector
    for collector in _collectors:
        scrape.register(collector)
    return scrape


# --- Recording (PerformanceMiddleware, the response cache, the Redis policy) -------------------------

# The cache time of the request this thread is serving, for its Server-Timing header; begin_request
# starts it at zero.
_request = threading.local()


def begin_request() -> None:
    _request.cache_seconds = 0.0


def end_request() -> float:
    """The request's cache time, in seconds."""
    seconds = getattr(_request, "cache_seconds", 0.0)
    _request.cache_seconds = 0.0
    return seconds


@functools.cache
def _child(metric: Counter | Histogram, *labels: str) -> Counter | Histogram:
    """`metric.labels(*labels)`, kept: prometheus_client checks and looks the child up under a lock at
    every call (the labels are endpoints, cache groups and status classes: a few dozen)."""
    return metric.labels(*labels)


def note_cache(group: str, *, hit: bool, seconds: float = 0.0) -> None:
    """Called by the response cache: a hit or miss in a cached group, and the time it took."""
    _child(CACHE_HITS if hit else CACHE_MISSES, group).inc()
    _request.cache_seconds = getattr(_request, "cache_seconds", 0.0) + seconds


def record_request(*, endpoint: str, status: int, seconds: float, db_queries: int, db_seconds: float) -> None:
    _child(REQUESTS, endpoint, f"{status // 100}xx").inc()
    _child(LATENCY, endpoint).observe(seconds)
    DB_TIME.observe(db_seconds)
    if db_queries:  # adding 0 changes nothing but costs a write to the shared file
        DB_QUERIES.inc(db_queries)


def note_redis_failure() -> None:
    """Called by socialmetrics.redis_policy for each Redis failure."""
    REDIS_FAILURES.inc()


# --- The report (/api/performance) ------------------------------------------------------------------

#: {family name: {(sample name, sorted labels): value}}: the counters and histograms of a scrape.
Figures = dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]


def figures() -> Figures:
    """The counters and histograms of a scrape (gauges and `_created` timestamps left out)."""
    found: Figures = {}
    for family in registry().collect():
        if family.type not in ("counter", "histogram"):
            continue
        samples = found.setdefault(family.name, {})
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def reset() -> None:
    """Make /api/performance count from now: the current figures become its baseline, kept in the
    cache so every process subtracts the same one (Prometheus counters never go backwards)."""
    cache.set(_BASELINE_KEY, {"since": time.time(), "figures": figures()}, timeout=None)


def _since_baseline(current: Figures, baseline: Figures) -> Figures:
    """current - baseline; a family below its baseline somewhere has restarted since (a new gunicorn
    master, deleted run records) and counts from zero."""
    result: Figures = {}
    for name, samples in current.items():
        base = baseline.get(name, {})
        if any(value < base.get(key, 0.0) for key, value in samples.items()):
            result[name] = samples
        else:
            result[name] = {key: value - base.get(key, 0.0) for key, value in samples.items()}
    return result


@dataclass
class Series:
    """One histogram series: cumulative bucket counts by upper bound, count and sum."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    total: float = 0.0

    def _finite(self) -> list[float]:
        return sorted(b for b in self.buckets if b != float("inf"))

    def upper(self, rank: float) -> float | None:
        """Upper bound of the bucket holding the rank-th observation (the largest bound when slower)."""
        if not self.count:
            return None
        bounds = self._finite()
        return next((b for b in bounds if self.buckets[b] >= rank), bounds[-1])

    def lowest(self) -> float | None:
        """Lower bound of the lowest bucket used."""
        if not self.count:
            return None
        bounds = self._finite()
        return next(
            (low for low, b in zip([0.0, *bounds[:-1]], bounds, strict=True) if self.buckets[b] >= 1),
            bounds[-1],
        )

    def timing(self) -> dict:
        """Count, average, and min / max / percentiles at bucket precision."""
        return {
            "count": int(self.count),
            "avg_time": round(self.total / self.count, 6) if self.count else None,
            "min_time": self.lowest(),
            "max_time": self.upper(self.count),
            "p50_time": self.upper(0.50 * self.count),
            "p95_time": self.upper(0.95 * self.count),
            "p99_time": self.upper(0.99 * self.count),
        }


def histograms(samples: dict, *, by: str | None = None) -> dict[str, Series]:
    """A histogram family's series by the value of label `by` (all under "" when None)."""
    series: dict[str, Series] = defaultdict(Series)
    for (name, labels), value in samples.items():
        labels = dict(labels)
        one = series[labels.get(by, "") if by else ""]
        if name.endswith("_bucket"):
            one.buckets[float(labels["le"])] = value
        elif name.endswith("_count"):
            one.count = value
        elif name.endswith("_sum"):
            one.total = value
    return series


def counters(samples: dict, *, by: str | None = None) -> dict[str, float]:
    """A counter family's totals by the value of label `by` (all under "" when None)."""
    totals: dict[str, float] = defaultdict(float)
    for (name, labels), value in samples.items():
        if name.endswith("_total"):
            totals[dict(labels).get(by, "") if by else ""] += value
    return totals


def _samples(found: Figures, metric: Counter | Histogram) -> dict:
    return found.get(metric.describe()[0].name, {})


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _api(found: Figures) -> dict:
    statuses: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (_, labels), value in _samples(found, REQUESTS).items():
        labels = dict(labels)
        statuses[labels["endpoint"]][labels["status"]] += value
    api = {}
    for endpoint, series in sorted(histograms(_samples(found, LATENCY), by="endpoint").items()):
        if not series.count:
            continue
        client, server = int(statuses[endpoint]["4xx"]), int(statuses[endpoint]["5xx"])
        api[endpoint] = {
            "endpoint": endpoint,
            **series.timing(),
            "errors": client + server,
            "client_errors": client,
            "server_errors": server,
        }
    return api


def _cache(found: Figures) -> dict:
    hits = counters(_samples(found, CACHE_HITS), by="group")
    misses = counters(_samples(found, CACHE_MISSES), by="group")
    total_hits, total_misses = int(sum(hits.values())), int(sum(misses.values()))
    by_key = {}
    for group in sorted(set(hits) | set(misses)):
        h, m = int(hits.get(group, 0)), int(misses.get(group, 0))
        if h + m:
            by_key[group] = {"hits": h, "misses": m, "hit_rate": _ratio(h, h + m)}
    return {
        "total_hits": total_hits,
        "total_misses": total_misses,
        "total_requests": total_hits + total_misses,
        "hit_rate": _ratio(total_hits, total_hits + total_misses),
        "miss_rate": _ratio(total_misses, total_hits + total_misses),
        "by_key": by_key,
    }


def _database(found: Figures) -> dict:
    series = histograms(_samples(found, DB_TIME)).get("", Series())
    queries = int(sum(counters(_samples(found, DB_QUERIES)).values()))
    timing = series.timing()
    return {
        "total_queries": queries,
        "total_time": round(series.total, 6),
        "avg_time": timing["avg_time"],
        "max_time": timing["max_time"],
        "p95_time": timing["p95_time"],
        "queries_per_request": _ratio(queries, series.count, 2),
    }


def _scraper(found: Figures) -> dict:
    runs = counters(found.get(RUNS, {}), by="status")
    accounts = sum(counters(found.get(RUN_ACCOUNTS, {})).values())
    durations = histograms(found.get(RUN_DURATION, {})).get("", Series())
    total, success = int(sum(runs.values())), int(runs.get("completed", 0))
    timing = durations.timing()
    return {
        "total_executions": total,
        "success_count": success,
        "error_count": total - success,
        "success_rate": _ratio(success, total),
        "avg_time": timing["avg_time"],
        "min_time": timing["min_time"],
        "max_time": timing["max_time"],
        "accounts_per_second": _ratio(accounts, durations.total, 1),
    }


def report() -> dict:
    """Everything /api/performance shows (times in seconds; min, max and percentiles at bucket precision)."""
    current = figures()
    baseline = cache.get(_BASELINE_KEY)
    found = _since_baseline(current, baseline["figures"]) if baseline else current
    return {
        "api": _api(found),
        "cache": _cache(found),
        "database": _database(found),
        "scraper": _scraper(found),
        "since": baseline["since"] if baseline else _STARTED,
        "backend": "multiprocess" if MULTIPROCESS else "process",
    }

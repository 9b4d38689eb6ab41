"""Live performance figures: requests per endpoint, database work, cache hits, collection runs.

Timings go into fixed histogram buckets (constant memory per endpoint, percentiles read from the
bucket counts), plus count, sum, min and max. With `REDIS_URL` set the figures live in Redis, so
every gunicorn worker and process adds to the same numbers and they survive a restart; one request
costs one script call (a single round trip). Without Redis they are per process. If Redis fails,
recording stops for a while (nothing is attempted on the request path) and resumes by itself.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings

logger = logging.getLogger(__name__)

#: Upper bounds of the timing buckets, in seconds (0.25 ms .. 60 s, about 12% apart); one more
#: bucket holds everything slower.
BUCKETS: tuple[float, ...] = tuple(round(0.00025 * 1.12**i, 7) for i in range(108) if 0.00025 * 1.12**i <= 60)
_REDIS_BACKOFF = 30.0  # seconds without trying Redis after a failure


def bucket_of(seconds: float) -> int:
    return bisect.bisect_left(BUCKETS, seconds)


def percentile(histogram: dict[int, int], count: int, q: float) -> float | None:
    """The q-th percentile from bucket counts: the upper bound of the bucket holding it."""
    if not count:
        return None
    rank = q * count
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return BUCKETS[index] if index < len(BUCKETS) else BUCKETS[-1]
    return BUCKETS[-1]


@dataclass
class RequestRecord:
    endpoint: str
    status: int
    seconds: float
    db_queries: int = 0
    db_seconds: float = 0.0
    cache: list[tuple[str, bool]] = field(default_factory=list)


class _Series:
    """count / sum / min / max / histogram of one timing series, in memory."""

    __slots__ = ("count", "histogram", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.histogram: dict[int, int] = defaultdict(int)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.minimum = seconds if self.minimum is None else min(self.minimum, seconds)
        self.maximum = seconds if self.maximum is None else max(self.maximum, seconds)
        self.histogram[bucket_of(seconds)] += 1

    def as_raw(self) -> dict:
        return {
            "count": self.count,
            "sum": self.total,
            "min": self.minimum,
            "max": self.maximum,
            "hist": dict(self.histogram),
        }


class MemoryStore:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.endpoints: dict[str, _Series] = defaultdict(_Series)
        self.errors4: dict[str, int] = defaultdict(int)
        self.errors5: dict[str, int] = defaultdict(int)
        self.db = _Series()
        self.db_queries = 0
        self.db_requests = 0
        self.cache_hits: dict[str, int] = defaultdict(int)
        self.cache_misses: dict[str, int] = defaultdict(int)
        self.runs = _Series()
        self.run_success = 0
        self.run_accounts = 0
        self.since = time.time()

    def record_request(self, r: RequestRecord) -> None:
        with self.lock:
            self.endpoints[r.endpoint].add(r.seconds)
            if r.status >= 500:
                self.errors5[r.endpoint] += 1
            elif r.status >= 400:
                self.errors4[r.endpoint] += 1
            self.db.add(r.db_seconds)
            self.db_queries += r.db_queries
            self.db_requests += 1
            for group, hit in r.cache:
                (self.cache_hits if hit else self.cache_misses)[group] += 1

    def record_run(self, *, seconds: float, accounts: int, success: bool) -> None:
        with self.lock:
            self.runs.add(seconds)
            self.run_success += int(success)
            self.run_accounts += accounts

    def raw(self) -> dict:
        with self.lock:
            return {
                "endpoints": {
                    name: {**s.as_raw(), "err4": self.errors4[name], "err5": self.errors5[name]}
                    for name, s in self.endpoints.items()
                },
                "db": {**self.db.as_raw(), "queries": self.db_queries, "requests": self.db_requests},
                "cache": {
                    g: {"hits": self.cache_hits[g], "misses": self.cache_misses[g]}
                    for g in set(self.cache_hits) | set(self.cache_misses)
                },
                "runs": {**self.runs.as_raw(), "success": self.run_success, "accounts": self.run_accounts},
                "since": self.since,
            }


# One request, one round trip: every counter of the request in a single script call.
# KEYS[1] = prefix. ARGV: endpoint, seconds, bucket, status, db_seconds, db_bucket, db_queries, then
# pairs of (cache group, 1 hit / 0 miss).
_RECORD_REQUEST = """
local p = KEYS[1]
local ep = p .. ':ep:' .. ARGV[1]
local s = tonumber(ARGV[2])
redis.call('SADD', p .. ':endpoints', ARGV[1])
redis.call('HINCRBY', ep, 'count', 1)
redis.call('HINCRBYFLOAT', ep, 'sum', s)
local mn = redis.call('HGET', ep, 'min')
if (not mn) or s < tonumber(mn) then redis.call('HSET', ep, 'min', ARGV[2]) end
local mx = redis.call('HGET', ep, 'max')
if (not mx) or s > tonumber(mx) then redis.call('HSET', ep, 'max', ARGV[2]) end
redis.call('HINCRBY', ep, 'b' .. ARGV[3], 1)
local status = tonumber(ARGV[4])
if status >= 500 then
  redis.call('HINCRBY', ep, 'err5', 1)
elseif status >= 400 then
  redis.call('HINCRBY', ep, 'err4', 1)
end
local db = p .. ':db'
local d = tonumber(ARGV[5])
redis.call('HINCRBY', db, 'count', 1)
redis.call('HINCRBY', db, 'queries', tonumber(ARGV[7]))
redis.call('HINCRBYFLOAT', db, 'sum', d)
local dmx = redis.call('HGET', db, 'max')
if (not dmx) or d > tonumber(dmx) then redis.call('HSET', db, 'max', ARGV[5]) end
redis.call('HINCRBY', db, 'b' .. ARGV[6], 1)
local i = 8
while ARGV[i] do
  redis.call('HINCRBY', p .. ':cache', ARGV[i] .. (ARGV[i + 1] == '1' and ':hits' or ':misses'), 1)
  i = i + 2
end
redis.call('SETNX', p .. ':since', redis.call('TIME')[1])
return 1
"""

_RECORD_RUN = """
local r = KEYS[1] .. ':runs'
local s = tonumber(ARGV[1])
redis.call('HINCRBY', r, 'count', 1)
redis.call('HINCRBYFLOAT', r, 'sum', s)
redis.call('HINCRBY', r, 'success', tonumber(ARGV[3]))
redis.call('HINCRBY', r, 'accounts', tonumber(ARGV[2]))
local mn = redis.call('HGET', r, 'min')
if (not mn) or s < tonumber(mn) then redis.call('HSET', r, 'min', ARGV[1]) end
local mx = redis.call('HGET', r, 'max')
if (not mx) or s > tonumber(mx) then redis.call('HSET', r, 'max', ARGV[1]) end
redis.call('HINCRBY', r, 'b' .. ARGV[4], 1)
redis.call('SETNX', KEYS[1] .. ':since', redis.call('TIME')[1])
return 1
"""


def _series_from_hash(data: dict[str, str]) -> dict:
    hist = {int(k[1:]): int(v) for k, v in data.items() if k.startswith("b") and k[1:].isdigit()}
    return {
        "count": int(data.get("count", 0)),
        "sum": float(data.get("sum", 0.0)),
        "min": float(data["min"]) if "min" in data else None,
        "max": float(data["max"]) if "max" in data else None,
        "hist": hist,
    }


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.25, decode_responses=True
        )
        self.prefix = prefix
        self._record = self.redis.register_script(_RECORD_REQUEST)
        self._run = self.redis.register_script(_RECORD_RUN)
        self._down_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception) -> None:
        from socialmetrics.cache import redis_failures

        redis_failures.incr()
        self._down_until = time.monotonic() + _REDIS_BACKOFF
        logger.warning(
            "performance metrics: Redis unavailable (%s); not recording for %.0f s", exc, _REDIS_BACKOFF
        )

    def record_request(self, r: RequestRecord) -> None:
        if not self._available():
            return
        args: list = [r.endpoint, repr(r.seconds), bucket_of(r.seconds), r.status, repr(r.db_seconds),
                      bucket_of(r.db_seconds), r.db_queries]  # fmt: skip
        for group, hit in r.cache:
            args += [group, "1" if hit else "0"]
        try:
            self._record(keys=[self.prefix], args=args)
        except Exception as exc:
            self._failed(exc)

    def record_run(self, *, seconds: float, accounts: int, success: bool) -> None:
        if not self._available():
            return
        try:
            self._run(keys=[self.prefix], args=[repr(seconds), accounts, int(success), bucket_of(seconds)])
        except Exception as exc:
            self._failed(exc)

    def raw(self) -> dict:
        p = self.prefix
        names = sorted(self.redis.smembers(f"{p}:endpoints"))
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(f"{p}:ep:{name}")
        pipe.hgetall(f"{p}:db")
        pipe.hgetall(f"{p}:cache")
        pipe.hgetall(f"{p}:runs")
        pipe.get(f"{p}:since")
        *endpoint_data, db, cache_data, runs, since = pipe.execute()
        endpoints = {}
        for name, data in zip(names, endpoint_data, strict=True):
            endpoints[name] = {
                **_series_from_hash(data),
                "err4": int(data.get("err4", 0)),
                "err5": int(data.get("err5", 0)),
            }
        cache: dict[str, dict[str, int]] = defaultdict(lambda: {"hits": 0, "misses": 0})
        for key, value in cache_data.items():
            group, _, kind = key.rpartition(":")
            cache[group][kind] = int(value)
        return {
            "endpoints": endpoints,
            "db": {
                **_series_from_hash(db),
                "queries": int(db.get("queries", 0)),
                "requests": int(db.get("count", 0)),
            },
            "cache": dict(cache),
            "runs": {
                **_series_from_hash(runs),
                "success": int(runs.get("success", 0)),
                "accounts": int(runs.get("accounts", 0)),
            },
            "since": float(since) if since else time.time(),
        }

    def reset(self) -> None:
        keys = list(self.redis.scan_iter(f"{self.prefix}:*", count=500))
        pipe = self.redis.pipeline(transaction=True)
        if keys:
            pipe.delete(*keys)
        pipe.set(f"{self.prefix}:since", int(time.time()))
        pipe.execute()


_store_lock = threading.Lock()
_store: MemoryStore | RedisStore | None = None
_store_url: str | None = None


def store() -> MemoryStore | RedisStore:
    """The process's store: Redis when REDIS_URL is set, else memory (rebuilt if settings change)."""
    global _store, _store_url
    url = settings.REDIS_URL or ""
    if _store is None or url != _store_url:
        with _store_lock:
            if _store is None or url != _store_url:
                prefix = f"{settings.CACHES['default'].get('KEY_PREFIX') or 'sm'}:perf"
                _store = RedisStore(url, prefix) if url else MemoryStore()
                _store_url = url
    return _store


def record_request(record: RequestRecord) -> None:
    store().record_request(record)


def record_run(*, seconds: float, accounts: int, success: bool) -> None:
    store().record_run(seconds=seconds, accounts=accounts, success=success)


def reset() -> None:
    store().reset()


# --- Per-request context: cache events noted while the request runs --------------------------------

_local = threading.local()


def begin_request() -> None:
    _local.cache = []
    _local.cache_seconds = 0.0


def note_cache(group: str, *, hit: bool, seconds: float = 0.0) -> None:
    """Called by the response cache: a hit or miss in a cached group during this request."""
    events = getattr(_local, "cache", None)
    if events is not None:
        events.append((group, hit))
        _local.cache_seconds += seconds


def end_request() -> tuple[list[tuple[str, bool]], float]:
    events = getattr(_local, "cache", None) or []
    seconds = getattr(_local, "cache_seconds", 0.0)
    _local.cache = None
    _local.cache_seconds = 0.0
    return events, seconds


# --- The report -------------------------------------------------------------------------------------


def _timing(series: dict) -> dict:
    count = series["count"]
    return {
        "count": count,
        "avg_time": round(series["sum"] / count, 6) if count else None,
        "min_time": series["min"],
        "max_time": series["max"],
        "p50_time": percentile(series["hist"], count, 0.50),
        "p95_time": percentile(series["hist"], count, 0.95),
        "p99_time": percentile(series["hist"], count, 0.99),
    }


def report() -> dict:
    """Everything /api/performance shows (times in seconds; percentiles at bucket precision)."""
    raw = store().raw()
    api = {}
    for name, series in sorted(raw["endpoints"].items()):
        timing = _timing(series)
        api[name] = {
            "endpoint": name,
            **timing,
            "errors": series["err4"] + series["err5"],
            "client_errors": series["err4"],
            "server_errors": series["err5"],
        }
    hits = sum(c["hits"] for c in raw["cache"].values())
    misses = sum(c["misses"] for c in raw["cache"].values())
    total = hits + misses
    db = raw["db"]
    db_timing = _timing(db)
    runs = raw["runs"]
    run_timing = _timing(runs)
    return {
        "api": api,
        "cache": {
            "total_hits": hits,
            "total_misses": misses,
            "total_requests": total,
            "hit_rate": round(hits / total, 4) if total else None,
            "miss_rate": round(misses / total, 4) if total else None,
            "by_key": {
                group: {**c, "hit_rate": round(c["hits"] / (c["hits"] + c["misses"]), 4)}
                for group, c in sorted(raw["cache"].items())
                if c["hits"] + c["misses"]
            },
        },
        "database": {
            "total_queries": db["queries"],
            "total_time": round(db["sum"], 6),
            "avg_time": db_timing["avg_time"],
            "max_time": db_timing["max_time"],
            "p95_time": db_timing["p95_time"],
            "queries_per_request": round(db["queries"] / db["requests"], 2) if db["requests"] else None,
        },
        "scraper": {
            "total_executions": runs["count"],
            "success_count": runs["success"],
            "error_count": runs["count"] - runs["success"],
            "success_rate": round(runs["success"] / runs["count"], 4) if runs["count"] else None,
            "avg_time": run_timing["avg_time"],
            "min_time": run_timing["min_time"],
            "max_time": run_timing["max_time"],
            "accounts_per_second": round(runs["accounts"] / runs["sum"], 1) if runs["sum"] else None,
        },
        "since": raw["since"],
        "backend": "redis" if isinstance(store(), RedisStore) else "process",
    }


# --- Redis failures (counted by socialmetrics.redis_policy) -----------------------------------------


def note_redis_failure() -> None:
    pass

"""http: requests/s of every cached read endpoint (and of `/health/live`) through gunicorn under
wrk (or a small asyncio client) on 127.0.0.1, in rounds alternating with the bare baseline view
through the same server and with the minimal Django view (bench/minimal.py, a gunicorn of its own);
with --http-download, the whole CSV download once over HTTP."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

from bench.dataset import Endpoint, endpoints
from bench.measure import overall_rps, python_load, wrk_load
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench
    from bench.server import Server

#: Cached requests/s, as a ratio to the minimal Django view (no middleware, one view) measured in
#: the same rounds.
CACHED_RPS_RATIO = 0.6


def load(bench: Bench, url: str, *, duration: float) -> dict:
    if bench.loadgen == "wrk":
        return wrk_load(url, duration=duration, connections=bench.connections)
    return python_load(url, duration=duration, connections=bench.connections)


def run(bench: Bench) -> None:
    """Each endpoint is loaded in rounds that alternate with the bare view (bare, endpoint, bare,
    endpoint...), and its ratio is the median of the rounds' ratios: on a shared machine the
    ceiling drifts within seconds, so only figures measured side by side are compared."""
    import httpx

    args = bench.args
    raw = bench.raw("http")
    rounds = max(1, args.rounds)
    slice_s = args.duration / rounds
    raw["generator"] = bench.loadgen
    raw["server"] = {
        "workers": args.workers,
        "threads": args.threads,
        "connections": bench.connections,
        "duration_s": args.duration,
        "rounds": rounds,
    }
    bare_url = "/bench/baseline"
    results: dict[str, dict] = {}
    bare_runs: list[dict] = []
    minimal_runs: list[dict] = []
    measured = [*endpoints(bench.data), Endpoint("health/live (not cached)", "/health/live")]
    with bench.server() as server, bench.server(minimal=True) as minimal:
        for endpoint in measured:
            url = f"{server.url}{endpoint.path}"
            cached = endpoint.path.startswith("/api/")
            with httpx.Client(headers={"Accept-Encoding": "gzip"}, timeout=60) as client:
                for _ in range(2 * args.workers):  # every worker builds or reads it once
                    warm = client.get(url)
                if warm.status_code != 200 or (cached and warm.headers.get("X-Cache") != "HIT"):
                    raise RuntimeError(f"{endpoint.name}: warm-up {warm.status_code} {warm.headers}")
            runs, bares, minimals = [], [], []
            for _ in range(rounds):
                minimals.append(load(bench, f"{minimal.url}/bench/minimal", duration=slice_s))
                bares.append(load(bench, f"{server.url}{bare_url}", duration=slice_s))
                runs.append(load(bench, url, duration=slice_s))
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
        download = http_download(server) if args.http_download else None
        peaks = server.worker_peaks_mb()
    for result in [*bare_runs, *minimal_runs, *(r for e in results.values() for r in e["rounds"])]:
        if result["non_2xx"] or result["socket_errors"]:
            raise RuntimeError(f"{result['non_2xx']} non-2xx, {result['socket_errors']} socket errors")
    rates = [b["rps"] for b in bare_runs]
    mean = overall_rps(bare_runs)
    bench.baselines["bare_http"] = Baseline(
        "bare view req/s through gunicorn",
        mean,
        "req/s",
        f"{len(rates)} runs alternating with the endpoints' runs",
    )
    minimal_mean = overall_rps(minimal_runs)
    bench.baselines["minimal_http"] = Baseline(
        "minimal Django view (no middleware, one view) req/s through gunicorn",
        minimal_mean,
        "req/s",
        f"{len(minimal_runs)} runs alternating with the endpoints' runs",
    )
    raw.update({"endpoints": results, "download": download, "worker_peak_rss_mb": peaks})
    peak = max(peaks) if peaks else None
    bench.add(
        Figure(
            "http",
            "minimal Django view",
            minimal_mean,
            "req/s",
            detail=f"{len(minimal_runs)} runs: {min(m['rps'] for m in minimal_runs):,.0f}"
            f"..{max(m['rps'] for m in minimal_runs):,.0f} req/s",
        )
    )
    bench.add(
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
        bench.add(
            Figure(
                "http",
                f"{name}: cached" if cached else name,
                result["rps"],
                "req/s",
                baseline="bare_http",
                ratio=result["ratio"],
                peak_mb=peak,
                detail=f"bare view in its rounds {result['bare_rps']:,.0f} req/s; "
                f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.1f} ms",
            )
        )
        bench.add(
            Figure(
                "http",
                f"{name}: x minimal Django view",
                result["rps"],
                "req/s",
                baseline="minimal_http",
                ratio=result["minimal_ratio"],
                target=CACHED_RPS_RATIO if cached else None,
                target_on="ratio",
                detail=f"minimal view in its rounds {result['minimal_rps']:,.0f} req/s",
            )
        )
    if download is not None:
        bench.add(
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


def http_download(server: Server) -> dict:
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

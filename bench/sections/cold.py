"""cold: the first request a fresh server process answers. For each paging endpoint, a new gunicorn
with one worker is started (ready once it answered `/health/live`, as a load balancer's check
would see it), the cache generations are bumped, and one request is timed over HTTP: what a reader
waits for after a deploy or a worker replaced by `max_requests`. The median of --cold-starts
starts per endpoint, against the warm in-process figure of the endpoints section."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

from bench.dataset import GRID_DEEP_PAGE, endpoints
from bench.report import Figure
from bench.server import gunicorn

if TYPE_CHECKING:
    from bench.context import Bench

#: The paging endpoints and their cold ceiling in ms (the issue's "<= 10 ms, warm or cold").
COLD_P50_MS = {
    "history (1 account, 1 year)": 10,
    "grid page 1": 10,
    f"grid page {GRID_DEEP_PAGE:,}": 10,
    f"grid cursor at page {GRID_DEEP_PAGE:,}": 10,
    "accounts page 1": 10,
}


def run(bench: Bench) -> None:
    import httpx

    from socialmetrics import cache as generations
    from socialmetrics.cache import API_GROUP

    raw = bench.raw("cold")
    account_id = bench.data["history_account"]["pk"]
    groups = [*generations.DATA_GROUPS, generations.history_group(account_id), API_GROUP]
    starts = max(1, bench.args.cold_starts)
    for endpoint in endpoints(bench.data):
        if endpoint.name not in COLD_P50_MS:
            continue
        times = []
        for _ in range(starts):
            with gunicorn(
                workers=1,
                threads=bench.args.threads,
                tmp=bench.tmp,
                started=lambda process: bench.processes.append((process, True)),
            ) as server:
                generations.bump(groups)
                with httpx.Client(headers={"Accept-Encoding": "gzip"}, timeout=60) as client:
                    client.get(f"{server.url}/health/live")  # the connection open, as a proxy's is
                    started = time.perf_counter()
                    response = client.get(f"{server.url}{endpoint.path}")
                    elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200 or response.headers.get("X-Cache") != "MISS":
                    raise RuntimeError(
                        f"{endpoint.name}: {response.status_code}, X-Cache {response.headers.get('X-Cache')}"
                    )
                times.append(elapsed)
        p50 = statistics.median(times)
        raw[endpoint.name] = {"path": endpoint.path, "first_request_ms": times, "p50_ms": p50}
        bench.add(
            Figure(
                "cold",
                f"{endpoint.name}: first request of a new worker",
                p50,
                "ms",
                target=COLD_P50_MS[endpoint.name],
                target_kind="max",
                detail=f"uncached, over HTTP; {starts} fresh gunicorns: "
                + ", ".join(f"{t:.1f}" for t in times)
                + " ms",
            )
        )

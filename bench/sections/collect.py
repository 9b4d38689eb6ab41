"""collect: `manage.py collect_metrics --mode simulated` in a subprocess (the real runner: thread
pool, outcomes recorded), twice: `--date` the day after the data set's newest, so every maintained
latest row and its growth is refreshed as in the daily cron run (the figure with the target), and
`--date 1999-12-31`, a past day as a backfill writes (nothing to refresh); psql `\\copy` of the rows
each wrote as its ceiling. The data set is the simulation's own series (bench/generate.py), so the
next day continues it and the anomaly rule flags no more than the simulation's own jumps."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import TYPE_CHECKING

from bench.dataset import COLLECT_PAST_DATE, delete_snapshots
from bench.measure import COPY_COLUMNS, copy_in_ceiling, copy_out_ceiling, psql_command
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench

COLLECT_ACCOUNTS_PER_S = 12_000


def child_collect(spec: dict) -> dict:
    """In the child process: the collection run, and what its record says."""
    from django.core.management import call_command

    from scraping.models import CollectionRun
    from snapshots.models import Snapshot

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
        # Days the anomaly rule flagged on the collected day (snapshots/anomalies.py).
        "anomalies": Snapshot.objects.filter(date=spec["date"], anomaly_reason__isnull=False).count(),
    }


def run(bench: Bench) -> None:
    raw = bench.raw("collect")
    # The daily run: the day after the data set's newest, so it becomes every account's latest
    # and the maintained latest rows and growth are refreshed, as by the cron run each morning.
    next_day = dt.date.fromisoformat(bench.data["last_date"]) + dt.timedelta(days=1)
    for date, what, target in (
        (next_day, "the next day (daily run)", COLLECT_ACCOUNTS_PER_S),
        (COLLECT_PAST_DATE, "a past day", None),
    ):
        result, ceiling = collect_once(bench, date)
        raw[date.isoformat()] = result
        baseline = f"copy_collect_{date.isoformat()}"
        bench.baselines[baseline] = Baseline(
            f"psql COPY of the rows the run wrote on {date.isoformat()} (per account)",
            ceiling,
            "accounts/s",
            "" if ceiling else "no psql ceiling on this backend",
        )
        total = result["accounts_total"]
        bench.add(
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
                f"{result['outcomes_recorded']:,} outcomes recorded, {result['workers']} workers, "
                f"{result['anomalies']:,} anomalies flagged",
            )
        )


def collect_once(bench: Bench, date: dt.date) -> tuple[dict, float | None]:
    """One `collect_metrics --mode simulated --date DATE` in a subprocess, and the COPY ceiling
    of the rows it wrote; the day is deleted again (through the services) afterwards."""
    from scraping.models import CollectionRun

    def clean() -> None:
        delete_snapshots(date=date)
        CollectionRun.objects.filter(date=date).delete()

    clean()
    try:
        result = bench.run_child("collect", {"date": date.isoformat()}, timeout=1800)
        ceiling = None
        if psql_command():  # COPY of the very rows the run wrote
            path = bench.tmp / "collect-copy.csv"
            columns = ", ".join(COPY_COLUMNS)
            _, copied = copy_out_ceiling(
                sql=f"SELECT {columns} FROM snapshots_snapshot WHERE date = '{date.isoformat()}'",
                tmp=bench.tmp,
                to=str(path),
            )
            seconds = copy_in_ceiling(path=path, tmp=bench.tmp)
            ceiling = result["accounts_total"] / seconds if seconds else None
            result["copy"] = {"rows": copied, "seconds": seconds}
    finally:
        clean()
    if result["status"] != "completed" or result["outcomes_recorded"] != result["accounts_total"]:
        raise RuntimeError(f"collection run on {date}: {result}")
    return result, ceiling

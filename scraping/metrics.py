"""Collection figures for /metrics and /api/performance, read from the run records at scrape time, so
runs carried out anywhere (cron, a thread of the web process, a Celery worker on another machine)
all count. Registered with socialmetrics.metrics by `ScrapingConfig.ready()`."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from socialmetrics import metrics

from .models import CollectionRun, RunStatus

logger = logging.getLogger(__name__)

FINISHED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.INTERRUPTED, RunStatus.CANCELLED)
#: Run duration buckets, in seconds (1 s .. 6 h).
RUN_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600)


class RunCollector(Collector):
    """Finished runs by status, their accounts by result and their durations; runs under way."""

    def collect(self) -> Iterator:
        try:
            by_status = list(
                CollectionRun.objects.order_by()
                .values("status")
                .annotate(
                    runs=Count("pk"),
                    succeeded=Sum("accounts_succeeded"),
                    failed=Sum("accounts_failed"),
                    skipped=Sum("accounts_skipped"),
                )
            )
            timed = CollectionRun.objects.filter(status__in=FINISHED, duration_seconds__isnull=False)
            durations = timed.aggregate(
                count=Count("pk"),
                total=Sum("duration_seconds"),
                **{
                    f"le_{i}": Count("pk", filter=Q(duration_seconds__lte=b))
                    for i, b in enumerate(RUN_BUCKETS)
                },
            )
        except DatabaseError as exc:  # /metrics still shows the request figures
            logger.warning("collection figures: the database did not answer (%s)", exc)
            return
        runs = CounterMetricFamily(metrics.RUNS, "Finished collection runs, by status.", labels=["status"])
        accounts = CounterMetricFamily(
            metrics.RUN_ACCOUNTS, "Accounts in finished collection runs, by result.", labels=["result"]
        )
        active = GaugeMetricFamily(
            "socialmetrics_collection_runs_active", "Collection runs pending or under way.", labels=["status"]
        )
        totals = {"succeeded": 0, "failed": 0, "skipped": 0}
        for row in by_status:
            if row["status"] in FINISHED:
                runs.add_metric([row["status"]], row["runs"])
                for result in totals:
                    totals[result] += row[result] or 0
            else:
                active.add_metric([row["status"]], row["runs"])
        for result, value in totals.items():
            accounts.add_metric([result], value)
        buckets = [(str(float(b)), durations[f"le_{i}"]) for i, b in enumerate(RUN_BUCKETS)]
        duration = HistogramMetricFamily(metrics.RUN_DURATION, "Duration of finished collection runs.")
        duration.add_metric([], [*buckets, ("+Inf", durations["count"])], durations["total"] or 0.0)
        yield from (runs, accounts, active, duration)

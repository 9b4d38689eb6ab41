"""export: `/api/download` streamed in-process, its rows counted and the memory sampled every 10 %
of them, against psql `\\copy (the grid query) TO` of the same rows."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bench.measure import PeakRSS, copy_out_ceiling, psql_command, rss_mb
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench

#: rows/s as a ratio to psql COPY of the same query (where there is psql), else an absolute floor.
EXPORT_COPY_RATIO = 0.9
EXPORT_ROWS_PER_S = 150_000
#: The first row within this many ms, however many rows follow.
EXPORT_FIRST_ROW_MS = 500
EXPORT_MAX_GROWTH_MB = 64  # "flat memory": a 3.65 M-row export (about 250 MB of CSV) may not hold it


def run(bench: Bench) -> None:
    from django.db import connection
    from django.test import Client

    from snapshots.selectors import EXPORT_COLUMNS, grid_queryset

    raw = bench.raw("export")
    client = Client()
    expected = bench.data["snapshots"]
    step = max(1, expected // 10)
    samples: list[tuple[int, float | None]] = []
    with PeakRSS() as mem:
        started = time.perf_counter()
        response = client.get("/api/download")
        if response.status_code != 200:
            raise RuntimeError(f"/api/download answered {response.status_code}")
        lines, first_row, next_sample = 0, None, step
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            if first_row is None and lines >= 2:
                first_row = time.perf_counter() - started
            if lines >= next_sample:
                samples.append((lines, rss_mb()))
                next_sample += step
        seconds = time.perf_counter() - started
        response.close()
    rows = max(0, lines - 1)
    if rows != expected:
        raise RuntimeError(
            f"the export has {rows:,} rows; the table had {expected:,} "
            "(did another process write to this database during the run?)"
        )
    raw.update(
        {
            "rows": rows,
            "seconds": seconds,
            "first_row_s": first_row,
            "rss_samples_mb": samples,
            "rss_start_mb": mem.start_mb,
            "peak_rss_mb": mem.peak_mb,
            "growth_mb": mem.growth_mb,
        }
    )

    ceiling = None
    if psql_command():
        compiler = grid_queryset().values_list(*EXPORT_COLUMNS).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        copy_seconds, copied = copy_out_ceiling(sql=connection.ops.compose_sql(sql, params), tmp=bench.tmp)
        ceiling = copied / copy_seconds
        raw["copy"] = {"rows": copied, "seconds": copy_seconds}
    bench.baselines["copy_out"] = Baseline(
        "psql COPY (the export's columns) TO, CSV",
        ceiling,
        "rows/s",
        "" if ceiling else "no psql ceiling on this backend",
    )
    bench.add(
        Figure(
            "export",
            f"CSV download of {rows:,} rows (in-process)",
            rows / seconds,
            "rows/s",
            baseline="copy_out",
            target=EXPORT_COPY_RATIO if ceiling else EXPORT_ROWS_PER_S,
            target_on="ratio" if ceiling else "value",
            peak_mb=mem.peak_mb,
            detail=f"{seconds:.1f} s; first row after {(first_row or 0) * 1000:.0f} ms",
        )
    )
    bench.add(
        Figure(
            "export",
            "download: time to its first row",
            (first_row or 0) * 1000,
            "ms",
            baseline="bare_inprocess",
            target=EXPORT_FIRST_ROW_MS,
            target_kind="max",
            detail="the download is streamed, never cached",
        )
    )
    growth = mem.growth_mb
    rss = [mb for _, mb in samples if mb is not None]
    bench.add(
        Figure(
            "export",
            "memory: peak RSS growth over the export",
            growth,
            "MB",
            target=EXPORT_MAX_GROWTH_MB,
            target_kind="max",
            peak_mb=mem.peak_mb,
            detail=(f"RSS {min(rss):.0f}..{max(rss):.0f} MB over the 10 samples" if rss else ""),
        )
    )

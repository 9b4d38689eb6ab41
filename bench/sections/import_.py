"""import: a CSV of new rows (every benchmark account x --import-days days from 2004-01-01) through
`snapshots.csv_import.csv_import`, then the same file again (nothing changes), against psql `\\copy`
of the same rows into `LIKE snapshots_snapshot INCLUDING ALL`. The rows are deleted afterwards."""

from __future__ import annotations

import csv
import datetime as dt
import time
from typing import TYPE_CHECKING

from bench.dataset import BENCH_PREFIX, IMPORT_FIRST_DATE, RESERVED_PAST, bench_accounts, delete_snapshots
from bench.measure import PeakRSS, copy_in_ceiling, psql_command
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench

IMPORT_ROWS_PER_S = 50_000


def run(bench: Bench) -> None:
    from accounts.platforms import InvalidProfileURL, parse_profile_url
    from snapshots.csv_import import csv_import

    raw = bench.raw("import")
    accounts, refused = [], 0
    for account in bench_accounts():
        # Only handles the importer reads back as themselves: bench/generate.py gives Bluesky and
        # Mastodon accounts bare handles ("bench00005") that those platforms' rules refuse.
        try:
            same = parse_profile_url(platform=account["platform"], url=account["handle"]).handle
        except InvalidProfileURL:
            same = None
        if same is not None and same.lower() == account["handle"].lower():
            accounts.append(account)
        else:
            refused += 1
    raw["accounts"] = len(accounts)
    raw["accounts_left_out"] = refused
    days = [IMPORT_FIRST_DATE + dt.timedelta(days=n) for n in range(bench.args.import_days)]
    delete_snapshots(account__handle__startswith=BENCH_PREFIX, date__range=RESERVED_PAST)
    product, copy_file = bench.tmp / "import.csv", bench.tmp / "import-copy.csv"
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = 0
    with product.open("w", newline="") as a, copy_file.open("w", newline="") as b:
        mine, theirs = csv.writer(a), csv.writer(b)
        mine.writerow(
            [
                "Platform",
                "Handle",
                "Date",
                "Followers",
                "Following",
                "Posts",
                "Likes",
                "Comments",
                "Shares",
                "Views",
            ]
        )
        for index, account in enumerate(accounts):
            base = 1000 + (index * 7919) % 2_000_000
            for n, day in enumerate(days):
                values = [
                    base + n * 13,
                    100 + index % 900,
                    500 + n,
                    40 + n,
                    4 + n % 3,
                    2 + n % 5,
                    900 + n * 11,
                ]
                mine.writerow([account["platform"], account["handle"], day.isoformat(), *values])
                theirs.writerow([account["pk"], day.isoformat(), *values, "csv", "exact", now])
                rows += 1
    raw["rows"] = rows
    raw["file_mb"] = round(product.stat().st_size / 1e6, 1)

    ceiling = None
    if psql_command():
        seconds = copy_in_ceiling(path=copy_file, tmp=bench.tmp)
        ceiling = rows / seconds
        raw["copy"] = {"rows": rows, "seconds": seconds}
    bench.baselines["copy_in"] = Baseline(
        "psql COPY of the same rows into a LIKE table",
        ceiling,
        "rows/s",
        "" if ceiling else "no psql ceiling on this backend (SQLite)",
    )
    try:
        results = []
        for label in ("new rows", "the same file again (unchanged)"):
            with PeakRSS() as mem, product.open(newline="") as lines:
                started = time.perf_counter()
                report = csv_import(lines=lines)
                seconds = time.perf_counter() - started
            done = report.created + report.updated + report.unchanged
            if report.skipped or done != rows:
                raise RuntimeError(f"import of {rows} rows: {report.message} {report.errors[:3]}")
            results.append(
                {
                    "label": label,
                    "seconds": seconds,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "peak_rss_mb": mem.peak_mb,
                }
            )
            bench.add(
                Figure(
                    "import",
                    f"CSV import, {label}",
                    rows / seconds,
                    "rows/s",
                    baseline="copy_in",
                    target=IMPORT_ROWS_PER_S if label == "new rows" else None,
                    peak_mb=mem.peak_mb,
                    detail=f"{rows:,} rows ({len(accounts):,} accounts x {len(days)} days) "
                    f"in {seconds:.1f} s"
                    + (
                        f"; {refused:,} accounts with handles the importer refuses left out"
                        if refused
                        else ""
                    ),
                )
            )
        raw["runs"] = results
    finally:
        delete_snapshots(account__handle__startswith=BENCH_PREFIX, date__range=RESERVED_PAST)

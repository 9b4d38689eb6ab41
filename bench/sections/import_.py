"""import: a CSV of new rows (every benchmark account x --import-days days from 2004-01-01) through
`snapshots.csv_import.csv_import`, then the same file again (nothing changes), against psql `\\copy`
of the same rows into `LIKE snapshots_snapshot INCLUDING ALL` (the target's ceiling: no foreign key,
an empty table) and into the snapshot table itself, rolled back (its foreign key checked, its
indexes at full size: the limit of a load that keeps them). The rows are deleted afterwards."""

from __future__ import annotations

import csv
import datetime as dt
import time
from typing import TYPE_CHECKING

from bench.dataset import BENCH_PREFIX, IMPORT_FIRST_DATE, RESERVED_PAST, bench_accounts, delete_snapshots
from bench.measure import PeakRSS, copy_in_ceiling, copy_in_table_ceiling, psql_command
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench

#: rows/s of new rows as a ratio to psql COPY of the same rows (where there is psql), else a floor.
IMPORT_COPY_RATIO = 0.5
IMPORT_ROWS_PER_S = 50_000
IMPORT_MAX_GROWTH_MB = 64


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
        table_seconds = copy_in_table_ceiling(path=copy_file, tmp=bench.tmp)
        raw["copy_into_table"] = {"rows": rows, "seconds": table_seconds}
        bench.baselines["copy_in_table"] = Baseline(
            "psql COPY of the same rows into the snapshot table (foreign key checked, rolled back)",
            rows / table_seconds,
            "rows/s",
        )
    bench.baselines["copy_in"] = Baseline(
        "psql COPY of the same rows into a LIKE table",
        ceiling,
        "rows/s",
        "" if ceiling else "no psql ceiling on this backend (SQLite)",
    )
    new_rows_target = IMPORT_COPY_RATIO if ceiling else IMPORT_ROWS_PER_S
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
            if label == "new rows" and "copy_in_table" in bench.baselines:
                bench.add(
                    Figure(
                        "import",
                        "CSV import, new rows: x COPY into the snapshot table itself",
                        rows / seconds,
                        "rows/s",
                        baseline="copy_in_table",
                        detail="the physical limit of a load that keeps the table's foreign key and indexes",
                    )
                )
            results.append(
                {
                    "label": label,
                    "seconds": seconds,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "peak_rss_mb": mem.peak_mb,
                    "growth_mb": mem.growth_mb,
                }
            )
            bench.add(
                Figure(
                    "import",
                    f"memory: peak RSS growth, {label}",
                    mem.growth_mb,
                    "MB",
                    target=IMPORT_MAX_GROWTH_MB,
                    target_kind="max",
                    peak_mb=mem.peak_mb,
                )
            )
            bench.add(
                Figure(
                    "import",
                    f"CSV import, {label}",
                    rows / seconds,
                    "rows/s",
                    baseline="copy_in",
                    target=new_rows_target if label == "new rows" else None,
                    target_on="ratio" if ceiling else "value",
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

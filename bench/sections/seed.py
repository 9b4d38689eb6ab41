"""seed (only with --generate): bench/generate.py rewrites the data set in a subprocess; its
snapshots/s, of the whole generation and of its write alone, against psql `\\copy` of the same rows
(at most SEED_COPY_SAMPLE of them) into a scratch table shaped like the snapshot table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.dataset import BENCH_PREFIX
from bench.measure import COPY_COLUMNS, copy_in_ceiling, copy_out_ceiling, psql_command
from bench.report import Baseline, Figure

if TYPE_CHECKING:
    from bench.context import Bench

#: The whole generation, as a ratio to COPY of the same rows.
SEED_COPY_RATIO = 0.3
#: The COPY ceiling loads at most this many of the rows (the 10,000 x 365 data set's size): its
#: rate is what the ratio needs, and all 36 M rows of the 100,000-account tier took 22 min to load.
SEED_COPY_SAMPLE = 3_650_000


def child_generate(spec: dict) -> dict:
    """In the child process: the generation itself."""
    from bench.generate import generate
    from socialmetrics.dates import local_today

    return generate(accounts=spec["accounts"], days=spec["days"], end=local_today())


def run(bench: Bench) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    spec = {"accounts": bench.args.accounts, "days": bench.args.days}
    result = bench.run_child("generate", spec, timeout=3600)
    connection.close()  # the data set was replaced by another process
    bench.raw("seed")["generate"] = result
    rows = result["snapshots"]
    ceiling = None
    if psql_command():
        path = bench.tmp / "seed-copy.csv"
        columns = ", ".join(f"s.{c}" for c in COPY_COLUMNS)
        _, copied = copy_out_ceiling(
            sql=(
                f"SELECT {columns} FROM snapshots_snapshot s JOIN accounts_account a "
                f"ON a.id = s.account_id WHERE a.handle LIKE '{BENCH_PREFIX}%' LIMIT {SEED_COPY_SAMPLE}"
            ),
            tmp=bench.tmp,
            to=str(path),
        )
        seconds = copy_in_ceiling(path=path, tmp=bench.tmp)
        path.unlink()
        ceiling = copied / seconds
        bench.raw("seed")["copy"] = {"rows": copied, "seconds": seconds}
    bench.baselines["copy_seed"] = Baseline(
        f"psql COPY of the same rows (at most {SEED_COPY_SAMPLE:,})",
        ceiling,
        "rows/s",
        "" if ceiling else "no psql ceiling on this backend",
    )
    overall = rows / result["seconds"] if result["seconds"] else None
    bench.add(
        Figure(
            "seed",
            f"generate {bench.args.accounts:,} x {bench.args.days} (whole run)",
            overall,
            "snapshots/s",
            baseline="copy_seed",
            target=SEED_COPY_RATIO,
            target_on="ratio",
            peak_mb=result["peak_rss_mb"],
            detail=f"{rows:,} snapshots in {result['seconds']} s (latest rows {result['latest_seconds']} s)",
        )
    )
    bench.add(
        Figure(
            "seed",
            "generate: the snapshot write alone",
            result["rows_per_second"],
            "rows/s",
            baseline="copy_seed",
            detail=f"{result['write_seconds']} s",
        )
    )

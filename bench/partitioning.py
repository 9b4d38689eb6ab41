"""The snapshot table partitioned by year, measured side by side with the table as it is.

Builds, in a scratch database, two tables from the same rows of the source's snapshots_snapshot
(read through a read-only connection): ``plain_snapshot``, the table as it is (its constraints and
indexes), and ``part_snapshot``, PARTITION BY RANGE (date) with one partition per year and the same
indexes, except that its primary key is (id, date): a partitioned table's primary key and unique
constraints must contain the partition key ((account_id, date) already does). ``--years N`` makes
N years by shifting the source's rows back by 365-day steps. Times are medians of --runs, in ms,
client side, the two tables alternating, both read into the OS cache first. ``--check-triggers``
checks migration 0003's grid-count triggers on a partitioned table; ``--rehearse-migration`` (last)
turns the populated plain_snapshot into a partition of a new partitioned table, timing each step.

    .venv/bin/python bench/partitioning.py --source-db socialmetrics_bench --scratch-db h_part
"""

import argparse
import datetime as dt
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

_Conn = psycopg.Connection
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, for --check-triggers

_COLUMNS = (
    "id, date, followers, following, posts, likes, comments, shares, views, "
    "source, precision, collected_at, account_id, anomaly_reason"
)
_DDL = (
    "id bigint NOT NULL, date date NOT NULL, followers bigint, following bigint, posts bigint, "
    "likes bigint, comments bigint, shares bigint, views bigint, engagement bigint GENERATED ALWAYS AS "
    "(CASE WHEN likes IS NULL AND comments IS NULL AND shares IS NULL THEN NULL ELSE "
    "COALESCE(likes, 0) + COALESCE(comments, 0) + COALESCE(shares, 0) END) STORED, "
    "source varchar(12) NOT NULL, precision varchar(8) NOT NULL, collected_at timestamptz NOT NULL, "
    "account_id bigint NOT NULL, anomaly_reason varchar(200)"
)
# Growth compares with the latest day minus 1, 7 and 30 days, up to 2 days earlier (snapshots.services).
_PERIODS, _TOLERANCE = (1, 7, 30), 2
# Bytes of a table's heap and indexes, or of all the partitions of a partitioned one.
_SIZE = (
    "SELECT sum(pg_relation_size(r)), sum(pg_indexes_size(r)) FROM "
    "(SELECT %s::regclass AS r UNION SELECT relid FROM pg_partition_tree(%s)) t"
)
# Reads a table's heap and indexes (every partition's) into the OS cache, so both tables start alike.
_WARM = (
    "SELECT pg_prewarm(c.oid, 'read') FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid "
    "WHERE c.relkind IN ('r', 'i') AND coalesce(i.indrelid, c.oid) IN "
    "(SELECT %s::regclass UNION SELECT relid FROM pg_partition_tree(%s))"
)


def _indexes(table: str, pk: str) -> list[str]:
    """The production table's constraints and indexes (`\\d snapshots_snapshot`), on `table`."""
    return [
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({pk})",
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_account_date UNIQUE (account_id, date)",
        f"CREATE INDEX {table}_date_account ON {table} (date DESC, account_id)",
        f"CREATE INDEX {table}_anomaly ON {table} (date DESC) WHERE anomaly_reason IS NOT NULL",
    ]


def _refresh_sql(table: str) -> str:
    """The SELECT of the AccountLatest refresh (snapshots.services._PG_LATEST_REFRESH): each
    account's latest row and the follower counts its growth compares with."""
    bases = " ".join(
        f"LEFT JOIN LATERAL (SELECT b.followers FROM {table} b WHERE b.account_id = a.id "
        f"AND b.date BETWEEN l.date - {p + _TOLERANCE} AND l.date - {p} AND b.followers IS NOT NULL "
        f"ORDER BY b.date DESC LIMIT 1) b{p} ON true"
        for p in _PERIODS
    )
    changes = ", ".join(f"l.followers - b{p}.followers" for p in _PERIODS)
    return (
        f"SELECT a.id, l.*, {changes} FROM unnest(%s::bigint[]) AS a(id) "
        f"LEFT JOIN LATERAL (SELECT * FROM {table} s WHERE s.account_id = a.id "
        f"ORDER BY s.date DESC LIMIT 1) l ON true {bases}"
    )


def _timed(conn: _Conn, sql: str, params=(), *, fetch: bool = True) -> float:
    """Milliseconds to run `sql` (and fetch its rows)."""
    start = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql, params)
        if fetch:
            cur.fetchall()
    return (time.perf_counter() - start) * 1000


def _step(conn: _Conn, sql: str) -> None:
    print(f"  {sql[:70]}: {_timed(conn, sql, fetch=False) / 1000:.1f} s", file=sys.stderr, flush=True)


def build(source: _Conn, scratch: _Conn, *, years: int, accounts: int | None) -> None:
    """Both tables from the same rows: COPY from the source, shifted copies, then the indexes."""
    only = f"WHERE account_id IN (SELECT id FROM accounts_account ORDER BY id LIMIT {accounts})"
    rows = f"SELECT {_COLUMNS} FROM snapshots_snapshot {only if accounts else ''}"
    scratch.execute("DROP TABLE IF EXISTS plain_snapshot, part_snapshot, mig_snapshot CASCADE")
    scratch.execute(f"CREATE TABLE plain_snapshot ({_DDL})")
    start, write = time.perf_counter(), f"COPY plain_snapshot ({_COLUMNS}) FROM STDIN (FORMAT binary)"
    read = f"COPY ({rows}) TO STDOUT (FORMAT binary)"
    with source.cursor().copy(read) as out, scratch.cursor().copy(write) as into:
        for chunk in out:
            into.write(chunk)
    print(f"  COPY from {source.info.dbname}: {time.perf_counter() - start:.1f} s", file=sys.stderr)
    first, last, top = scratch.execute("SELECT min(date), max(date), max(id) FROM plain_snapshot").fetchone()
    for k in range(years - 1, 0, -1):  # the oldest first, each from the source's rows only
        shifted = _COLUMNS.replace("id, date", f"id + {k * (top + 1)}, date - {365 * k}", 1)
        shifted += f" FROM plain_snapshot WHERE id <= {top}"
        _step(scratch, f"INSERT INTO plain_snapshot ({_COLUMNS}) SELECT {shifted}")
    scratch.execute(f"CREATE TABLE part_snapshot ({_DDL}) PARTITION BY RANGE (date)")
    for year in range((first - dt.timedelta(days=365 * (years - 1))).year, last.year + 1):
        scratch.execute(
            f"CREATE TABLE part_snapshot_{year} PARTITION OF part_snapshot "
            f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
        )
    _step(scratch, f"INSERT INTO part_snapshot ({_COLUMNS}) SELECT {_COLUMNS} FROM plain_snapshot")
    for sql in [*_indexes("plain_snapshot", "id"), *_indexes("part_snapshot", "id, date")]:
        _step(scratch, sql)
    _step(scratch, "VACUUM (ANALYZE) plain_snapshot, part_snapshot")


def measure(conn: _Conn, *, runs: int):
    """Yields (what, plain table, partitioned table, unit), times as medians of `runs` in ms."""
    first, last = conn.execute("SELECT min(date), max(date) FROM plain_snapshot").fetchone()
    ids = [r[0] for r in conn.execute("SELECT account_id FROM plain_snapshot WHERE date = %s", [last])]
    pick, year, heavy = ids[:: max(1, len(ids) // runs)], dt.date(last.year, 1, 1), min(runs, 3)
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    for table in ("plain_snapshot", "part_snapshot"):
        _step(conn, _WARM.replace("%s", f"'{table}'"))

    def both(what: str, sql, params_of, *, n: int = runs, **kwargs):
        times = {"plain_snapshot": [], "part_snapshot": []}
        for run in range(n):
            for table in list(times)[:: 1 if run % 2 == 0 else -1]:  # the order alternates
                with conn.transaction(force_rollback=True):  # (4) deletes the same rows every run
                    query = sql(table) if callable(sql) else sql.format(t=table)
                    times[table].append(_timed(conn, query, params_of(run), **kwargs))
        return (what, *[statistics.median(v) for v in times.values()], "ms")

    history = "SELECT * FROM {t} WHERE account_id = %s AND date BETWEEN %s AND %s ORDER BY date"
    yield both(
        "(1) one account, its last 365 days", history, lambda r: [pick[r], last - dt.timedelta(364), last]
    )
    day = "SELECT * FROM {t} WHERE date = %s ORDER BY account_id"
    yield both("(2) one date, every account in account order", day, lambda r: [last - dt.timedelta(r * 40)])
    latest = "SELECT DISTINCT ON (account_id) * FROM {t} ORDER BY account_id, date DESC"
    yield both("(3a) latest row of every account (DISTINCT ON)", latest, lambda r: [], n=heavy)
    yield both(
        "(3b) AccountLatest refresh SELECT, 500 accounts", _refresh_sql, lambda r: [ids[r * 500 :][:500]]
    )
    yield both(f"(3c) AccountLatest refresh SELECT, all {len(ids):,}", _refresh_sql, lambda r: [ids], n=heavy)
    old = [f"part_snapshot_{y}" for y in range(first.year, last.year)]
    drop = "; ".join(f"ALTER TABLE part_snapshot DETACH PARTITION {p}; DROP TABLE {p}" for p in old)
    gone = conn.execute("SELECT count(*) FROM plain_snapshot WHERE date < %s", [year]).fetchone()[0]
    delete = {"plain_snapshot": f"DELETE FROM plain_snapshot WHERE date < '{year}'", "part_snapshot": drop}
    what = f"(4) remove the {gone:,} rows before {year}: DELETE vs DETACH + DROP of {len(old)} partitions"
    yield both(what, delete.get, lambda r: (), fetch=False)
    # A day's collection rewrites that day's rows; VACUUM then reads the whole table or one partition.
    times = {"plain_snapshot": [], f"part_snapshot_{last.year}": []}
    for run in range(runs):
        for table in times:
            rewrite = f"UPDATE {table} SET collected_at = collected_at + interval '1 s' WHERE date = %s"
            conn.execute(rewrite, [last - dt.timedelta(run)])
            times[table].append(_timed(conn, f"VACUUM (ANALYZE) {table}", fetch=False))
    what = "(5a) VACUUM (ANALYZE) after one day's rows are rewritten: table vs current year's partition"
    yield (what, *[statistics.median(v) for v in times.values()], "ms")
    full = [_timed(conn, f"VACUUM (ANALYZE, DISABLE_PAGE_SKIPPING) {t}", fetch=False) for t in times]
    yield ("(5b) the same with DISABLE_PAGE_SKIPPING (every page, as a freeze pass), 1 run", *full, "ms")

    def mib(relation: str, column: int = 0) -> float:
        return conn.execute(_SIZE, [relation, relation]).fetchone()[column] / 2**20

    yield ("table heap (not indexes)", mib("plain_snapshot"), mib("part_snapshot"), "MiB")
    yield ("(6) all indexes", mib("plain_snapshot", 1), mib("part_snapshot", 1), "MiB")
    for name in ("pkey", "account_date", "date_account", "anomaly"):
        yield (f"(6) index {name}", mib(f"plain_snapshot_{name}"), mib(f"part_snapshot_{name}"), "MiB")


_COUNTS = "snapshots_snapshotdatecount"
_TRIGGER_SETUP = f"""
CREATE TABLE snapshots_snapshotdatecount (date date PRIMARY KEY, snapshot_count bigint NOT NULL);
CREATE TABLE snapshots_snapshotdatecountchange (id bigserial, txid bigint, date date, change bigint);
CREATE TABLE trig_snapshot ({_DDL}) PARTITION BY RANGE (date);
CREATE TABLE trig_snapshot_2025 PARTITION OF trig_snapshot FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE trig_snapshot_2026 PARTITION OF trig_snapshot FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
"""
_TRIGGER_CHECKS = {
    "INSERT into two partitions": "INSERT INTO trig_snapshot (id, date, source, precision, collected_at, "
    "account_id) SELECT g, DATE '2025-12-30' + g % 4, 'manual', 'exact', now(), g "
    "FROM generate_series(1, 40) g",
    "DELETE from two partitions": "DELETE FROM trig_snapshot WHERE id % 5 = 0",
    "UPDATE of date inside a partition": "UPDATE trig_snapshot SET date = date - 1 WHERE id IN (3, 7)",
    "UPDATE of date into another partition": "UPDATE trig_snapshot SET date = '2026-01-05' WHERE id < 10",
    "TRUNCATE of one partition": "TRUNCATE trig_snapshot_2025",
    "DETACH + DROP of a partition": "ALTER TABLE trig_snapshot DETACH PARTITION trig_snapshot_2026; "
    "DROP TABLE trig_snapshot_2026",
}


def check_triggers(conn: _Conn):
    """Migration 0003's grid-count triggers on a small partitioned table: after each kind of write,
    does snapshots_snapshotdatecount still equal the table's own counts? Yields (write, result)."""
    migration = importlib.import_module("snapshots.migrations.0003_snapshot_date_counts")
    for sql in migration.POSTGRESQL_REVERSE:
        conn.execute(sql.replace(" ON snapshots_snapshot", " ON trig_snapshot").replace("()", " CASCADE"))
    conn.execute(f"DROP TABLE IF EXISTS trig_snapshot, {_COUNTS}, {_COUNTS}change; {_TRIGGER_SETUP}")
    for sql in migration.POSTGRESQL_FORWARD:  # all but the lock on, and the fill from, snapshots_snapshot
        if not sql.lstrip().startswith(("LOCK", "INSERT")):
            conn.execute(sql.replace("ON snapshots_snapshot\n", "ON trig_snapshot\n"))
    for label, sql in _TRIGGER_CHECKS.items():
        with conn.transaction():
            conn.execute(sql)
        wrong = conn.execute(
            "SELECT count(*) FROM (SELECT date, count(*) AS n FROM trig_snapshot GROUP BY date) t "
            "FULL JOIN (SELECT * FROM snapshots_snapshotdatecount WHERE snapshot_count <> 0) c USING (date) "
            "WHERE t.n IS DISTINCT FROM c.snapshot_count"
        ).fetchone()[0]
        yield label, "counts exact" if not wrong else f"{wrong} dates wrong"
        conn.execute(  # each check starts from exact counts
            "DELETE FROM snapshots_snapshotdatecount; INSERT INTO snapshots_snapshotdatecount "
            "SELECT date, count(*) FROM trig_snapshot GROUP BY date"
        )


def rehearse_migration(conn: _Conn):
    """Turn the populated plain_snapshot into the partition of its years of a new partitioned table
    (the CHECK constraint, validated beforehand, spares ATTACH its scan). Yields (step, ms)."""
    last = conn.execute("SELECT max(date) FROM plain_snapshot").fetchone()[0]
    bound, following = f"{last.year + 1}-01-01", f"{last.year + 2}-01-01"
    parent = _DDL.replace("id bigint NOT NULL", "id bigint GENERATED BY DEFAULT AS IDENTITY")
    steps = {
        "CREATE UNIQUE INDEX CONCURRENTLY (id, date): reads and writes go on": """
            CREATE UNIQUE INDEX CONCURRENTLY plain_snapshot_id_date ON plain_snapshot (id, date)""",
        "ADD CHECK (date < next 1 January) NOT VALID: an instant's ACCESS EXCLUSIVE": f"""
            ALTER TABLE plain_snapshot ADD CONSTRAINT plain_snapshot_range
              CHECK (date < '{bound}') NOT VALID""",
        "VALIDATE CONSTRAINT: reads the table, reads and writes go on": """
            ALTER TABLE plain_snapshot VALIDATE CONSTRAINT plain_snapshot_range""",
        "one transaction (ACCESS EXCLUSIVE): new parent, PK (id, date), ATTACH, next year": f"""
            BEGIN; CREATE TABLE mig_snapshot ({parent}) PARTITION BY RANGE (date);
            {"; ".join(_indexes("mig_snapshot", "id, date"))};
            ALTER TABLE plain_snapshot DROP CONSTRAINT plain_snapshot_pkey,
              ADD CONSTRAINT plain_snapshot_pkey PRIMARY KEY USING INDEX plain_snapshot_id_date;
            ALTER TABLE mig_snapshot ATTACH PARTITION plain_snapshot
              FOR VALUES FROM (MINVALUE) TO ('{bound}');
            CREATE TABLE mig_snapshot_{last.year + 1} PARTITION OF mig_snapshot
              FOR VALUES FROM ('{bound}') TO ('{following}');
            SELECT setval(pg_get_serial_sequence('mig_snapshot', 'id'),
              (SELECT max(id) FROM plain_snapshot));
            COMMIT""",
    }
    for label, sql in steps.items():
        yield label, _timed(conn, sql, fetch=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-db", required=True, help="its snapshots are read, never written")
    parser.add_argument("--scratch-db", required=True, help="the tables are built there (it must exist)")
    parser.add_argument("--years", type=int, default=2, help="years of history, shifted copies (2)")
    parser.add_argument("--accounts", type=int, help="only the first N accounts of the source (default: all)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement; medians are printed (5)")
    parser.add_argument("--no-build", action="store_true", help="measure the tables already built")
    parser.add_argument("--check-triggers", action="store_true", help="check migration 0003's triggers")
    parser.add_argument("--rehearse-migration", action="store_true", help="make plain_snapshot a partition")
    args = parser.parse_args()
    if args.source_db == args.scratch_db:
        parser.error("the scratch database must not be the source database")
    # PGHOST and PGUSER as for psql; by default the benchmark's server.
    connect = {"host": os.environ.get("PGHOST", "127.0.0.1"), "user": os.environ.get("PGUSER", "postgres")}
    connect |= {"autocommit": True}
    scratch = psycopg.connect(dbname=args.scratch_db, **connect)
    if not args.no_build:
        # Read only: every transaction of this connection refuses to write.
        with psycopg.connect(
            dbname=args.source_db, options="-c default_transaction_read_only=on", **connect
        ) as source:
            build(source, scratch, years=args.years, accounts=args.accounts)
    print("| measured | plain table | partitioned by year | unit |\n|---|---:|---:|---|")
    for what, plain, part, unit in measure(scratch, runs=args.runs):
        print(f"| {what} | {plain:,.1f} | {part:,.1f} | {unit} |", flush=True)
    if args.check_triggers:
        print("\n| write on the partitioned table | SnapshotDateCount after commit |\n|---|---|")
        for label, result in check_triggers(scratch):
            print(f"| {label} | {result} |")
    if args.rehearse_migration:
        print("\n| migration step on the populated table, and its lock | time |\n|---|---:|")
        for label, ms in rehearse_migration(scratch):
            print(f"| {label} | {ms:,.0f} ms |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Snapshots per date, maintained by triggers on the snapshot table (`SnapshotDateCount`).

PostgreSQL: statement-level AFTER INSERT / AFTER DELETE triggers read the statement's transition
table and add one `SnapshotDateCountChange` row per date, tagged with the transaction: no lock on a
shared row, so concurrent writers never wait on each other, and a long import never updates the
same row twice (updating one row N times in a transaction costs O(N^2) in PostgreSQL). The
transaction's first such statement also registers it in `snapshots_snapshotdatecount_open`, whose
deferred constraint trigger folds the transaction's changes into `SnapshotDateCount` as it
commits, in one statement, dates in order (two committing writers cannot deadlock). A row-level
trigger on UPDATE OF date (a save that moves a snapshot to another day; the upsert never sets
date, so it never fires it) and an AFTER TRUNCATE trigger cover the rest.

SQLite has one writer at a time: row-level triggers update `SnapshotDateCount` directly.

Both: the table is filled from the snapshots that already exist, under a lock that keeps writers
out between creating the triggers and counting.
"""

from django.db import migrations, models

_COUNTS = "snapshots_snapshotdatecount"
_CHANGES = "snapshots_snapshotdatecountchange"
_OPEN = "snapshots_snapshotdatecount_open"
_SNAPSHOTS = "snapshots_snapshot"

_FILL = f"INSERT INTO {_COUNTS} (date, snapshot_count) SELECT date, count(*) FROM {_SNAPSHOTS} GROUP BY date"

POSTGRESQL_FORWARD = [
    f"LOCK TABLE {_SNAPSHOTS} IN SHARE ROW EXCLUSIVE MODE",
    f"CREATE TABLE {_OPEN} (txid bigint PRIMARY KEY)",
    f"""
    CREATE FUNCTION snapshots_date_count_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        WITH moved AS (
            DELETE FROM {_CHANGES} WHERE txid = NEW.txid RETURNING date, change
        )
        INSERT INTO {_COUNTS} AS c (date, snapshot_count)
        SELECT date, sum(change) FROM moved GROUP BY date ORDER BY date
        ON CONFLICT (date) DO UPDATE SET snapshot_count = c.snapshot_count + excluded.snapshot_count;
        DELETE FROM {_OPEN} WHERE txid = NEW.txid;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE CONSTRAINT TRIGGER snapshots_date_count_fold AFTER INSERT ON {_OPEN}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION snapshots_date_count_fold()
    """,
    f"""
    CREATE FUNCTION snapshots_date_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, change)
        SELECT txid_current(), date, sign * count(*) FROM changed GROUP BY date;
        IF FOUND THEN
            INSERT INTO {_OPEN} (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_date_count_insert AFTER INSERT ON {_SNAPSHOTS}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION snapshots_date_count_statement()
    """,
    f"""
    CREATE TRIGGER snapshots_date_count_delete AFTER DELETE ON {_SNAPSHOTS}
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION snapshots_date_count_statement()
    """,
    f"""
    CREATE FUNCTION snapshots_date_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, change)
        VALUES (txid_current(), OLD.date, -1), (txid_current(), NEW.date, 1);
        INSERT INTO {_OPEN} (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_date_count_move AFTER UPDATE OF date ON {_SNAPSHOTS}
    FOR EACH ROW WHEN (OLD.date IS DISTINCT FROM NEW.date) EXECUTE FUNCTION snapshots_date_count_move()
    """,
    f"""
    CREATE FUNCTION snapshots_date_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {_COUNTS};
        DELETE FROM {_CHANGES};
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_date_count_truncate AFTER TRUNCATE ON {_SNAPSHOTS}
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_date_count_truncate()
    """,
    _FILL,
]

POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS snapshots_date_count_insert ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_date_count_delete ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_date_count_move ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_date_count_truncate ON {_SNAPSHOTS}",
    f"DROP TABLE IF EXISTS {_OPEN}",
    "DROP FUNCTION IF EXISTS snapshots_date_count_statement()",
    "DROP FUNCTION IF EXISTS snapshots_date_count_move()",
    "DROP FUNCTION IF EXISTS snapshots_date_count_truncate()",
    "DROP FUNCTION IF EXISTS snapshots_date_count_fold()",
]


def _sqlite_add(date: str) -> str:
    return (
        f"INSERT INTO {_COUNTS} (date, snapshot_count) VALUES ({date}, 1) "
        f"ON CONFLICT (date) DO UPDATE SET snapshot_count = snapshot_count + 1;"
    )


def _sqlite_remove(date: str) -> str:
    # An update, never an insert: a removal the table cannot match (it was emptied first, as the
    # tests' flush may do) must not leave a negative count behind.
    return f"UPDATE {_COUNTS} SET snapshot_count = snapshot_count - 1 WHERE date = {date};"


SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER snapshots_date_count_insert AFTER INSERT ON {_SNAPSHOTS} FOR EACH ROW
    BEGIN {_sqlite_add("NEW.date")} END
    """,
    f"""
    CREATE TRIGGER snapshots_date_count_delete AFTER DELETE ON {_SNAPSHOTS} FOR EACH ROW
    BEGIN {_sqlite_remove("OLD.date")} END
    """,
    f"""
    CREATE TRIGGER snapshots_date_count_move AFTER UPDATE OF date ON {_SNAPSHOTS} FOR EACH ROW
    WHEN OLD.date IS NOT NEW.date
    BEGIN {_sqlite_remove("OLD.date")} {_sqlite_add("NEW.date")} END
    """,
    _FILL,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS snapshots_date_count_insert",
    "DROP TRIGGER IF EXISTS snapshots_date_count_delete",
    "DROP TRIGGER IF EXISTS snapshots_date_count_move",
]


#: (forward, reverse) statements per database vendor. Elsewhere the table stays empty and unused:
#: the grid counts dates itself.
_STATEMENTS = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_REVERSE),
    "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE),
}


def _run(schema_editor, *, forward: bool) -> None:
    statements = _STATEMENTS.get(schema_editor.connection.vendor)
    for statement in (statements[0] if forward else statements[1]) if statements else ():
        schema_editor.execute(statement)


def create_triggers(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0002_summary_json"),
    ]

    operations = [
        migrations.CreateModel(
            name="SnapshotDateCount",
            fields=[
                ("date", models.DateField(primary_key=True, serialize=False)),
                ("snapshot_count", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="SnapshotDateCountChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("txid", models.BigIntegerField()),
                ("date", models.DateField()),
                ("change", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["txid"], name="snapshot_date_change_txid_idx")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

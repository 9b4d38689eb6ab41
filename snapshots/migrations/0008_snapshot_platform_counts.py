"""Snapshots per (date, platform), maintained by triggers (`SnapshotPlatformCount`), as migration 0003
keeps the snapshots per date.

PostgreSQL: statement-level AFTER INSERT / AFTER DELETE triggers on the snapshot table join the
statement's transition table to the accounts and add one `SnapshotPlatformCountChange` row per date
and platform, tagged with the transaction; the transaction's first such statement registers it in
`snapshots_snapshotplatformcount_open`, whose deferred constraint trigger folds its changes into
`SnapshotPlatformCount` as it commits (one statement, keys in order: no waiting between writers
before they commit, no row updated twice). Row-level triggers cover a snapshot moved to another day
or account and an account moved to another platform (its snapshots move with it); an AFTER
TRUNCATE trigger empties the counts.

SQLite has one writer at a time: row-level triggers update `SnapshotPlatformCount` directly.

Both: the table is filled from the snapshots that already exist, under a lock that keeps writers
out between creating the triggers and counting.
"""

from django.db import migrations, models

_COUNTS = "snapshots_snapshotplatformcount"
_CHANGES = "snapshots_snapshotplatformcountchange"
_OPEN = "snapshots_snapshotplatformcount_open"
_SNAPSHOTS = "snapshots_snapshot"
_ACCOUNTS = "accounts_account"

_FILL = (
    f"INSERT INTO {_COUNTS} (date, platform, snapshot_count) "
    f"SELECT s.date, a.platform, count(*) FROM {_SNAPSHOTS} s JOIN {_ACCOUNTS} a ON a.id = s.account_id "
    "GROUP BY s.date, a.platform"
)

_REGISTER = f"INSERT INTO {_OPEN} (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;"

POSTGRESQL_FORWARD = [
    f"LOCK TABLE {_SNAPSHOTS}, {_ACCOUNTS} IN SHARE ROW EXCLUSIVE MODE",
    f"CREATE TABLE {_OPEN} (txid bigint PRIMARY KEY)",
    f"""
    CREATE FUNCTION snapshots_platform_count_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        WITH moved AS (
            DELETE FROM {_CHANGES} WHERE txid = NEW.txid RETURNING date, platform, change
        )
        INSERT INTO {_COUNTS} AS c (date, platform, snapshot_count)
        SELECT date, platform, sum(change) FROM moved GROUP BY date, platform ORDER BY date, platform
        ON CONFLICT (date, platform) DO UPDATE SET snapshot_count = c.snapshot_count + excluded.snapshot_count;
        DELETE FROM {_OPEN} WHERE txid = NEW.txid;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE CONSTRAINT TRIGGER snapshots_platform_count_fold AFTER INSERT ON {_OPEN}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION snapshots_platform_count_fold()
    """,
    f"""
    CREATE FUNCTION snapshots_platform_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, platform, change)
        SELECT txid_current(), s.date, a.platform, sign * count(*)
        FROM changed s JOIN {_ACCOUNTS} a ON a.id = s.account_id GROUP BY s.date, a.platform;
        IF FOUND THEN
            {_REGISTER}
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_insert AFTER INSERT ON {_SNAPSHOTS}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION snapshots_platform_count_statement()
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_delete AFTER DELETE ON {_SNAPSHOTS}
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION snapshots_platform_count_statement()
    """,
    f"""
    CREATE FUNCTION snapshots_platform_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, platform, change)
        SELECT txid_current(), OLD.date, platform, -1 FROM {_ACCOUNTS} WHERE id = OLD.account_id
        UNION ALL
        SELECT txid_current(), NEW.date, platform, 1 FROM {_ACCOUNTS} WHERE id = NEW.account_id;
        {_REGISTER}
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_move AFTER UPDATE OF date, account_id ON {_SNAPSHOTS}
    FOR EACH ROW WHEN (OLD.date IS DISTINCT FROM NEW.date OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION snapshots_platform_count_move()
    """,
    f"""
    CREATE FUNCTION snapshots_platform_count_account() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, platform, change)
        SELECT txid_current(), date, OLD.platform, -1 FROM {_SNAPSHOTS} WHERE account_id = OLD.id
        UNION ALL
        SELECT txid_current(), date, NEW.platform, 1 FROM {_SNAPSHOTS} WHERE account_id = NEW.id;
        IF FOUND THEN
            {_REGISTER}
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_account AFTER UPDATE OF platform ON {_ACCOUNTS}
    FOR EACH ROW WHEN (OLD.platform IS DISTINCT FROM NEW.platform)
    EXECUTE FUNCTION snapshots_platform_count_account()
    """,
    f"""
    CREATE FUNCTION snapshots_platform_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {_COUNTS};
        DELETE FROM {_CHANGES};
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_truncate AFTER TRUNCATE ON {_SNAPSHOTS}
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_platform_count_truncate()
    """,
    _FILL,
]

POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS snapshots_platform_count_insert ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_platform_count_delete ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_platform_count_move ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_platform_count_truncate ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_platform_count_account ON {_ACCOUNTS}",
    f"DROP TABLE IF EXISTS {_OPEN}",
    "DROP FUNCTION IF EXISTS snapshots_platform_count_statement()",
    "DROP FUNCTION IF EXISTS snapshots_platform_count_move()",
    "DROP FUNCTION IF EXISTS snapshots_platform_count_account()",
    "DROP FUNCTION IF EXISTS snapshots_platform_count_truncate()",
    "DROP FUNCTION IF EXISTS snapshots_platform_count_fold()",
]


def _sqlite_add(date: str, platform: str, source: str) -> str:
    # WHERE true: SQLite's upsert after a SELECT needs a WHERE clause to parse.
    return (
        f"INSERT INTO {_COUNTS} (date, platform, snapshot_count) SELECT {date}, {platform}, 1 {source} "
        f"ON CONFLICT (date, platform) DO UPDATE SET snapshot_count = snapshot_count + 1;"
    )


def _sqlite_remove(date: str, platform: str) -> str:
    # An update, never an insert: a removal the table cannot match (it was emptied first, as the
    # tests' flush may do) must not leave a negative count behind.
    return (
        f"UPDATE {_COUNTS} SET snapshot_count = snapshot_count - 1 "
        f"WHERE date = {date} AND platform = {platform};"
    )


def _platform_of(account_id: str) -> str:
    return f"(SELECT platform FROM {_ACCOUNTS} WHERE id = {account_id})"


SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER snapshots_platform_count_insert AFTER INSERT ON {_SNAPSHOTS} FOR EACH ROW
    BEGIN {_sqlite_add("NEW.date", "platform", f"FROM {_ACCOUNTS} WHERE id = NEW.account_id")} END
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_delete AFTER DELETE ON {_SNAPSHOTS} FOR EACH ROW
    BEGIN {_sqlite_remove("OLD.date", _platform_of("OLD.account_id"))} END
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_move AFTER UPDATE OF date, account_id ON {_SNAPSHOTS} FOR EACH ROW
    WHEN OLD.date IS NOT NEW.date OR OLD.account_id IS NOT NEW.account_id
    BEGIN
        {_sqlite_remove("OLD.date", _platform_of("OLD.account_id"))}
        {_sqlite_add("NEW.date", "platform", f"FROM {_ACCOUNTS} WHERE id = NEW.account_id")}
    END
    """,
    f"""
    CREATE TRIGGER snapshots_platform_count_account AFTER UPDATE OF platform ON {_ACCOUNTS} FOR EACH ROW
    WHEN OLD.platform IS NOT NEW.platform
    BEGIN
        UPDATE {_COUNTS} SET snapshot_count = snapshot_count - 1
        WHERE platform = OLD.platform AND date IN (SELECT date FROM {_SNAPSHOTS} WHERE account_id = OLD.id);
        {_sqlite_add("date", "NEW.platform", f"FROM {_SNAPSHOTS} WHERE account_id = NEW.id")}
    END
    """,
    _FILL,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS snapshots_platform_count_insert",
    "DROP TRIGGER IF EXISTS snapshots_platform_count_delete",
    "DROP TRIGGER IF EXISTS snapshots_platform_count_move",
    "DROP TRIGGER IF EXISTS snapshots_platform_count_account",
]


#: (forward, reverse) statements per database vendor. Elsewhere the table stays empty and unused:
#: the grid counts platforms itself.
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
        ("accounts", "0001_initial"),
        ("snapshots", "0007_latest_engagement_rate"),
    ]

    operations = [
        migrations.CreateModel(
            name="SnapshotPlatformCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("date", models.DateField()),
                ("platform", models.CharField(max_length=20)),
                ("snapshot_count", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("date", "platform"), name="snapshot_platform_count_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SnapshotPlatformCountChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("txid", models.BigIntegerField()),
                ("date", models.DateField()),
                ("platform", models.CharField(max_length=20)),
                ("change", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["txid"], name="snapshot_platform_change_txid")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

"""Snapshots per (date, platform, bucket of accounts), maintained by triggers (`SnapshotBucketCount`),
as migration 0008 keeps them per (date, platform): a deep grid page finds the bucket its rows start
in from these counts, then walks at most half a bucket of accounts instead of half a platform.

An account's bucket is the greatest `GridBucket.first_handle` of its platform not after its handle
("" before every one): looked up in the boundaries (an index probe) wherever a trigger needs it, so
no column of the account has to be kept in step.

PostgreSQL: as 0008 (statement-level AFTER INSERT / AFTER DELETE triggers add one change row per
date, platform and bucket, tagged with the transaction, folded into the counts at its commit by a
deferred constraint trigger; row-level triggers for a snapshot moved to another day or account and
an account moved to another platform or renamed into another bucket; AFTER TRUNCATE empties them).

SQLite has one writer at a time: row-level triggers update `SnapshotBucketCount` directly.

Both: the buckets start with every 256th account of each platform in handle order, and their
counts from the snapshots that already exist, under a lock that keeps writers out between creating
the triggers and counting; `snapshots.grid_buckets` splits the buckets as accounts come.
"""

from django.db import migrations, models

_COUNTS = "snapshots_snapshotbucketcount"
_CHANGES = "snapshots_snapshotbucketcountchange"
_OPEN = "snapshots_snapshotbucketcount_open"
_BUCKETS = "snapshots_gridbucket"
_SNAPSHOTS = "snapshots_snapshot"
_ACCOUNTS = "accounts_account"


def _bucket_of(platform: str, handle: str) -> str:
    """SQL: the bucket of an account of `platform` named `handle` (both SQL expressions)."""
    return (
        f"coalesce((SELECT max(b.first_handle) FROM {_BUCKETS} b "
        f"WHERE b.platform = {platform} AND b.first_handle <= {handle}), '')"
    )


#: The buckets to start with: every 256th account of each platform in handle order begins one
#: (`snapshots.grid_buckets.ACCOUNTS_PER_BUCKET`).
_START_BUCKETS = (
    f"INSERT INTO {_BUCKETS} (platform, first_handle) SELECT platform, handle FROM ("
    f"SELECT platform, handle, row_number() OVER (PARTITION BY platform ORDER BY handle) AS n FROM {_ACCOUNTS}"
    ") numbered WHERE n > 1 AND n %% 256 = 1"  # %%: the statement goes out with parameters
)

#: Each account's bucket looked up once, then its snapshots counted (26 s at 36 M snapshots).
_FILL = (
    f"WITH a AS MATERIALIZED (SELECT acc.id, acc.platform, {_bucket_of('acc.platform', 'acc.handle')} AS bucket "
    f"FROM {_ACCOUNTS} acc) "
    f"INSERT INTO {_COUNTS} (date, platform, bucket, snapshot_count) "
    f"SELECT s.date, a.platform, a.bucket, count(*) FROM {_SNAPSHOTS} s JOIN a ON a.id = s.account_id "
    "GROUP BY s.date, a.platform, a.bucket"
)

_REGISTER = f"INSERT INTO {_OPEN} (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;"

POSTGRESQL_FORWARD = [
    f"LOCK TABLE {_SNAPSHOTS}, {_ACCOUNTS} IN SHARE ROW EXCLUSIVE MODE",
    f"CREATE TABLE {_OPEN} (txid bigint PRIMARY KEY)",
    f"""
    CREATE FUNCTION snapshots_bucket_count_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        WITH moved AS (
            DELETE FROM {_CHANGES} WHERE txid = NEW.txid RETURNING date, platform, bucket, change
        )
        INSERT INTO {_COUNTS} AS c (date, platform, bucket, snapshot_count)
        SELECT date, platform, bucket, sum(change) FROM moved
        GROUP BY date, platform, bucket ORDER BY date, platform, bucket
        ON CONFLICT (date, platform, bucket)
        DO UPDATE SET snapshot_count = c.snapshot_count + excluded.snapshot_count;
        DELETE FROM {_OPEN} WHERE txid = NEW.txid;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE CONSTRAINT TRIGGER snapshots_bucket_count_fold AFTER INSERT ON {_OPEN}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION snapshots_bucket_count_fold()
    """,
    f"""
    CREATE FUNCTION snapshots_bucket_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, platform, bucket, change)
        SELECT txid_current(), s.date, a.platform, {_bucket_of("a.platform", "a.handle")}, sign * count(*)
        FROM changed s JOIN {_ACCOUNTS} a ON a.id = s.account_id GROUP BY 2, 3, 4;
        IF FOUND THEN
            {_REGISTER}
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_insert AFTER INSERT ON {_SNAPSHOTS}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION snapshots_bucket_count_statement()
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_delete AFTER DELETE ON {_SNAPSHOTS}
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION snapshots_bucket_count_statement()
    """,
    f"""
    CREATE FUNCTION snapshots_bucket_count_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {_CHANGES} (txid, date, platform, bucket, change)
        SELECT txid_current(), OLD.date, a.platform, {_bucket_of("a.platform", "a.handle")}, -1
        FROM {_ACCOUNTS} a WHERE a.id = OLD.account_id
        UNION ALL
        SELECT txid_current(), NEW.date, a.platform, {_bucket_of("a.platform", "a.handle")}, 1
        FROM {_ACCOUNTS} a WHERE a.id = NEW.account_id;
        {_REGISTER}
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_move AFTER UPDATE OF date, account_id ON {_SNAPSHOTS}
    FOR EACH ROW WHEN (OLD.date IS DISTINCT FROM NEW.date OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION snapshots_bucket_count_move()
    """,
    f"""
    CREATE FUNCTION snapshots_bucket_count_account() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        old_bucket text := {_bucket_of("OLD.platform", "OLD.handle")};
        new_bucket text := {_bucket_of("NEW.platform", "NEW.handle")};
    BEGIN
        IF OLD.platform IS NOT DISTINCT FROM NEW.platform AND old_bucket = new_bucket THEN
            RETURN NULL;
        END IF;
        INSERT INTO {_CHANGES} (txid, date, platform, bucket, change)
        SELECT txid_current(), date, OLD.platform, old_bucket, -1 FROM {_SNAPSHOTS} WHERE account_id = OLD.id
        UNION ALL
        SELECT txid_current(), date, NEW.platform, new_bucket, 1 FROM {_SNAPSHOTS} WHERE account_id = NEW.id;
        IF FOUND THEN
            {_REGISTER}
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_account AFTER UPDATE OF platform, handle ON {_ACCOUNTS}
    FOR EACH ROW WHEN (OLD.platform IS DISTINCT FROM NEW.platform OR OLD.handle IS DISTINCT FROM NEW.handle)
    EXECUTE FUNCTION snapshots_bucket_count_account()
    """,
    f"""
    CREATE FUNCTION snapshots_bucket_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {_COUNTS};
        DELETE FROM {_CHANGES};
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_truncate AFTER TRUNCATE ON {_SNAPSHOTS}
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_bucket_count_truncate()
    """,
    _START_BUCKETS,
    _FILL,
]

POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS snapshots_bucket_count_insert ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_bucket_count_delete ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_bucket_count_move ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_bucket_count_truncate ON {_SNAPSHOTS}",
    f"DROP TRIGGER IF EXISTS snapshots_bucket_count_account ON {_ACCOUNTS}",
    f"DROP TABLE IF EXISTS {_OPEN}",
    "DROP FUNCTION IF EXISTS snapshots_bucket_count_statement()",
    "DROP FUNCTION IF EXISTS snapshots_bucket_count_move()",
    "DROP FUNCTION IF EXISTS snapshots_bucket_count_account()",
    "DROP FUNCTION IF EXISTS snapshots_bucket_count_truncate()",
    "DROP FUNCTION IF EXISTS snapshots_bucket_count_fold()",
]


def _sqlite_add(date: str, platform: str, bucket: str, source: str) -> str:
    # `source` ends in a WHERE clause: SQLite's upsert after a SELECT needs one to parse.
    return (
        f"INSERT INTO {_COUNTS} (date, platform, bucket, snapshot_count) "
        f"SELECT {date}, {platform}, {bucket}, 1 {source} "
        f"ON CONFLICT (date, platform, bucket) DO UPDATE SET snapshot_count = snapshot_count + 1;"
    )


def _sqlite_remove(date: str, account_id: str) -> str:
    # An update, never an insert: a removal the table cannot match (it was emptied first, as the
    # tests' flush may do) must not leave a negative count behind.
    return (
        f"UPDATE {_COUNTS} SET snapshot_count = snapshot_count - 1 WHERE date = {date} "
        f"AND (platform, bucket) = (SELECT a.platform, {_bucket_of('a.platform', 'a.handle')} "
        f"FROM {_ACCOUNTS} a WHERE a.id = {account_id});"
    )


def _sqlite_add_snapshot(date: str, account_id: str) -> str:
    return _sqlite_add(
        date,
        "a.platform",
        _bucket_of("a.platform", "a.handle"),
        f"FROM {_ACCOUNTS} a WHERE a.id = {account_id}",
    )


SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER snapshots_bucket_count_insert AFTER INSERT ON {_SNAPSHOTS} FOR EACH ROW
    BEGIN {_sqlite_add_snapshot("NEW.date", "NEW.account_id")} END
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_delete AFTER DELETE ON {_SNAPSHOTS} FOR EACH ROW
    BEGIN {_sqlite_remove("OLD.date", "OLD.account_id")} END
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_move AFTER UPDATE OF date, account_id ON {_SNAPSHOTS} FOR EACH ROW
    WHEN OLD.date IS NOT NEW.date OR OLD.account_id IS NOT NEW.account_id
    BEGIN
        {_sqlite_remove("OLD.date", "OLD.account_id")}
        {_sqlite_add_snapshot("NEW.date", "NEW.account_id")}
    END
    """,
    f"""
    CREATE TRIGGER snapshots_bucket_count_account AFTER UPDATE OF platform, handle ON {_ACCOUNTS} FOR EACH ROW
    WHEN OLD.platform IS NOT NEW.platform OR OLD.handle IS NOT NEW.handle
    BEGIN
        UPDATE {_COUNTS} SET snapshot_count = snapshot_count - 1
        WHERE platform = OLD.platform AND bucket = {_bucket_of("OLD.platform", "OLD.handle")}
        AND date IN (SELECT date FROM {_SNAPSHOTS} WHERE account_id = OLD.id);
        {_sqlite_add("date", "NEW.platform", _bucket_of("NEW.platform", "NEW.handle"), f"FROM {_SNAPSHOTS} WHERE account_id = NEW.id")}
    END
    """,
    _START_BUCKETS,
    _FILL,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS snapshots_bucket_count_insert",
    "DROP TRIGGER IF EXISTS snapshots_bucket_count_delete",
    "DROP TRIGGER IF EXISTS snapshots_bucket_count_move",
    "DROP TRIGGER IF EXISTS snapshots_bucket_count_account",
]


#: (forward, reverse) statements per database vendor. Elsewhere the tables stay empty and unused:
#: the grid walks a platform's accounts from the nearer end instead.
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
        ("accounts", "0003_account_count"),
        ("snapshots", "0009_latest_summary_row"),
    ]

    operations = [
        migrations.CreateModel(
            name="GridBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("platform", models.CharField(max_length=20)),
                ("first_handle", models.CharField(max_length=255)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("platform", "first_handle"), name="grid_bucket_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="SnapshotBucketCount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("date", models.DateField()),
                ("platform", models.CharField(max_length=20)),
                ("bucket", models.CharField(max_length=255)),
                ("snapshot_count", models.BigIntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("date", "platform", "bucket"), name="snapshot_bucket_count_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="SnapshotBucketCountChange",
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
                ("bucket", models.CharField(max_length=255)),
                ("change", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["txid"], name="snapshot_bucket_change_txid")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

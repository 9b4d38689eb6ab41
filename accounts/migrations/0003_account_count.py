"""The number of accounts, maintained by triggers on the account table (`AccountCount`), as
`snapshots/0003` keeps the snapshots per date and with the same scheme.

PostgreSQL: statement-level AFTER INSERT / AFTER DELETE triggers read the statement's transition
table and add one `AccountCountChange` row, tagged with the transaction (no lock on the shared row:
two writers that add accounts never wait on each other); the transaction's first such statement
registers it in `accounts_accountcount_open`, whose deferred constraint trigger folds its changes
into `AccountCount` as it commits. An AFTER TRUNCATE trigger empties the count.

SQLite has one writer at a time: row-level triggers update `AccountCount` directly.

Both: the row is filled from the accounts that already exist, under a lock that keeps writers out
between creating the triggers and counting.
"""

from django.db import migrations, models

_COUNT = "accounts_accountcount"
_CHANGES = "accounts_accountcountchange"
_OPEN = "accounts_accountcount_open"
_ACCOUNTS = "accounts_account"

_FILL = f"INSERT INTO {_COUNT} (id, account_count) SELECT 1, count(*) FROM {_ACCOUNTS}"

POSTGRESQL_FORWARD = [
    f"LOCK TABLE {_ACCOUNTS} IN SHARE ROW EXCLUSIVE MODE",
    f"CREATE TABLE {_OPEN} (txid bigint PRIMARY KEY)",
    f"""
    CREATE FUNCTION accounts_count_fold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        WITH moved AS (DELETE FROM {_CHANGES} WHERE txid = NEW.txid RETURNING change)
        INSERT INTO {_COUNT} AS c (id, account_count)
        SELECT 1, sum(change) FROM moved HAVING count(*) > 0
        ON CONFLICT (id) DO UPDATE SET account_count = c.account_count + excluded.account_count;
        DELETE FROM {_OPEN} WHERE txid = NEW.txid;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE CONSTRAINT TRIGGER accounts_count_fold AFTER INSERT ON {_OPEN}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION accounts_count_fold()
    """,
    f"""
    CREATE FUNCTION accounts_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        sign bigint := CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END;
    BEGIN
        INSERT INTO {_CHANGES} (txid, change)
        SELECT txid_current(), sign * count(*) FROM changed HAVING count(*) > 0;
        IF FOUND THEN
            INSERT INTO {_OPEN} (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER accounts_count_insert AFTER INSERT ON {_ACCOUNTS}
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION accounts_count_statement()
    """,
    f"""
    CREATE TRIGGER accounts_count_delete AFTER DELETE ON {_ACCOUNTS}
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION accounts_count_statement()
    """,
    f"""
    CREATE FUNCTION accounts_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {_COUNT};
        DELETE FROM {_CHANGES};
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER accounts_count_truncate AFTER TRUNCATE ON {_ACCOUNTS}
    FOR EACH STATEMENT EXECUTE FUNCTION accounts_count_truncate()
    """,
    _FILL,
]

POSTGRESQL_REVERSE = [
    f"DROP TRIGGER IF EXISTS accounts_count_insert ON {_ACCOUNTS}",
    f"DROP TRIGGER IF EXISTS accounts_count_delete ON {_ACCOUNTS}",
    f"DROP TRIGGER IF EXISTS accounts_count_truncate ON {_ACCOUNTS}",
    f"DROP TABLE IF EXISTS {_OPEN}",
    "DROP FUNCTION IF EXISTS accounts_count_statement()",
    "DROP FUNCTION IF EXISTS accounts_count_truncate()",
    "DROP FUNCTION IF EXISTS accounts_count_fold()",
]

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER accounts_count_insert AFTER INSERT ON {_ACCOUNTS} FOR EACH ROW
    BEGIN
        INSERT INTO {_COUNT} (id, account_count) VALUES (1, 1)
        ON CONFLICT (id) DO UPDATE SET account_count = account_count + 1;
    END
    """,
    # An update, never an insert: a removal the row cannot match (it was emptied first, as the
    # tests' flush may do) must not leave a negative count behind.
    f"""
    CREATE TRIGGER accounts_count_delete AFTER DELETE ON {_ACCOUNTS} FOR EACH ROW
    BEGIN UPDATE {_COUNT} SET account_count = account_count - 1 WHERE id = 1; END
    """,
    _FILL,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS accounts_count_insert",
    "DROP TRIGGER IF EXISTS accounts_count_delete",
]

#: (forward, reverse) statements per database vendor. Elsewhere the table stays empty and unused:
#: the account list counts the accounts itself.
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
        ("accounts", "0002_search_trigram_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountCount",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("account_count", models.BigIntegerField()),
            ],
        ),
        migrations.CreateModel(
            name="AccountCountChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("txid", models.BigIntegerField()),
                ("change", models.BigIntegerField()),
            ],
            options={
                "indexes": [models.Index(fields=["txid"], name="account_count_change_txid_idx")],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

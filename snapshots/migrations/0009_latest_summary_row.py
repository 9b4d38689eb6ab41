"""Each latest row carries its account's whole /api/summary object (`AccountLatest.summary_object`),
its order (`summary_key`) and its account's `is_active`, so the uncached summary reads one table
and renders nothing.

The write services fill them with the values (`snapshots.services.latest_refresh`). Database
triggers keep them when the account side changes, whichever path changes it (a service, the admin,
an import, a queryset's update(), a deleted organization's accounts set to none): on the account
table for a change of platform, handle, organization or activity, on the organization table for a
change of name.

PostgreSQL: one SQL function renders an object (`snapshots_summary_object`), used by the triggers
and by the services' refresh statement alike. An UPDATE of those columns first takes the latest
table's SHARE ROW EXCLUSIVE lock (a statement-level BEFORE trigger, before it locks any account or
organization row), so an account change and a refresh of latest rows never run side by side: a
refresh in flight commits first, then the change rewrites its rows (new rows included); a refresh
that comes after the change waits for its commit, then reads the new names. Two changes wait for
each other the same way. Taking the lock before any row is locked keeps a writer that refreshes
latest rows and then updates an account (a collection that learned an account's id) from
deadlocking with a change to that account. Readers never wait.

SQLite has one writer at a time: the triggers render with json_quote, which escapes as Python's
json module and PostgreSQL's to_json do.

Both: the rows that already exist are filled here, under a lock that keeps writers out meanwhile.
"""

from django.db import migrations, models

_LATEST = "snapshots_accountlatest"
_ACCOUNTS = "accounts_account"
_ORGANIZATIONS = "accounts_organization"

#: An account's change that changes its summary object, order or presence.
_CHANGED = (
    "OLD.platform IS DISTINCT FROM NEW.platform OR OLD.handle IS DISTINCT FROM NEW.handle "
    "OR OLD.organization_id IS DISTINCT FROM NEW.organization_id OR OLD.is_active IS DISTINCT FROM NEW.is_active"
)

POSTGRESQL_FORWARD = [
    f"LOCK TABLE {_LATEST}, {_ACCOUNTS}, {_ORGANIZATIONS} IN SHARE ROW EXCLUSIVE MODE",
    # As JSONRenderer writes the object: to_json escapes as Python's json module (ensure_ascii off),
    # and the two line separators are escaped as JSONRenderer escapes them. Inlined where it is used.
    r"""
    CREATE FUNCTION snapshots_summary_object(platform text, handle text, org_name text, fragment text)
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT replace(replace(
            '{"platform":' || to_json(platform)::text || ',"handle":' || to_json(handle)::text
            || ',"org_name":' || coalesce(to_json(org_name)::text, 'null') || ',' || fragment || '}',
            U&'\2028', '\u2028'), U&'\2029', '\u2029')
    $$
    """,
    f"""
    CREATE FUNCTION snapshots_latest_summary_lock() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        LOCK TABLE {_LATEST} IN SHARE ROW EXCLUSIVE MODE;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_latest_summary_lock
    BEFORE UPDATE OF platform, handle, organization_id, is_active ON {_ACCOUNTS}
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_latest_summary_lock()
    """,
    f"""
    CREATE TRIGGER snapshots_latest_summary_lock BEFORE UPDATE OF name ON {_ORGANIZATIONS}
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_latest_summary_lock()
    """,
    f"""
    CREATE FUNCTION snapshots_latest_summary_account() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {_LATEST} l SET
            summary_object = snapshots_summary_object(
                NEW.platform, NEW.handle,
                (SELECT o.name FROM {_ORGANIZATIONS} o WHERE o.id = NEW.organization_id), l.summary_json
            ),
            summary_key = NEW.platform || ' ' || NEW.handle,
            is_active = NEW.is_active
        WHERE l.account_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_latest_summary_account
    AFTER UPDATE OF platform, handle, organization_id, is_active ON {_ACCOUNTS}
    FOR EACH ROW WHEN ({_CHANGED}) EXECUTE FUNCTION snapshots_latest_summary_account()
    """,
    f"""
    CREATE FUNCTION snapshots_latest_summary_organization() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {_LATEST} l
        SET summary_object = snapshots_summary_object(a.platform, a.handle, NEW.name, l.summary_json)
        FROM {_ACCOUNTS} a WHERE a.organization_id = NEW.id AND l.account_id = a.id;
        RETURN NULL;
    END
    $$
    """,
    f"""
    CREATE TRIGGER snapshots_latest_summary_organization AFTER UPDATE OF name ON {_ORGANIZATIONS}
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION snapshots_latest_summary_organization()
    """,
    f"""
    UPDATE {_LATEST} l SET
        summary_object = snapshots_summary_object(a.platform, a.handle, o.name, l.summary_json),
        summary_key = a.platform || ' ' || a.handle,
        is_active = a.is_active
    FROM {_ACCOUNTS} a LEFT JOIN {_ORGANIZATIONS} o ON o.id = a.organization_id
    WHERE a.id = l.account_id
    """,
    # The whole summary's order (`snapshots.selectors.summary_body`): read in order, never sorted.
    f'CREATE INDEX latest_summary_order_idx ON {_LATEST} (summary_key COLLATE "C") WHERE is_active',
]

POSTGRESQL_REVERSE = [
    "DROP INDEX IF EXISTS latest_summary_order_idx",
    f"DROP TRIGGER IF EXISTS snapshots_latest_summary_lock ON {_ACCOUNTS}",
    f"DROP TRIGGER IF EXISTS snapshots_latest_summary_lock ON {_ORGANIZATIONS}",
    f"DROP TRIGGER IF EXISTS snapshots_latest_summary_account ON {_ACCOUNTS}",
    f"DROP TRIGGER IF EXISTS snapshots_latest_summary_organization ON {_ORGANIZATIONS}",
    "DROP FUNCTION IF EXISTS snapshots_latest_summary_account()",
    "DROP FUNCTION IF EXISTS snapshots_latest_summary_organization()",
    "DROP FUNCTION IF EXISTS snapshots_latest_summary_lock()",
    "DROP FUNCTION IF EXISTS snapshots_summary_object(text, text, text, text)",
]


def _sqlite_object(platform: str, handle: str, org_name: str, fragment: str) -> str:
    """`snapshots_summary_object` for SQLite (json_quote of a null is null)."""
    text = (
        f"""'{{"platform":' || json_quote({platform}) || ',"handle":' || json_quote({handle}) """
        f"""|| ',"org_name":' || json_quote({org_name}) || ',' || {fragment} || '}}'"""
    )
    return rf"replace(replace({text}, char(8232), '\u2028'), char(8233), '\u2029')"


def _sqlite_row(account: str) -> str:
    """(summary_object, summary_key, is_active) of the latest row of the account `account`."""
    return (
        f"(SELECT {_sqlite_object('a.platform', 'a.handle', 'o.name', f'{_LATEST}.summary_json')}, "
        f"a.platform || ' ' || a.handle, a.is_active FROM {_ACCOUNTS} a "
        f"LEFT JOIN {_ORGANIZATIONS} o ON o.id = a.organization_id WHERE a.id = {account})"
    )


_SQLITE_SET_ROW = f"UPDATE {_LATEST} SET (summary_object, summary_key, is_active) = "

SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER snapshots_latest_summary_account
    AFTER UPDATE OF platform, handle, organization_id, is_active ON {_ACCOUNTS} FOR EACH ROW
    WHEN {_CHANGED.replace("IS DISTINCT FROM", "IS NOT")}
    BEGIN {_SQLITE_SET_ROW}{_sqlite_row("NEW.id")} WHERE account_id = NEW.id; END
    """,
    f"""
    CREATE TRIGGER snapshots_latest_summary_organization AFTER UPDATE OF name ON {_ORGANIZATIONS} FOR EACH ROW
    WHEN OLD.name IS NOT NEW.name
    BEGIN
        {_SQLITE_SET_ROW}{_sqlite_row(f"{_LATEST}.account_id")}
        WHERE account_id IN (SELECT id FROM {_ACCOUNTS} WHERE organization_id = NEW.id);
    END
    """,
    f"{_SQLITE_SET_ROW}{_sqlite_row(f'{_LATEST}.account_id')}",
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS snapshots_latest_summary_account",
    "DROP TRIGGER IF EXISTS snapshots_latest_summary_organization",
]

_STATEMENTS = {
    "postgresql": (POSTGRESQL_FORWARD, POSTGRESQL_REVERSE),
    "sqlite": (SQLITE_FORWARD, SQLITE_REVERSE),
}


def _run(schema_editor, *, forward: bool) -> None:
    statements = _STATEMENTS.get(schema_editor.connection.vendor)
    if statements is None:
        raise NotImplementedError(f"No summary triggers for {schema_editor.connection.vendor}.")
    for statement in statements[0] if forward else statements[1]:
        schema_editor.execute(statement)


def create_triggers(apps, schema_editor):
    _run(schema_editor, forward=True)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("snapshots", "0008_snapshot_platform_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountlatest",
            name="summary_object",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="accountlatest",
            name="summary_key",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="accountlatest",
            name="is_active",
            field=models.BooleanField(default=True, editable=False),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]

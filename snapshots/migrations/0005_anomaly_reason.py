"""Anomaly flags: `Snapshot.anomaly_reason` and the latest row's copy of it (`snapshots.anomalies`).

Cheap on a populated table: both columns are nullable without a default, so PostgreSQL adds them
to the catalogue without rewriting the table, and SQLite adds them with ALTER TABLE ADD COLUMN
(a NOT NULL column would make Django rebuild the SQLite table and lose the triggers of migration
0003). The partial index holds only flagged days; building it reads the table once.

Every existing day starts unflagged: `manage.py rebuild_anomalies` computes the flags of the
history already stored (the write services keep them right from then on). The latest rows'
pre-rendered summary gains the two new keys here.
"""

from django.db import migrations, models

_LATEST = "snapshots_accountlatest"
_UNFLAGGED = ',"anomaly":false,"anomaly_reason":null'


def drop_summary_keys(apps, schema_editor):
    """Back to the fragment without the anomaly keys (they are its last part)."""
    AccountLatest = apps.get_model("snapshots", "AccountLatest")
    rows = []
    for row in AccountLatest.objects.only("pk", "summary_json").iterator(2000):
        row.summary_json = row.summary_json.split(',"anomaly":', 1)[0]
        rows.append(row)
    AccountLatest.objects.bulk_update(rows, ["summary_json"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("snapshots", "0004_delete_post"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountlatest",
            name="anomaly_reason",
            field=models.CharField(blank=True, max_length=200, null=True),
        ),
        migrations.RunSQL(
            f"UPDATE {_LATEST} SET summary_json = summary_json || '{_UNFLAGGED}' WHERE summary_json <> ''",
            migrations.RunSQL.noop,
        ),
        migrations.RunPython(migrations.RunPython.noop, drop_summary_keys),
        migrations.AddField(
            model_name="snapshot",
            name="anomaly_reason",
            field=models.CharField(blank=True, editable=False, max_length=200, null=True),
        ),
        migrations.AddIndex(
            model_name="snapshot",
            index=models.Index(
                condition=models.Q(("anomaly_reason__isnull", False)),
                fields=["-date"],
                name="snapshot_anomaly_date_idx",
            ),
        ),
    ]

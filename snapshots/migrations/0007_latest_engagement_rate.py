"""The latest row's engagement rate (`snapshots.engagement`): a column to rank accounts by, and a key
of its pre-rendered summary.

The column is nullable without a default, so PostgreSQL adds it to the catalogue without rewriting
the table and SQLite with ALTER TABLE ADD COLUMN. Existing rows get their rate and their summary
fragment here, computed as the write services compute them (one pass over the latest rows, one per
account, never over the snapshots).
"""

import json

from django.db import migrations, models

_BATCH = 2000


def _number(value) -> str:
    return "null" if value is None else str(int(value))


def _rate(engagement, followers) -> float | None:
    """`snapshots.engagement.engagement_rate` as of this migration: 8 places, half away from zero."""
    if engagement is None or followers is None or followers <= 0:
        return None
    units = (2 * abs(engagement) * 10**8 + followers) // (2 * followers)
    return (units if engagement >= 0 else -units) / 10**8


def _fragment(row, *, with_rate: bool) -> str:
    """The summary fragment as `snapshots.services.summary_fragment` writes it (with the rate) or
    wrote it before this migration (without)."""
    rate = f',"engagement_rate":{"null" if row.engagement_rate is None else repr(row.engagement_rate)}'
    anomaly = (
        'false,"anomaly_reason":null'
        if row.anomaly_reason is None
        else f'true,"anomaly_reason":{json.dumps(row.anomaly_reason, ensure_ascii=False)}'
    )
    return (
        f'"followers":{_number(row.followers)},"engagement":{_number(row.engagement)}'
        f'{rate if with_rate else ""},"posts":{_number(row.posts)},"date":"{row.date.isoformat()}",'
        f'"anomaly":{anomaly}'
    )


def _rewrite(apps, *, with_rate: bool) -> None:
    AccountLatest = apps.get_model("snapshots", "AccountLatest")
    fields = ["pk", "followers", "engagement", "posts", "date", "anomaly_reason", "engagement_rate"]
    batch = []
    for row in AccountLatest.objects.only(*fields).order_by("pk").iterator(_BATCH):
        if with_rate:
            row.engagement_rate = _rate(row.engagement, row.followers)
        row.summary_json = _fragment(row, with_rate=with_rate)
        batch.append(row)
        if len(batch) >= _BATCH:
            AccountLatest.objects.bulk_update(batch, ["engagement_rate", "summary_json"])
            batch = []
    if batch:
        AccountLatest.objects.bulk_update(batch, ["engagement_rate", "summary_json"])


def add_rates(apps, schema_editor):
    _rewrite(apps, with_rate=True)


def drop_rates(apps, schema_editor):
    _rewrite(apps, with_rate=False)


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0006_post"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountlatest",
            name="engagement_rate",
            field=models.FloatField(null=True),
        ),
        migrations.RunPython(add_rates, drop_rates),
    ]

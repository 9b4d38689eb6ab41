from django.db import migrations, models


def fill_summary_json(apps, schema_editor):
    """Pre-render the summary part of the rows that already exist (as latest_compute does)."""
    AccountLatest = apps.get_model("snapshots", "AccountLatest")

    def number(value):
        return "null" if value is None else str(int(value))

    batch = []
    for row in AccountLatest.objects.only("pk", "followers", "engagement", "posts", "date").iterator(2000):
        row.summary_json = (
            f'"followers":{number(row.followers)},"engagement":{number(row.engagement)},'
            f'"posts":{number(row.posts)},"date":"{row.date.isoformat()}"'
        )
        batch.append(row)
        if len(batch) >= 2000:
            AccountLatest.objects.bulk_update(batch, ["summary_json"])
            batch = []
    if batch:
        AccountLatest.objects.bulk_update(batch, ["summary_json"])


class Migration(migrations.Migration):
    dependencies = [
        ("snapshots", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="accountlatest",
            name="summary_json",
            field=models.TextField(default="", editable=False),
        ),
        migrations.RunPython(fill_summary_json, migrations.RunPython.noop),
    ]

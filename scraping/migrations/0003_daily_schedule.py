"""The daily collection's periodic task, at SOCIALMETRICS_COLLECT_AT in SOCIALMETRICS_TIME_ZONE, made
once: later changes belong to the admin ("Periodic tasks"), and migrating again keeps them."""

import json

from django.conf import settings
from django.db import migrations

from scraping.schedule import DAILY_TASK, TASK, parse_collect_at


def create_daily_task(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    if PeriodicTask.objects.filter(name=DAILY_TASK).exists():
        return
    at = parse_collect_at(settings.SOCIALMETRICS_COLLECT_AT)
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(at.minute),
        hour=str(at.hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.SOCIALMETRICS_TIME_ZONE,
    )
    PeriodicTask.objects.create(
        name=DAILY_TASK,
        task=TASK,
        crontab=crontab,
        kwargs=json.dumps({"mode": settings.SOCIALMETRICS_SCHEDULED_MODE}),
        description="Collects every active account once a day. Change the time, the time zone or the "
        'mode ("real" or "simulated" in Keyword arguments) here; untick Enabled to stop it.',
    )


def remove_daily_task(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=DAILY_TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scraping", "0002_run_lock_token"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_daily_task, remove_daily_task)]

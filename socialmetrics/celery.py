"""Celery, for when collection outgrows the web process: set CELERY_BROKER_URL (e.g. the Redis
URL) and background runs started from the API go to a worker:

    celery -A socialmetrics worker --concurrency 1 --loglevel INFO

Without CELERY_BROKER_URL, runs started from the API use a thread of the web process. With
SOCIALMETRICS_COLLECT_BACKEND=celery (or `manage.py collect_metrics --backend celery`) a run is split
into batches that every worker, on any machine, takes from the broker (scraping/distributed.py);
start as many workers as there are cores to spare.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.prod")

app = Celery("socialmetrics")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

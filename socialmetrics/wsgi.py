"""WSGI entry point (gunicorn socialmetrics.wsgi). Production settings unless told otherwise."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.prod")

application = get_wsgi_application()

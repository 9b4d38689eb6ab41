"""WSGI entry point (gunicorn socialmetrics.wsgi). Production settings unless told otherwise.

Django's application, with anonymous cache hits of the read API answered in front of its handler
(`socialmetrics.cache.ReadCacheApplication`); every other request goes to Django's handler.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialmetrics.settings.prod")

django_application = get_wsgi_application()

from socialmetrics.cache import ReadCacheApplication  # noqa: E402  (imports the apps set up above)

application = ReadCacheApplication(django_application)

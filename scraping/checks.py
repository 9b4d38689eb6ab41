"""System checks of the collection settings read from the environment as JSON: a wrong platform
name, URL or budget stops `manage.py`, gunicorn's start and the workers with the reason, instead
of being ignored or failing in the middle of a run."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

from .collectors.base import DEFAULT_BASE_URLS
from .ratelimit import DEFAULT_LIMITS

#: One id per setting, so a deployment can tell which one is wrong.
CHECK_IDS = {
    "SOCIALMETRICS_API_BASE_URLS": "scraping.E001",
    "SOCIALMETRICS_MASTODON_BASE_URL": "scraping.E002",
    "SOCIALMETRICS_RATE_LIMITS": "scraping.E003",
    "SOCIALMETRICS_MAX_CONCURRENCY": "scraping.E004",
}


def _url_error(value) -> str | None:
    if not isinstance(value, str):
        return f"{value!r} is not a URL"
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return f"{value!r} is not an http(s) URL"
    return None


def _platform_key(key: str) -> bool:
    """A limiter key: a platform of DEFAULT_LIMITS, or "mastodon:<host>" for one Mastodon server."""
    return key in DEFAULT_LIMITS or (key.startswith("mastodon:") and len(key) > len("mastodon:"))


@register()
def collection_settings(app_configs, **kwargs) -> list[Error]:
    errors: list[Error] = []

    def error(setting: str, message: str, hint: str) -> None:
        errors.append(Error(f"{setting}: {message}.", hint=hint, id=CHECK_IDS[setting]))

    urls = settings.SOCIALMETRICS_API_BASE_URLS
    known = ", ".join(sorted(DEFAULT_BASE_URLS))
    if not isinstance(urls, dict):
        error(
            "SOCIALMETRICS_API_BASE_URLS",
            "expected a JSON object",
            'e.g. {"bluesky": "http://127.0.0.1:9000"}',
        )
    else:
        for key, value in urls.items():
            if key not in DEFAULT_BASE_URLS:
                error("SOCIALMETRICS_API_BASE_URLS", f"no platform API is called {key!r}", f"one of: {known}")
            elif problem := _url_error(value):
                error("SOCIALMETRICS_API_BASE_URLS", f"{key}: {problem}", "e.g. http://127.0.0.1:9000")
    mastodon = settings.SOCIALMETRICS_MASTODON_BASE_URL
    if mastodon and (problem := _url_error(mastodon)):
        error("SOCIALMETRICS_MASTODON_BASE_URL", problem, "e.g. http://127.0.0.1:9001")
    for name, valid, hint in (
        (
            "SOCIALMETRICS_RATE_LIMITS",
            lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(_positive(n) for n in v),
            'requests and seconds, e.g. {"github": [5000, 3600]}',
        ),
        ("SOCIALMETRICS_MAX_CONCURRENCY", lambda v: isinstance(v, int) and v >= 1, 'e.g. {"x": 2}'),
    ):
        value = getattr(settings, name)
        if not isinstance(value, dict):
            error(name, "expected a JSON object", hint)
            continue
        for key, item in value.items():
            if not _platform_key(key):
                error(name, f"no platform is called {key!r}", f"one of: {', '.join(sorted(DEFAULT_LIMITS))}")
            elif not valid(item):
                error(name, f"{key}: {item!r} is not valid", hint)
    return errors


def _positive(number) -> bool:
    return isinstance(number, (int, float)) and not isinstance(number, bool) and number > 0

"""Fixtures of the posts tests: posts written through the service, and the platforms' APIs on a local
server (pytest-httpserver on 127.0.0.1) for the collectors, with the collector tests' fake clock,
limiter and local-only HTTP client."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Platform
from scraping.collectors.base import DEFAULT_BASE_URLS, get_collector, make_client
from snapshots.services import PostRow, post_upsert_many
from socialmetrics.dates import product_zone
from tests.factories import AccountFactory
from tests.scraping.conftest import _local_only, fake_time, limiter, ref  # noqa: F401 - fixtures

__all__ = ["at", "post"]


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """A moment of a calendar day in the product's time zone."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=product_zone())


def post(account, post_id: str, published: dt.datetime, **counts) -> PostRow:
    return PostRow(account_id=account.pk, platform_post_id=post_id, published_at=published, **counts)


@pytest.fixture
def sky(db):
    return AccountFactory(platform=Platform.BLUESKY, handle="city.bsky.social", profile_url="")


@pytest.fixture
def platforms(settings, httpserver):
    """Every platform's base URL (and Mastodon instances) point at the local server."""
    base = httpserver.url_for("").rstrip("/")
    settings.SOCIALMETRICS_API_BASE_URLS = dict.fromkeys(DEFAULT_BASE_URLS, base)
    settings.SOCIALMETRICS_MASTODON_BASE_URL = base
    return httpserver


@pytest.fixture
def local_client():
    """An HTTP client that only talks to this machine (not named `client`: that is Django's)."""
    client = make_client()
    client.event_hooks["request"].append(_local_only)
    yield client
    client.close()


@pytest.fixture
def make_collector(platforms, local_client, limiter, fake_time):  # noqa: F811 - the imported fixtures
    def make(platform: str, **kwargs):
        options = {
            "client": local_client,
            "limiter": limiter,
            "clock": fake_time.clock,
            "sleep": fake_time.sleep,
        }
        return get_collector(platform, **{**options, **kwargs})

    return make


def write(*rows: PostRow):
    return post_upsert_many(rows=rows)

"""Posts in the admin: listed with their account, publication time, readable counts and a link;
searchable, filtered by platform; read-only (collection writes them), deletable."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import Platform
from snapshots.models import Post
from socialmetrics.dates import local_today
from tests.factories import AccountFactory
from tests.posts.conftest import at, post, write

pytestmark = pytest.mark.django_db

LIST = "/admin/snapshots/post/"


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.org", "pw"))
    return client


@pytest.fixture
def posts():
    sky = AccountFactory(platform=Platform.BLUESKY, handle="city.bsky.social")
    tube = AccountFactory(platform=Platform.YOUTUBE, handle="citytv")
    day = local_today() - dt.timedelta(days=1)
    url = "https://bsky.app/profile/did:plc:city/post/1"
    write(
        post(
            sky,
            "at://1",
            at(day),
            likes=24_724_674,
            comments=1_204,
            shares=3,
            text="Bridge reopens today",
            url=url,
        ),
        post(
            tube,
            "vid1",
            at(day, 15),
            likes=5,
            views=1_234_567,
            text="Council meeting, live",
            post_type="video",
        ),
    )
    return sky, tube


def test_the_list_shows_posts_with_readable_numbers_and_links(admin_client, posts):
    page = admin_client.get(LIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Bridge reopens today" in html
    assert "Council meeting, live" in html
    assert "24,724,674" in html  # the likes, with separators
    assert "24,725,881" in html  # the engagement
    assert "1,234,567" in html  # the views
    assert 'href="https://bsky.app/profile/did:plc:city/post/1"' in html
    assert 'rel="noopener noreferrer"' in html


def test_search_and_the_platform_filter(admin_client, posts):
    found = admin_client.get(LIST, {"q": "council"}).content.decode()
    assert "Council meeting, live" in found
    assert "Bridge reopens today" not in found
    bluesky = admin_client.get(LIST, {"account__platform__exact": "bluesky"}).content.decode()
    assert "Bridge reopens today" in bluesky
    assert "Council meeting, live" not in bluesky


def test_a_post_is_shown_read_only_and_can_be_deleted_not_added(admin_client, posts):
    stored = Post.objects.get(platform_post_id="vid1")
    page = admin_client.get(f"{LIST}{stored.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1,234,567" in html
    assert 'name="likes"' not in html  # no field to edit
    assert admin_client.get(f"{LIST}add/").status_code == 403
    admin_client.post(f"{LIST}{stored.pk}/delete/", {"post": "yes"})
    assert not Post.objects.filter(pk=stored.pk).exists()

"""The Post model and its write service: one row per (account, platform post id), written again with
new counts, never twice; unknown counts keep what is stored; texts bounded and NUL-free; the cached
post lists invalidated by every write that changes something."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from snapshots.models import Post
from snapshots.services import post_text, post_upsert_many
from socialmetrics import cache as generations
from socialmetrics.dates import local_today
from tests.factories import AccountFactory
from tests.posts.conftest import at, post, write

pytestmark = pytest.mark.django_db


@pytest.fixture
def account():
    return AccountFactory(handle="city")


def stored(account) -> dict[str, tuple]:
    return {
        p.platform_post_id: (p.likes, p.comments, p.shares, p.views, p.engagement)
        for p in Post.objects.filter(account=account)
    }


def test_a_post_is_written_once_and_its_counts_refreshed(account):
    day = local_today() - dt.timedelta(days=1)
    first = write(
        post(account, "a", at(day, 9), likes=10, comments=2, shares=1, views=500, text="Hello"),
        post(account, "b", at(day, 15), likes=3),
    )
    assert (first.written, first.account_ids) == (2, {account.pk})
    assert stored(account) == {"a": (10, 2, 1, 500, 13), "b": (3, None, None, None, 3)}
    a = Post.objects.get(account=account, platform_post_id="a")

    again = write(
        post(account, "a", at(day, 9), likes=10, comments=2, shares=1, views=500, text="Hello"),
        post(account, "b", at(day, 15), likes=3),
    )
    assert (again.written, again.account_ids) == (0, set())  # nothing changed: nothing written
    assert Post.objects.count() == 2
    assert Post.objects.get(pk=a.pk).updated_at == a.updated_at

    later = write(post(account, "a", at(day, 11), likes=25, comments=4, shares=None, views=None, text="Hi"))
    assert later.written == 1
    refreshed = Post.objects.get(pk=a.pk)
    # New counts; unknown ones keep what is stored; the publication time stays as first read.
    assert (refreshed.likes, refreshed.comments, refreshed.shares, refreshed.views) == (25, 4, 1, 500)
    assert (refreshed.engagement, refreshed.text) == (30, "Hi")
    assert refreshed.published_at == at(day, 9)
    assert refreshed.collected_at == a.collected_at
    assert refreshed.updated_at > a.updated_at


def test_a_batch_naming_a_post_twice_keeps_the_last_and_accounts_keep_their_own_ids(account):
    other = AccountFactory(handle="town")
    moment = at(local_today() - dt.timedelta(days=2))
    result = write(
        post(account, "same", moment, likes=1),
        post(account, "same", moment, likes=2),
        post(other, "same", moment, likes=7),
    )
    assert result.written == 2
    assert stored(account)["same"][0] == 2
    assert stored(other)["same"][0] == 7


def test_engagement_is_null_only_when_likes_comments_and_shares_are_all_unknown(account):
    moment = at(local_today())
    write(post(account, "views-only", moment, views=90), post(account, "one", moment, comments=4))
    assert stored(account) == {"views-only": (None, None, None, 90, None), "one": (None, 4, None, None, 4)}


def test_texts_are_one_bounded_line_without_nul_and_urls_are_web_addresses(account):
    long = "word " * 200
    write(
        post(
            account,
            "nul",
            at(local_today()),
            text="Bridge\x00 reopens\n\ttoday\x07",
            url="javascript:alert(1)",
        ),
        post(account, "long", at(local_today()), text=long, url="https://example.org/p/1"),
    )
    nul = Post.objects.get(platform_post_id="nul")
    assert (nul.text, nul.url) == ("Bridge reopens today", "")
    cut = Post.objects.get(platform_post_id="long")
    assert len(cut.text) == Post.TEXT_LENGTH
    assert cut.text.endswith("…")
    assert cut.url == "https://example.org/p/1"
    assert post_text(None) == post_text("") == ""


def test_the_database_refuses_a_second_row_for_a_post(account):
    moment = at(local_today())
    Post.objects.create(account=account, platform_post_id="x1", published_at=moment)
    with pytest.raises(IntegrityError), transaction.atomic():
        Post.objects.create(account=account, platform_post_id="x1", published_at=moment)


def test_one_statement_writes_a_batch_whatever_its_accounts():
    accounts = AccountFactory.create_batch(40)
    moment = at(local_today())
    rows = [post(a, f"p{n}", moment, likes=n) for a in accounts for n in range(5)]
    with CaptureQueriesContext(connection) as queries:
        result = post_upsert_many(rows=rows)
    assert result.written == 200
    inserts = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("INSERT INTO snapshots_post")
    ]
    assert len(inserts) == 1
    assert not [q for q in queries.captured_queries if q["sql"].startswith("SELECT")]


def test_batches_and_sqlite_statements_split_a_large_write(account, monkeypatch):
    from snapshots import services

    monkeypatch.setattr(services, "_GENERIC_POSTS_PER_STATEMENT", 3)
    moment = at(local_today())
    result = post_upsert_many(rows=[post(account, f"p{n}", moment, likes=n) for n in range(10)], batch_size=4)
    assert result.written == 10
    assert sorted(Post.objects.values_list("likes", flat=True)) == list(range(10))


def test_a_write_that_changes_posts_replaces_their_cache_generation_and_one_that_does_not_keeps_it(account):
    token = lambda: generations.generations([generations.POSTS])[generations.POSTS]  # noqa: E731
    before = token()
    write(post(account, "a", at(local_today()), likes=1))
    after = token()
    assert after != before
    write(post(account, "a", at(local_today()), likes=1))
    assert token() == after


def test_an_admin_style_save_or_delete_of_one_post_invalidates_too(account):
    token = lambda: generations.generations([generations.POSTS])[generations.POSTS]  # noqa: E731
    before = token()
    created = Post.objects.create(account=account, platform_post_id="one", published_at=at(local_today()))
    assert token() != before
    before = token()
    created.delete()
    assert token() != before
